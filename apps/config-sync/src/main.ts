// config-sync: wiring only (config, connections, modules, runtime). The logic is in the modules beside it.
import { AgentPaths } from '@fleetcap/lib/agent/paths';
import { CredentialTable } from '@fleetcap/lib/auth/credential-table';
import { snifferConfigTopic } from '@fleetcap/lib/cdc/debezium-connector';
import { loadConnections } from '@fleetcap/lib/config/connections';
import { loadAccount } from '@fleetcap/lib/db/accounts';
import { check } from '@fleetcap/lib/runtime/health';
import { startHttpServer } from '@fleetcap/lib/runtime/http-server';
import { signalReady } from '@fleetcap/lib/runtime/ready';
import { onShutdown } from '@fleetcap/lib/runtime/shutdown';
import { loadEnvOrExit } from '@fleetcap/lib/runtime/startup';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import { digestId } from '@fleetcap/lib/zookeeper/acl';
import { ZkClient } from '@fleetcap/lib/zookeeper/client';
import { Kafka, logLevel } from 'kafkajs';
import mysql from 'mysql2/promise';
import { MysqlStatusStore } from './agent-status.ts';
import { loadConfigSyncConfig, zkAclSettings } from './config.ts';
import { createMetrics } from './metrics.ts';
import { type AheadRepair, MysqlRowSource, reconcile, TableCheckedMirror } from './reconcile.ts';
import { StatusMirror } from './status-mirror.ts';
import { SyncConsumer } from './sync-consumer.ts';
import { AclSync, type AgentDigestRow, agentDigestColumns, CONFIGSYNC_ZK_USER, ZkAclPolicy } from './zk-acl.ts';

// The shared logger: level words, app name and pid in every line, as the other apps log.
const log = createLogger('config-sync');

const { config, connections, accounts } = loadEnvOrExit(log, 'config-sync', {
  config: loadConfigSyncConfig,
  connections: (env) => loadConnections(env, 'config-sync'),
  accounts: (env) => ({ configsync: loadAccount(env, 'configsync') }),
});
const shutdown = onShutdown({ log, doing: 'finishing the event in hand', deadlineMs: 15_000 });

const metrics = createMetrics();
const paths = new AgentPaths(config.FLEETCAP_ZK_ROOT);
const aclSettings = zkAclSettings(config);
const aclPolicy =
  aclSettings.mode === 'digest' && aclSettings.password
    ? new ZkAclPolicy(digestId(CONFIGSYNC_ZK_USER, aclSettings.password))
    : undefined;
const zk = new ZkClient({
  connect: connections.zookeeper,
  log,
  // Twice the session: a client still without a connection then is stuck, not waiting out a server restart.
  reopenAfterMs: 30_000,
  ...(aclSettings.password
    ? {
        // During a rotation the old password too: its nodes are still administered by it (zk-acl.ts sets the new).
        auth: [aclSettings.password, aclSettings.previousPassword]
          .filter((p) => p !== undefined)
          .map((p) => ({ scheme: 'digest', credentials: `${CONFIGSYNC_ZK_USER}:${p}` })),
        ...(aclPolicy ? { acl: aclPolicy.root() } : {}),
      }
    : {}),
});
if (!aclPolicy)
  log.warn(
    { code: 'config-sync.zk-acl-open', zkRoot: paths.root },
    'ZooKeeper ACLs are open: any client can rewrite the agents’ configs; give config-sync FLEETCAP_ZK_CONFIGSYNC_PASSWORD_FILE',
  );
const pool = mysql.createPool({
  ...connections.mysql,
  user: accounts.configsync.user,
  password: accounts.configsync.password,
  connectionLimit: 4,
  connectTimeout: 5000,
});
const statusStore = new MysqlStatusStore(pool);
const rowSource = new MysqlRowSource(pool);
const onAhead = (r: AheadRepair) => {
  metrics.repaired.inc({ why: 'revision-ahead' });
  log.warn(
    { code: 'config-sync.node-ahead-of-table', agent: r.agentId, held: r.held, table: r.table, outcome: r.outcome },
    `the config node of ${r.agentId} held revision ${r.held}, ahead of the table (${r.table ?? 'no row'}): not trusted, written again from the table`,
  );
};
const mirror = new TableCheckedMirror(zk, paths, statusStore, aclPolicy, rowSource, onAhead);
const aclSync = aclPolicy
  ? new AclSync(zk, paths, aclPolicy, { updated: (node) => metrics.aclUpdates.inc({ node }) })
  : undefined;
let aclPass: Promise<void> = Promise.resolve();
let aclError = '';
const applyAcls = (all: boolean) => {
  if (!aclSync || !aclPolicy || !zk.connected) return aclPass;
  aclPass = aclPass
    .then(() => (all ? aclSync.applyAll() : aclSync.apply(aclPolicy.changedAgents())))
    .then(
      () => {
        aclError = '';
      },
      (err: Error) => {
        metrics.aclErrors.inc();
        if (err.message !== aclError)
          log.warn(
            { code: 'config-sync.acl-failed', err: err.message },
            'setting the agents’ ZooKeeper ACLs failed; retrying',
          );
        aclError = err.message;
      },
    );
  return aclPass;
};
const credentials = aclPolicy
  ? new CredentialTable<AgentDigestRow>({
      pool,
      columns: agentDigestColumns,
      pollMs: config.FLEETCAP_CONFIG_SYNC_CREDENTIAL_POLL_MS,
      onRows: (rows) => aclPolicy.setRows(rows),
      onError: (err) =>
        log.warn(
          { code: 'config-sync.credentials-unavailable', err: err.message },
          'cannot read agent_credential; the agents’ ACLs stay as they are',
        ),
    })
  : undefined;
// Every poll: new rows, revocations and expiries (a rotation's not_after passing) reach the ACLs.
const aclTimer = setInterval(() => void applyAcls(false), config.FLEETCAP_CONFIG_SYNC_CREDENTIAL_POLL_MS);
aclTimer.unref();
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
        const report = await reconcile(mirror, rowSource, onAhead);
        metrics.reconciles.inc({ result: 'ok' });
        for (const [outcome, n] of Object.entries(report))
          if (outcome !== 'rows' && n > 0) metrics.reconciled.inc({ outcome }, n);
        log.info({ why, ms: Date.now() - t0, ...report }, 'reconciled ZooKeeper with sniffer_config');
      } catch (err) {
        metrics.reconciles.inc({ result: 'failed' });
        log.warn({ why, err: (err as Error).message }, 'reconcile failed; retrying in 5 s');
        await new Promise((r) => setTimeout(r, 5000));
        reconcileAgain = !shutdown.stopping;
      }
    } while (reconcileAgain && !shutdown.stopping);
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
      log[method]({ code: 'config-sync.kafkajs', kafka: namespace, ...rest }, message);
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
    commitEvery: 512,
    onFatal: () => {
      // Nothing uncommitted is lost: exit and let the supervisor start a fresh consumer.
      log.fatal('the Kafka consumer stopped for good; exiting so that a fresh process takes over');
      process.exit(1);
    },
  },
);

// Serves /healthz from the start: while ZooKeeper or Kafka are still coming up, it says which.
const server = await startHttpServer({
  port: config.FLEETCAP_CONFIG_SYNC_PORT,
  host: config.FLEETCAP_CONFIG_SYNC_HOST,
  registry: metrics.registry,
  health: async () => ({
    kafka: syncConsumer.health(),
    zookeeper: check(zk.connected, 'no ZooKeeper connection'),
    ...(aclSync ? { acls: check(aclError === '', aclError) } : {}),
    mysql: await pool
      .query('SELECT 1')
      .then(() => 'ok' as const)
      .catch((err: Error) => check(false, err.message)),
  }),
});

shutdown
  .add('Kafka consumer', () =>
    syncConsumer.stop().catch((err: Error) => log.warn({ err: err.message }, 'Kafka disconnect failed')),
  )
  .add('status mirror', () => statusMirror.stop())
  .add('reconcile', () => reconciling?.catch(() => undefined))
  .add('ZooKeeper ACLs', async () => {
    clearInterval(aclTimer);
    await credentials?.stop();
    await aclPass;
  })
  .add('ZooKeeper', () => zk.close())
  .add('MariaDB pool', () => pool.end().catch(() => undefined))
  .add('HTTP server', () => server?.close());

try {
  await zk.start(30_000);
  if (aclSync && credentials) {
    // The agents' credentials and the root's ACL before any config node is written.
    await credentials.start();
    await aclSync.ensureRoot();
    await applyAcls(true);
    zk.on('session', () => void applyAcls(true));
  }
  await statusMirror.start();
  requestReconcile('startup');
  await syncConsumer.start();
  // Ready once the consumer reads from its start offsets: from then on, no edit of the table is missed.
  await Promise.race([syncConsumer.ready, new Promise((r) => setTimeout(r, 20_000))]);
} catch (err) {
  log.fatal({ err: (err as Error).message }, 'config-sync could not start');
  process.exit(1);
}
signalReady(log, 'config-sync', server?.port ?? null, {
  host: config.FLEETCAP_CONFIG_SYNC_HOST,
  group: config.FLEETCAP_CONFIG_SYNC_GROUP,
  zkRoot: paths.root,
  zkAcl: aclSettings.mode,
});
