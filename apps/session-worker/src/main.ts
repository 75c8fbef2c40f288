// session-worker: wiring only (config, connections, telemetry, signals). The logic is in the modules beside it.

import { ConfigError, loadConnections } from '@fleetcap/lib/config/connections';
import { loadAccounts } from '@fleetcap/lib/db/accounts';
import { SessionFinisher } from '@fleetcap/lib/session-store/finisher';
import { startTelemetryServer } from '@fleetcap/lib/telemetry/http';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import { loadWorkerConfig } from './config.ts';
import { ForecastClient } from './forecast-client.ts';
import { createWorkerMetrics } from './metrics.ts';
import { BatchProcessor } from './processor.ts';
import { QueueConsumer } from './queue-consumer.ts';

const log = createLogger('session-worker');
let config: ReturnType<typeof loadWorkerConfig>;
let connections: ReturnType<typeof loadConnections>;
let account: ReturnType<typeof loadAccounts>['worker'];
try {
  config = loadWorkerConfig();
  connections = loadConnections();
  account = loadAccounts().worker;
} catch (err) {
  log.fatal((err as Error).message);
  process.exit(err instanceof ConfigError ? 2 : 1);
}

let stopping = false;
const redis = new Redis(connections.redisUrl, { maxRetriesPerRequest: 2 });
redis.on('error', (err) => log.warn({ err: err.message }, 'Redis connection problem'));
const pool = mysql.createPool({
  ...connections.mysql,
  user: account.user,
  password: account.password,
  connectionLimit: 4,
  timezone: 'Z',
});
const metrics = createWorkerMetrics();
const processor = new BatchProcessor({
  redis,
  prefix: config.FLEETCAP_REDIS_PREFIX,
  pool,
  forecast: new ForecastClient(config.FLEETCAP_FORECAST_URL, config.FLEETCAP_FORECAST_TIMEOUT_MS),
  finisher: new SessionFinisher(redis, config.FLEETCAP_REDIS_PREFIX, config.FLEETCAP_DONE_TTL_SECONDS),
  metrics,
  log,
  isStopping: () => stopping,
});
const consumer = new QueueConsumer(
  {
    amqpUrl: connections.amqpUrl,
    queuePrefix: config.FLEETCAP_QUEUE_PREFIX,
    prefetch: config.FLEETCAP_WORKER_PREFETCH,
    batchSize: config.FLEETCAP_WORKER_BATCH_SIZE,
    batchMs: config.FLEETCAP_WORKER_BATCH_MS,
    concurrentBatches: config.FLEETCAP_WORKER_CONCURRENT_BATCHES,
  },
  processor,
  log,
);

const telemetry = await startTelemetryServer({
  registry: metrics.registry,
  port: config.FLEETCAP_WORKER_PORT === 0 ? -1 : config.FLEETCAP_WORKER_PORT,
  host: config.FLEETCAP_WORKER_HOST,
  health: () => {
    const checks = {
      redis: redis.status === 'ready' ? 'ok' : `down: ${redis.status}`,
      rabbitmq: consumer.connected ? 'ok' : `down: ${consumer.lastError || 'connecting'}`,
    };
    return { ok: Object.values(checks).every((c) => c === 'ok'), checks };
  },
});
await consumer.start();
log.info({ forecast: config.FLEETCAP_FORECAST_URL, metricsPort: telemetry?.port }, 'session-worker started');
process.send?.({ type: 'listening', port: telemetry?.port ?? 0 });

async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down: finishing the batch in hand');
  await consumer.stop(10_000);
  await telemetry?.close();
  await pool.end().catch(() => {});
  redis.disconnect();
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
