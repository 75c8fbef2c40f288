// splitcap: wiring only (config, connections, modules, runtime). The logic is in the modules beside it.
import { readFileSync } from 'node:fs';
import { CredentialTable } from '@fleetcap/lib/auth/credential-table';
import { loadConnections } from '@fleetcap/lib/config/connections';
import { loadAccount } from '@fleetcap/lib/db/accounts';
import { connectRedis } from '@fleetcap/lib/redis/connect';
import { check } from '@fleetcap/lib/runtime/health';
import { startHttpServer } from '@fleetcap/lib/runtime/http-server';
import { signalReady } from '@fleetcap/lib/runtime/ready';
import { onShutdown } from '@fleetcap/lib/runtime/shutdown';
import { loadEnvOrExit } from '@fleetcap/lib/runtime/startup';
import { RecordStore } from '@fleetcap/lib/session-store/record-store';
import { SessionWriter } from '@fleetcap/lib/session-store/writer';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import mysql from 'mysql2/promise';
import { AgentAuth, type CredentialRow, credentialColumns } from './agent-auth.ts';
import { loadSplitcapConfig } from './config.ts';
import { ConnectionRecorder } from './connection-recorder.ts';
import { DropCopier } from './drop-counts.ts';
import { createHttpApp } from './http.ts';
import { Ingest } from './ingest.ts';
import { createMetrics } from './metrics.ts';
import { RedisMemoryGuard } from './redis-memory-guard.ts';
import { Scheduler } from './scheduler.ts';
import { checkSessionShape } from './session-shape-check.ts';
import { concurrentUploadsGate, createLimitMetrics } from './upload-limits.ts';

const log = createLogger('splitcap');
const { config, connections, accounts } = loadEnvOrExit(log, 'splitcap', {
  config: loadSplitcapConfig,
  connections: (env) => loadConnections(env, 'splitcap'),
  accounts: (env) => ({ splitcap: loadAccount(env, 'splitcap') }),
});
const shutdown = onShutdown({ log, doing: 'finishing requests in flight', deadlineMs: 10_000 });

const sessionShape = { maxPackets: config.FLEETCAP_SESSION_MAX_PACKETS, delayMs: config.FLEETCAP_SESSION_DELAY_MS };
for (const warning of checkSessionShape(sessionShape, config.FLEETCAP_MODEL_CARD_PATH))
  log.warn(
    { code: 'splitcap.session-shape', setting: warning.setting, modelCard: config.FLEETCAP_MODEL_CARD_PATH },
    warning.message,
  );

// Fail fast while Redis is away (no offline queue): the agent is told 503 and keeps the batch.
const redis = connectRedis(connections.redisUrl, connections.redisClusterNodes, {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
});
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

// Who may upload: agent_credential (polled), and FLEETCAP_SPLITCAP_TOKENS for development (agent-auth.ts).
const useTable = config.FLEETCAP_SPLITCAP_CREDENTIALS === 'table';
const auth = new AgentAuth(config.FLEETCAP_SPLITCAP_TOKENS ?? new Map(), useTable);
// MariaDB: agent_credential (with the table) and packet_drop (always: drop-counts.ts).
const pool = mysql.createPool({
  ...connections.mysql,
  user: accounts.splitcap.user,
  password: accounts.splitcap.password,
  connectionLimit: 2,
  connectTimeout: 5000,
});
const credentialPool = useTable ? pool : null;
const credentials = credentialPool
  ? new CredentialTable<CredentialRow>({
      pool: credentialPool,
      columns: credentialColumns,
      pollMs: config.FLEETCAP_SPLITCAP_CREDENTIAL_POLL_MS,
      onRows: (rows) => {
        auth.setRows(rows);
        metrics.credentialAgents.set(auth.validAgents());
        log.info({ rows: rows.length, agents: auth.validAgents() }, 'agent credentials loaded');
      },
      onError: (err) =>
        log.warn(
          { code: 'splitcap.credentials-unavailable', err: err.message },
          'cannot read agent_credential; the credentials read last stay in force',
        ),
    })
  : null;
setInterval(() => {
  metrics.credentialLoadAge.set(credentials?.loaded ? (Date.now() - credentials.loadedAt) / 1000 : 0);
  metrics.credentialAgents.set(auth.validAgents());
  metrics.dropCopyAge.set(dropCopier.copiedAt ? (Date.now() - dropCopier.copiedAt) / 1000 : 0);
}, 1000).unref();
const dropCopier = new DropCopier({
  redis,
  pool,
  prefix: config.FLEETCAP_REDIS_PREFIX,
  intervalMs: config.FLEETCAP_SPLITCAP_DROP_COPY_MS,
  log,
});
const tls = config.FLEETCAP_SPLITCAP_TLS_CERT
  ? {
      cert: readFileSync(config.FLEETCAP_SPLITCAP_TLS_CERT),
      key: readFileSync(config.FLEETCAP_SPLITCAP_TLS_KEY as string),
    }
  : undefined;
if (!tls)
  log.warn(
    { code: 'splitcap.plaintext', policy: config.FLEETCAP_SPLITCAP_PLAINTEXT },
    'serving plain HTTP (FLEETCAP_SPLITCAP_PLAINTEXT): tokens and packets travel in clear; for development only',
  );
let lastTlsLog = 0;
const scheduler = new Scheduler(
  {
    amqpUrls: connections.amqpUrls,
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
  waitReplicas: config.FLEETCAP_REDIS_WAIT_REPLICAS,
  waitTimeoutMs: config.FLEETCAP_REDIS_WAIT_TIMEOUT_MS,
});
const recorder = new ConnectionRecorder(
  new RecordStore(redis, config.FLEETCAP_REDIS_PREFIX),
  { ttlSeconds: config.FLEETCAP_SESSION_TTL_SECONDS },
  metrics,
  log,
);
const ingest = new Ingest(store, scheduler, metrics, {
  communityIdSeed: config.FLEETCAP_COMMUNITY_ID_SEED,
  storedFrameBytes: config.FLEETCAP_STORED_FRAME_BYTES,
  recorder,
  maxSessionsPerBatch: config.FLEETCAP_SPLITCAP_MAX_SESSIONS_PER_BATCH,
  maxPacketsPerSession: config.FLEETCAP_SESSION_MAX_PACKETS,
  drops: { redis, prefix: config.FLEETCAP_REDIS_PREFIX },
});
const limitMetrics = createLimitMetrics(metrics.registry);
const redisMemory = new RedisMemoryGuard(
  redis,
  {
    highWater: config.FLEETCAP_SPLITCAP_REDIS_MEMORY_HIGH_WATER,
    fallbackLimitBytes: config.FLEETCAP_SPLITCAP_REDIS_MEMORY_LIMIT_BYTES,
    intervalMs: config.FLEETCAP_SPLITCAP_REDIS_MEMORY_CHECK_MS,
  },
  limitMetrics,
  log,
);
redis.on('ready', () => void redisMemory.check().catch(() => {}));

const api = createHttpApp({
  ingest,
  metrics,
  log,
  auth,
  maxBodyBytes: config.FLEETCAP_SPLITCAP_MAX_BODY_BYTES,
  backpressure: () =>
    redis.status !== 'ready'
      ? `Redis is unavailable (${redisError || redis.status})`
      : (scheduler.backpressure() ?? redisMemory.backpressure()),
  uploadGate: concurrentUploadsGate(config.FLEETCAP_SPLITCAP_MAX_CONCURRENT_UPLOADS, limitMetrics, log),
  limitMetrics,
});
redisMemory.start();
dropCopier.start();

// Serves even while RabbitMQ is away (uploads get 503 meanwhile); the scheduler keeps trying in the background.
await scheduler.start();
// Serves even while MariaDB is away: the static tokens work, enrolled agents are told 503 until the table is read.
await credentials?.start().catch(() => undefined);
const server = await startHttpServer({
  port: config.FLEETCAP_SPLITCAP_PORT,
  host: config.FLEETCAP_SPLITCAP_HOST,
  registry: metrics.registry,
  api,
  tls,
  onTlsRefused: (reason, err, remote) => {
    metrics.tlsRefusals.inc({ reason });
    if (Date.now() - lastTlsLog < 10_000) return;
    lastTlsLog = Date.now();
    if (reason === 'plaintext')
      log.warn(
        { code: 'splitcap.tls.plaintext', remote, err: err.message },
        'refused a plain HTTP request on the HTTPS port: the sender must use https:// and the CA of this certificate',
      );
    else
      log.warn(
        { code: 'splitcap.tls.handshake', remote, err: err.message },
        'a TLS handshake failed (a client that does not trust this certificate, or no TLS at all)',
      );
  },
  health: () => ({
    redis: check(redis.status === 'ready', redisError || redis.status),
    rabbitmq: scheduler.health(),
    ...(credentials
      ? {
          credentials: check(
            credentials.loaded && credentials.error === null,
            credentials.error ?? 'agent_credential not read yet',
          ),
        }
      : {}),
  }),
});
shutdown
  .add('requests in flight', () => server.close())
  .add('Redis memory checks', () => redisMemory.stop())
  .add('RabbitMQ', () => scheduler.close())
  .add('dropped-packet counts', () => dropCopier.stop())
  .add('Redis', () => redis.disconnect())
  .add('agent credentials', async () => {
    await credentials?.stop();
    await pool.end().catch(() => undefined);
  });
signalReady(log, 'splitcap', server.port, {
  host: config.FLEETCAP_SPLITCAP_HOST,
  tls: tls !== undefined,
  agents: auth.validAgents(),
});
