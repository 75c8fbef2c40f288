// splitcap: wiring only (config, connections, modules, runtime). The logic is in the modules beside it.
import { loadConnections } from '@fleetcap/lib/config/connections';
import { check } from '@fleetcap/lib/runtime/health';
import { startHttpServer } from '@fleetcap/lib/runtime/http-server';
import { signalReady } from '@fleetcap/lib/runtime/ready';
import { onShutdown } from '@fleetcap/lib/runtime/shutdown';
import { loadEnvOrExit } from '@fleetcap/lib/runtime/startup';
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
const { config, connections } = loadEnvOrExit(log, 'splitcap', {
  config: loadSplitcapConfig,
  connections: loadConnections,
});
const shutdown = onShutdown({ log, doing: 'finishing requests in flight', deadlineMs: 10_000 });

const sessionShape = { maxPackets: config.FLEETCAP_SESSION_MAX_PACKETS, delayMs: config.FLEETCAP_SESSION_DELAY_MS };
for (const warning of checkSessionShape(sessionShape, config.FLEETCAP_MODEL_CARD_PATH))
  log.warn(
    { code: 'splitcap.session-shape', setting: warning.setting, modelCard: config.FLEETCAP_MODEL_CARD_PATH },
    warning.message,
  );

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
const ingest = new Ingest(store, scheduler, metrics, {
  communityIdSeed: config.FLEETCAP_COMMUNITY_ID_SEED,
  storedFrameBytes: config.FLEETCAP_STORED_FRAME_BYTES,
});

const api = createHttpApp({
  ingest,
  metrics,
  log,
  tokens: config.FLEETCAP_SPLITCAP_TOKENS,
  maxBodyBytes: config.FLEETCAP_SPLITCAP_MAX_BODY_BYTES,
  backpressure: () =>
    redis.status !== 'ready' ? `Redis is unavailable (${redisError || redis.status})` : scheduler.backpressure(),
});

// Serves even while RabbitMQ is away (uploads get 503 meanwhile); the scheduler keeps trying in the background.
await scheduler.start();
const server = await startHttpServer({
  port: config.FLEETCAP_SPLITCAP_PORT,
  host: config.FLEETCAP_SPLITCAP_HOST,
  registry: metrics.registry,
  api,
  health: () => ({
    redis: check(redis.status === 'ready', redisError || redis.status),
    rabbitmq: scheduler.health(),
  }),
});
shutdown
  .add('requests in flight', () => server.close())
  .add('RabbitMQ', () => scheduler.close())
  .add('Redis', () => redis.disconnect());
signalReady(log, 'splitcap', server.port, {
  host: config.FLEETCAP_SPLITCAP_HOST,
  agents: config.FLEETCAP_SPLITCAP_TOKENS.size,
});
