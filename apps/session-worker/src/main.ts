// session-worker: wiring only (config, connections, modules, runtime). The logic is in the modules beside it.

import { readSecretFile } from '@fleetcap/lib/auth/agent-credential';
import { loadConnections } from '@fleetcap/lib/config/connections';
import { loadAccount } from '@fleetcap/lib/db/accounts';
import { connectRedis } from '@fleetcap/lib/redis/connect';
import { check } from '@fleetcap/lib/runtime/health';
import { startHttpServer } from '@fleetcap/lib/runtime/http-server';
import { signalReady } from '@fleetcap/lib/runtime/ready';
import { onShutdown } from '@fleetcap/lib/runtime/shutdown';
import { loadEnvOrExit } from '@fleetcap/lib/runtime/startup';
import { SessionFinisher } from '@fleetcap/lib/session-store/finisher';
import { RecordStore } from '@fleetcap/lib/session-store/record-store';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import mysql from 'mysql2/promise';
import { loadWorkerConfig } from './config.ts';
import { DetectionBackingLookup } from './detection-backing.ts';
import { ForecastClient } from './forecast-client.ts';
import { createWorkerMetrics } from './metrics.ts';
import { BatchProcessor } from './processor.ts';
import { QueueConsumer } from './queue-consumer.ts';
import { RecordSweeper } from './record-sweeper.ts';
import { PartitionRetention } from './retention.ts';
import { VerdictPublisher } from './verdict-publisher.ts';

const log = createLogger('session-worker');
const { config, connections, account } = loadEnvOrExit(log, 'session-worker', {
  config: loadWorkerConfig,
  connections: (env) => loadConnections(env, 'session-worker'),
  account: (env) => loadAccount(env, 'worker'),
});
const shutdown = onShutdown({ log, doing: 'finishing the batch in hand', deadlineMs: 15_000 });

const redis = connectRedis(connections.redisUrl, connections.redisClusterNodes, { maxRetriesPerRequest: 2 });
redis.on('error', (err) => log.warn({ err: err.message }, 'Redis connection problem'));
const pool = mysql.createPool({
  ...connections.mysql,
  user: account.user,
  password: account.password,
  connectionLimit: 4,
  timezone: 'Z',
});
const metrics = createWorkerMetrics();
const sweeper = new RecordSweeper(
  {
    amqpUrls: connections.amqpUrls,
    queuePrefix: config.FLEETCAP_QUEUE_PREFIX,
    sweepMs: config.FLEETCAP_RECORD_SWEEP_MS,
    doneTtlSeconds: config.FLEETCAP_DONE_TTL_SECONDS,
    timeouts: {
      tcpUs: config.FLEETCAP_TCP_INACTIVITY_TIMEOUT_S * 1_000_000,
      udpUs: config.FLEETCAP_UDP_INACTIVITY_TIMEOUT_S * 1_000_000,
      otherUs: config.FLEETCAP_UDP_INACTIVITY_TIMEOUT_S * 1_000_000,
    },
    batchSize: config.FLEETCAP_WORKER_BATCH_SIZE,
    batchMs: config.FLEETCAP_WORKER_BATCH_MS,
  },
  {
    store: new RecordStore(redis, config.FLEETCAP_REDIS_PREFIX),
    pool,
    metrics,
    log,
    isStopping: () => shutdown.stopping,
  },
);
const verdictPublisher = new VerdictPublisher({
  amqpUrls: connections.amqpUrls,
  queuePrefix: config.FLEETCAP_QUEUE_PREFIX,
  log,
});
const processor = new BatchProcessor({
  redis,
  prefix: config.FLEETCAP_REDIS_PREFIX,
  pool,
  forecast: new ForecastClient(
    config.FLEETCAP_FORECAST_URL,
    config.FLEETCAP_FORECAST_TIMEOUT_MS,
    (packets) => metrics.packetsWithoutPayload.inc(packets),
    config.FLEETCAP_FORECAST_TOKEN_FILE === undefined
      ? undefined
      : readSecretFile(config.FLEETCAP_FORECAST_TOKEN_FILE, 'FLEETCAP_FORECAST_TOKEN_FILE'),
  ),
  finisher: new SessionFinisher(redis, config.FLEETCAP_REDIS_PREFIX, config.FLEETCAP_DONE_TTL_SECONDS),
  metrics,
  log,
  isStopping: () => shutdown.stopping,
  afterFinish: (sessions) => sweeper.arm(sessions),
  verdictPublisher,
  detectionBacking: new DetectionBackingLookup(redis, config.FLEETCAP_REDIS_PREFIX, metrics, log),
});
const consumer = new QueueConsumer(
  {
    amqpUrls: connections.amqpUrls,
    queuePrefix: config.FLEETCAP_QUEUE_PREFIX,
    prefetch: config.FLEETCAP_WORKER_PREFETCH,
    batchSize: config.FLEETCAP_WORKER_BATCH_SIZE,
    batchMs: config.FLEETCAP_WORKER_BATCH_MS,
    concurrentBatches: config.FLEETCAP_WORKER_CONCURRENT_BATCHES,
  },
  processor,
  log,
);

const telemetry = await startHttpServer({
  port: config.FLEETCAP_WORKER_PORT,
  host: config.FLEETCAP_WORKER_HOST,
  registry: metrics.registry,
  health: () => ({
    redis: check(redis.status === 'ready', redis.status),
    rabbitmq: consumer.health(),
    sweeper: sweeper.health(),
    verdictEvents: verdictPublisher.health(),
  }),
});
await sweeper.start();
await verdictPublisher.start();
await consumer.start();
const retention = new PartitionRetention(pool, log, metrics, { intervalMs: config.FLEETCAP_RETENTION_INTERVAL_MS });
retention.start();
shutdown
  .add('the batch in hand', () => consumer.stop(10_000))
  .add('the retention run in hand', () => retention.stop())
  .add('the looks in hand', () => sweeper.stop(3_000))
  .add('verdict events', () => verdictPublisher.close())
  .add('HTTP server', () => telemetry?.close())
  .add('MariaDB pool', () => pool.end().catch(() => {}))
  .add('Redis', () => redis.disconnect());
signalReady(log, 'session-worker', telemetry?.port ?? null, { forecast: config.FLEETCAP_FORECAST_URL });
