// config-sync: wiring only (config, connections, HTTP server, signals). The logic is in the modules beside it.
import { once } from 'node:events';
import { AgentPaths } from '@fleetcap/lib/agent/paths';
import { snifferConfigTopic } from '@fleetcap/lib/cdc/debezium-connector';
import { ConfigError, loadConnections } from '@fleetcap/lib/config/connections';
import { loadAccounts } from '@fleetcap/lib/db/accounts';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import { ZkClient } from '@fleetcap/lib/zookeeper/client';
import { Kafka, logLevel } from 'kafkajs';
import mysql from 'mysql2/promise';
import { MysqlStatusStore } from './agent-status.ts';
import { loadConfigSyncConfig } from './config.ts';
import { createHttpServer } from './http.ts';
import { createMetrics } from './metrics.ts';
import { MysqlRowSource, reconcile } from './reconcile.ts';
import { StatusMirror } from './status-mirror.ts';
import { SyncConsumer } from './sync-consumer.ts';
import { ZkMirror } from './zk-mirror.ts';

// The shared logger: level words, app name and pid in every line, as the other apps log.
const log = createLogger('config-sync');

let config: ReturnType<typeof loadConfigSyncConfig>;
let connections: ReturnType<typeof loadConnections>;
let accounts: ReturnType<typeof loadAccounts>;
try {
  config = loadConfigSyncConfig();
  connections = loadConnections();
  accounts = loadAccounts();
} catch (err) {
  if (err instanceof ConfigError) {
    log.fatal(err.message);
    process.exit(2);
  }
  throw err;
}

const metrics = createMetrics();
const paths = new AgentPaths(config.FLEETCAP_ZK_ROOT);
const zk = new ZkClient({ connect: connections.zookeeper, log });
const pool = mysql.createPool({
  ...connections.mysql,
  user: accounts.configsync.user,
  password: accounts.configsync.password,
  connectionLimit: 4,
  connectTimeout: 5000,
});
const statusStore = new MysqlStatusStore(pool);
const rowSource = new MysqlRowSource(pool);
const mirror = new ZkMirror(zk, paths, statusStore);
const statusMirror = new StatusMirror(
  zk,
  paths,
  statusStore,
  log,
  {
    statusWrite: (kind) => metrics.statusWrites.inc({ kind }),
    statusError: () => metrics.statusErrors.inc(),
  },
  config.FLEETCAP_CONFIG_SYNC_STATUS_RESYNC_MS,
);

// Reconcile runs are coalesced: a request while one runs makes exactly one more run afterwards.
let reconciling: Promise<void> | null = null;
let reconcileAgain = false;
function requestReconcile(why: string): void {
  if (!config.FLEETCAP_CONFIG_SYNC_RECONCILE) return;
  if (reconciling) {
    reconcileAgain = true;
    return;
  }
  reconciling = (async () => {
    do {
      reconcileAgain = false;
      const t0 = Date.now();
      try {
        const report = await reconcile(mirror, rowSource);
        metrics.reconciles.inc({ result: 'ok' });
        for (const [outcome, n] of Object.entries(report))
          if (outcome !== 'rows' && n > 0) metrics.reconciled.inc({ outcome }, n);
        log.info({ why, ms: Date.now() - t0, ...report }, 'reconciled ZooKeeper with sniffer_config');
      } catch (err) {
        metrics.reconciles.inc({ result: 'failed' });
        log.warn({ why, err: (err as Error).message }, 'reconcile failed; retrying in 5 s');
        await new Promise((r) => setTimeout(r, 5000));
        reconcileAgain = !stopping;
      }
    } while (reconcileAgain && !stopping);
    reconciling = null;
  })();
}

const kafka = new Kafka({
  clientId: 'fleetcap-config-sync',
  brokers: connections.kafkaBrokers,
  logLevel: logLevel.WARN,
  logCreator:
    () =>
    ({ namespace, level, log: entry }) => {
      const { message, ...rest } = entry;
      const method = level === logLevel.ERROR ? 'error' : level === logLevel.WARN ? 'warn' : 'debug';
      log[method]({ kafka: namespace, ...rest }, message);
    },
});
const syncConsumer = new SyncConsumer(
  kafka.consumer({
    groupId: config.FLEETCAP_CONFIG_SYNC_GROUP,
    maxWaitTimeInMs: 1000,
    sessionTimeout: config.FLEETCAP_CONFIG_SYNC_SESSION_TIMEOUT_MS,
    heartbeatInterval: Math.min(3000, Math.floor(config.FLEETCAP_CONFIG_SYNC_SESSION_TIMEOUT_MS / 3)),
  }),
  mirror,
  metrics,
  log,
  {
    topic: config.FLEETCAP_CONFIG_SYNC_TOPIC ?? snifferConfigTopic(connections.mysql.database),
    fromBeginning: config.FLEETCAP_CONFIG_SYNC_FROM_BEGINNING,
    table: 'sniffer_config',
    database: connections.mysql.database,
    onPositioned: () => requestReconcile('consumer group (re)joined'),
    commitEvery: 20,
    onFatal: () => {
      // Nothing uncommitted is lost: exit and let the supervisor start a fresh consumer.
      log.fatal('the Kafka consumer stopped for good; exiting so that a fresh process takes over');
      process.exit(1);
    },
  },
);

const server = createHttpServer(metrics.registry, async () => {
  const mysqlCheck = await pool
    .query('SELECT 1')
    .then(() => 'ok')
    .catch((err: Error) => `down: ${err.message}`);
  const checks = {
    kafka: syncConsumer.health(),
    zookeeper: zk.connected ? 'ok' : 'down: no ZooKeeper connection',
    mysql: mysqlCheck,
  };
  return { ok: Object.values(checks).every((c) => c === 'ok'), checks };
});
server.listen(config.FLEETCAP_CONFIG_SYNC_PORT, config.FLEETCAP_CONFIG_SYNC_HOST);
await once(server, 'listening');
const address = server.address();
const port = typeof address === 'object' && address ? address.port : config.FLEETCAP_CONFIG_SYNC_PORT;

let stopping = false;
try {
  await zk.start(30_000);
  await statusMirror.start();
  requestReconcile('startup');
  await syncConsumer.start();
  // Ready once the consumer reads from its start offsets: from then on, no edit of the table is missed.
  await Promise.race([syncConsumer.ready, new Promise((r) => setTimeout(r, 20_000))]);
} catch (err) {
  log.fatal({ err: (err as Error).message }, 'config-sync could not start');
  process.exit(1);
}
log.info(
  { host: config.FLEETCAP_CONFIG_SYNC_HOST, port, group: config.FLEETCAP_CONFIG_SYNC_GROUP, zkRoot: paths.root },
  'config-sync running',
);
process.send?.({ type: 'listening', port });

async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down: finishing the event in hand');
  const timer = setTimeout(() => {
    log.error('did not stop within 15 s; exiting');
    process.exit(1);
  }, 15_000);
  timer.unref();
  await syncConsumer.stop().catch((err: Error) => log.warn({ err: err.message }, 'Kafka disconnect failed'));
  statusMirror.stop();
  await reconciling?.catch(() => undefined);
  await zk.close();
  await pool.end().catch(() => undefined);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
