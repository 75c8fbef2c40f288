// detector: wiring only (config, connections, modules, runtime). The logic is in the modules beside it.
import { loadConnections } from '@fleetcap/lib/config/connections';
import { loadAccount } from '@fleetcap/lib/db/accounts';
import { DETECTORS } from '@fleetcap/lib/detectors/config';
import { connectRedis } from '@fleetcap/lib/redis/connect';
import { check } from '@fleetcap/lib/runtime/health';
import { startHttpServer } from '@fleetcap/lib/runtime/http-server';
import { signalReady } from '@fleetcap/lib/runtime/ready';
import { onShutdown } from '@fleetcap/lib/runtime/shutdown';
import { loadEnvOrExit } from '@fleetcap/lib/runtime/startup';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import mysql from 'mysql2/promise';
import { loadDetectorConfig } from './config.ts';
import { DetectorConfigSource } from './config-source.ts';
import { EvidenceAlerts } from './evidence-alerts.ts';
import { createDetectorMetrics } from './metrics.ts';
import { DetectorProcessor } from './processor.ts';
import { RedisDetector } from './redis-detector.ts';
import { VerdictConsumer } from './verdict-consumer.ts';

const log = createLogger('detector');
const { config, connections, account } = loadEnvOrExit(log, 'detector', {
  config: loadDetectorConfig,
  connections: (env) => loadConnections(env, 'detector'),
  account: (env) => loadAccount(env, 'detector'),
});
const shutdown = onShutdown({ log, doing: 'finishing the batch in hand', deadlineMs: 15_000 });

const redis = connectRedis(connections.redisUrl, connections.redisClusterNodes, { maxRetriesPerRequest: 2 });
redis.on('error', (err) => log.warn({ err: err.message }, 'Redis connection problem'));
const pool = mysql.createPool({
  ...connections.mysql,
  user: account.user,
  password: account.password,
  connectionLimit: 2,
  timezone: 'Z',
});
const metrics = createDetectorMetrics();
const settings = new DetectorConfigSource(pool, log, {
  onRefused: () => metrics.configRefused.inc(),
  onUnreadable: () => metrics.configUnreadable.inc(),
  onLoaded: () => {
    for (const d of DETECTORS) metrics.threshold.set({ detector: d }, settings.config[d].threshold);
  },
});
await settings.refresh();
settings.start(config.FLEETCAP_DETECTOR_CONFIG_REFRESH_MS);
const processor = new DetectorProcessor({
  detector: new RedisDetector(redis, config.FLEETCAP_REDIS_PREFIX),
  pool,
  config: () => settings.config,
  metrics,
  log,
  isStopping: () => shutdown.stopping,
  evidenceAlerts: new EvidenceAlerts(redis, config.FLEETCAP_REDIS_PREFIX, pool, metrics),
});
const consumer = new VerdictConsumer(
  {
    amqpUrls: connections.amqpUrls,
    queuePrefix: config.FLEETCAP_QUEUE_PREFIX,
    prefetch: config.FLEETCAP_DETECTOR_PREFETCH,
    batchSize: config.FLEETCAP_DETECTOR_BATCH_SIZE,
    batchMs: config.FLEETCAP_DETECTOR_BATCH_MS,
  },
  processor,
  log,
);

const telemetry = await startHttpServer({
  port: config.FLEETCAP_DETECTOR_PORT,
  host: config.FLEETCAP_DETECTOR_HOST,
  registry: metrics.registry,
  health: () => ({
    redis: check(redis.status === 'ready', redis.status),
    rabbitmq: consumer.health(),
    detectorConfig: check(settings.lastError === '', settings.lastError || 'read'),
  }),
});
await consumer.start();
shutdown
  .add('the batch in hand', () => consumer.stop(10_000))
  .add('config refresh', () => settings.stop())
  .add('HTTP server', () => telemetry?.close())
  .add('MariaDB pool', () => pool.end().catch(() => {}))
  .add('Redis', () => redis.disconnect());
signalReady(log, 'detector', telemetry?.port ?? null, {});
