// splitcap: wiring only (config, connections, HTTP server, signals). The logic is in the modules beside it.
import { once } from 'node:events';
import { ConfigError, loadConnections } from '@fleetcap/lib/config/connections';
import { SessionWriter } from '@fleetcap/lib/session-store/writer';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import { Redis } from 'ioredis';
import { loadSplitcapConfig } from './config.ts';
import { createHttpApp } from './http.ts';
import { Ingest } from './ingest.ts';
import { createMetrics } from './metrics.ts';
import { Scheduler } from './scheduler.ts';
import { checkSessionShape } from './session-shape-check.ts';

const log = createLogger('splitcap');

let config: ReturnType<typeof loadSplitcapConfig>;
let connections: ReturnType<typeof loadConnections>;
try {
  config = loadSplitcapConfig();
  connections = loadConnections();
} catch (err) {
  if (err instanceof ConfigError) {
    log.fatal(err.message);
    process.exit(2);
  }
  throw err;
}

const sessionShape = { maxPackets: config.FLEETCAP_SESSION_MAX_PACKETS, delayMs: config.FLEETCAP_SESSION_DELAY_MS };
for (const warning of checkSessionShape(sessionShape, config.FLEETCAP_MODEL_CARD_PATH))
  log.warn({ setting: warning.setting, modelCard: config.FLEETCAP_MODEL_CARD_PATH }, warning.message);

// Fail fast while Redis is away (no offline queue): the agent is told 503 and keeps the batch.
const redis = new Redis(connections.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
let redisError = '';
redis.on('error', (err) => {
  if (err.message !== redisError) log.warn({ err: err.message }, 'Redis connection problem');
  redisError = err.message;
});
redis.on('ready', () => {
  redisError = '';
  log.info('connected to Redis');
});

const metrics = createMetrics();
const scheduler = new Scheduler(
  {
    amqpUrl: connections.amqpUrl,
    queuePrefix: config.FLEETCAP_QUEUE_PREFIX,
    delayMs: config.FLEETCAP_SESSION_DELAY_MS,
    maxReadyDepth: config.FLEETCAP_SPLITCAP_MAX_READY_DEPTH,
  },
  log,
);
const store = new SessionWriter(redis, {
  prefix: config.FLEETCAP_REDIS_PREFIX,
  maxPacketsPerSession: config.FLEETCAP_SESSION_MAX_PACKETS,
  sessionTtlSeconds: config.FLEETCAP_SESSION_TTL_SECONDS,
  receiptTtlSeconds: config.FLEETCAP_BATCH_RECEIPT_TTL_SECONDS,
});
const ingest = new Ingest(store, scheduler, metrics);

const app = createHttpApp({
  ingest,
  metrics,
  log,
  tokens: config.FLEETCAP_SPLITCAP_TOKENS,
  maxBodyBytes: config.FLEETCAP_SPLITCAP_MAX_BODY_BYTES,
  backpressure: () =>
    redis.status !== 'ready' ? `Redis is unavailable (${redisError || redis.status})` : scheduler.backpressure(),
  health: async () => {
    const checks: Record<string, string> = {
      redis: redis.status === 'ready' ? 'ok' : `down: ${redisError || redis.status}`,
      rabbitmq: scheduler.connected ? 'ok' : `down: ${scheduler.lastError || 'connecting'}`,
    };
    return { ok: Object.values(checks).every((c) => c === 'ok'), checks };
  },
});

await scheduler
  .start()
  .catch((err: Error) => log.warn({ err: err.message }, 'RabbitMQ not reachable yet; retrying in the background'));
const server = app.listen(config.FLEETCAP_SPLITCAP_PORT, config.FLEETCAP_SPLITCAP_HOST);
await once(server, 'listening');
const address = server.address();
const port = typeof address === 'object' && address ? address.port : config.FLEETCAP_SPLITCAP_PORT;
log.info(
  { host: config.FLEETCAP_SPLITCAP_HOST, port, agents: config.FLEETCAP_SPLITCAP_TOKENS.size },
  'splitcap listening',
);
process.send?.({ type: 'listening', port });

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down: finishing requests in flight');
  const timer = setTimeout(() => {
    log.error('requests did not finish within 10 s; exiting');
    process.exit(1);
  }, 10_000);
  timer.unref();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await scheduler.close();
  redis.disconnect();
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
