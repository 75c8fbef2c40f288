// Health checks of the local stack through the same clients the apps use (ioredis, amqplib, mysql2, lib's
// ZooKeeper client, kafkajs, HTTP for Kafka Connect), and the Debezium connector registration.
//   probe.ts check-all [--quiet]   table of every server (or, quiet, the names of the healthy ones)
//   probe.ts wait NAME SECONDS     wait until NAME is healthy; exit 1 on timeout
//   probe.ts register-connector [--restart]  create or update the sniffer_config connector (--restart: and start
//                                  its tasks again, to read a rotated CDC password), wait for RUNNING
//   probe.ts write-server-secrets  write the servers' files of the generated secrets (server-secrets.ts)
//   probe.ts apply-redis-acl       load the ACL file into a running Redis (also one started before there was one)
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectorName, snifferConfigConnector, snifferConfigTopic } from '@fleetcap/lib/cdc/debezium-connector';
import { connectAuthHeader, loadConnections } from '@fleetcap/lib/config/connections';
import { stackHome } from '@fleetcap/lib/config/secrets';
import { loadAccounts } from '@fleetcap/lib/db/accounts';
import { ZkClient } from '@fleetcap/lib/zookeeper/client';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import mysql from 'mysql2/promise';
import { cdcPasswordReference, writeServerSecrets } from './server-secrets.ts';

const [cmd, a1, a2] = process.argv.slice(2);
if (cmd === 'write-server-secrets') {
  for (const path of writeServerSecrets(stackHome())) console.log(`wrote ${path}`);
  process.exit(0);
}
const conn = loadConnections();
const connectAuth = () => connectAuthHeader();
const servers = ['mariadb', 'redis', 'rabbitmq', 'zookeeper', 'kafka', 'connect'] as const;
type Server = (typeof servers)[number];

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    sleep(ms).then(() => {
      throw new Error(`${what}: no answer within ${ms} ms`);
    }),
  ]);
}

const checks: Record<Server, () => Promise<string>> = {
  async mariadb() {
    try {
      const c = await mysql.createConnection({ ...conn.mysql, ...conn.mysqlAdmin, connectTimeout: 2000 });
      const [rows] = await c.query('SELECT VERSION() AS v, @@binlog_format AS f, @@binlog_row_image AS i');
      await c.end();
      const r = (rows as Array<{ v: string; f: string; i: string }>)[0]!;
      return `${r.v}, binlog ${r.f}/${r.i}, ${conn.mysql.host}:${conn.mysql.port}`;
    } catch (err) {
      // The server answers the protocol before `stack up` has created the admin account.
      if ((err as { code?: string }).code === 'ER_ACCESS_DENIED_ERROR')
        return 'answering (admin account not yet created)';
      throw err;
    }
  },
  async redis() {
    const r = new Redis(conn.redisUrl, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      retryStrategy: () => null,
    });
    r.on('error', () => {}); // the rejected connect() carries the error
    try {
      await r.connect();
      const pong = await r.ping();
      const info = await r.info('server');
      const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
      return `${pong}, redis ${version}, ${conn.redisUrl.replace(/\/\/[^@]*@/, '//')}`;
    } finally {
      r.disconnect();
    }
  },
  async rabbitmq() {
    const c = await amqp.connect(conn.amqpUrl, { timeout: 2000 });
    try {
      const ch = await c.createChannel();
      await ch.close();
      const props = c.connection.serverProperties as { version?: string };
      return `rabbitmq ${props.version ?? '?'}, ${conn.amqpUrl.replace(/\/\/[^@]*@/, '//')}`;
    } finally {
      await c.close();
    }
  },
  async zookeeper() {
    const zk = new ZkClient({ connect: conn.zookeeper, sessionTimeoutMs: 5000, opTimeoutMs: 3000, retries: 0 });
    try {
      await zk.start(3000);
      const children = (await zk.getChildren('/')) ?? [];
      return `session ok, / has ${children.length} children, ${conn.zookeeper}`;
    } finally {
      await zk.close();
    }
  },
  async kafka() {
    const kafka = new Kafka({
      clientId: 'fleetcap-probe',
      brokers: conn.kafkaBrokers,
      connectionTimeout: 2000,
      retry: { retries: 0 },
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const c = await admin.describeCluster();
      return `KRaft cluster ${c.clusterId}, ${c.brokers.length} broker(s), ${conn.kafkaBrokers.join(',')}`;
    } finally {
      await admin.disconnect();
    }
  },
  async connect() {
    // Without credentials the REST API must refuse (BasicAuthSecurityRestExtension): an open one is not healthy.
    const anonymous = await fetch(`${conn.connectUrl}/`, { signal: AbortSignal.timeout(2000) });
    if (anonymous.status !== 401)
      throw new Error(`GET / without credentials answered ${anonymous.status}, not 401: the REST API is open`);
    const res = await fetch(`${conn.connectUrl}/`, { headers: connectAuth(), signal: AbortSignal.timeout(2000) });
    if (!res.ok) throw new Error(`GET / answered ${res.status}`);
    const info = (await res.json()) as { version: string };
    const st = await fetch(`${conn.connectUrl}/connectors/${connectorName}/status`, {
      headers: connectAuth(),
      signal: AbortSignal.timeout(2000),
    });
    let connector = 'connector not registered';
    if (st.ok) {
      const s = (await st.json()) as { connector: { state: string }; tasks: Array<{ state: string }> };
      connector = `connector ${s.connector.state}, tasks ${s.tasks.map((t) => t.state).join(',') || 'none'}`;
    }
    // Connect answers GET / while it is still joining its group; the plugin list needs a ready worker.
    const plugins = await fetch(`${conn.connectUrl}/connector-plugins`, {
      headers: connectAuth(),
      signal: AbortSignal.timeout(2000),
    });
    if (!plugins.ok) throw new Error(`GET /connector-plugins answered ${plugins.status}: worker not ready`);
    return `kafka connect ${info.version}, ${connector}, ${conn.connectUrl}`;
  },
};

async function check(name: Server): Promise<{ ok: boolean; detail: string }> {
  try {
    return { ok: true, detail: await withTimeout(checks[name](), 5000, name) };
  } catch (err) {
    return { ok: false, detail: (err as Error).message.split('\n')[0] || String(err) };
  }
}

/**
 * The servers this stack runs: all, or those FLEETCAP_STACK_SERVERS names (stack.sh up --cluster: MariaDB and, until
 * Kafka has its cluster script, Kafka and Connect; the clusters answer their scripts' status).
 */
function stackServers(): readonly Server[] {
  const named = process.env.FLEETCAP_STACK_SERVERS?.split(/[\s,]+/).filter(Boolean);
  if (!named?.length) return servers;
  const unknown = named.filter((n) => !servers.includes(n as Server));
  if (unknown.length > 0)
    throw new Error(`FLEETCAP_STACK_SERVERS: unknown server ${unknown.join(', ')}; give some of ${servers.join(', ')}`);
  return servers.filter((s) => named.includes(s));
}

async function checkAll(quiet: boolean): Promise<number> {
  const results = await Promise.all(stackServers().map(async (s) => [s, await check(s)] as const));
  if (quiet) {
    for (const [s, r] of results) if (r.ok) console.log(s);
    return 0;
  }
  const logs = `${process.env.FLEETCAP_STACK_HOME ?? '.stack'}/logs`;
  for (const [s, r] of results) {
    console.log(
      `${s.padEnd(10)} ${r.ok ? 'healthy' : 'DOWN   '}  ${r.detail}${r.ok ? '' : `  (log: ${logs}/${s}.log)`}`,
    );
  }
  return results.every(([, r]) => r.ok) ? 0 : 1;
}

async function waitFor(name: Server, seconds: number): Promise<number> {
  const deadline = Date.now() + seconds * 1000;
  let last = '';
  while (Date.now() < deadline) {
    const r = await check(name);
    if (r.ok) {
      console.log(`${new Date().toISOString().slice(11, 19)} ${name} is healthy: ${r.detail}`);
      return 0;
    }
    last = r.detail;
    await sleep(500);
  }
  console.error(`${name}: last health check said: ${last}`);
  return 1;
}

async function registerConnector(restart: boolean): Promise<number> {
  // The topic exists before the first change, so consumers (config-sync, tests) can subscribe to an
  // empty table; 3 partitions keyed by agent id keep each agent's changes in order.
  const kafka = new Kafka({ clientId: 'fleetcap-stack', brokers: conn.kafkaBrokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    // On a cluster of 3 or more brokers (kafka-cluster.sh, compose's cluster profile) it is replicated 3 times and a
    // write needs 2 of them, so one broker can be lost; a single broker keeps the one copy it can.
    const brokers = (await admin.describeCluster()).brokers.length;
    await admin.createTopics({
      topics: [
        {
          topic: snifferConfigTopic(conn.mysql.database),
          numPartitions: 3,
          replicationFactor: brokers >= 3 ? 3 : 1,
          ...(brokers >= 3 ? { configEntries: [{ name: 'min.insync.replicas', value: '2' }] } : {}),
        },
      ],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
  const accounts = loadAccounts();
  const config = snifferConfigConnector({
    mysqlHost: conn.mysql.host,
    mysqlPort: conn.mysql.port,
    database: conn.mysql.database,
    // Connect resolves the password from a file of its own (FileConfigProvider): GET .../config shows the reference.
    cdc: { user: accounts.cdc.user, password: cdcPasswordReference(stackHome()) },
    kafkaBrokers: conn.kafkaBrokers,
  });
  const res = await fetch(`${conn.connectUrl}/connectors/${connectorName}/config`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...connectAuth() },
    body: JSON.stringify(config),
  });
  if (!res.ok) {
    console.error(`registering ${connectorName} failed: ${res.status} ${await res.text()}`);
    return 1;
  }
  // A task resolves the CDC password from its file when it starts: after a rotation (`up` passes --restart) the
  // running task must start again to log in with the new one. The same config PUT again restarts nothing.
  const restartTasks = (onlyFailed: boolean) =>
    fetch(
      `${conn.connectUrl}/connectors/${connectorName}/restart?includeTasks=true${onlyFailed ? '&onlyFailed=true' : ''}`,
      { method: 'POST', headers: connectAuth() },
    );
  if (restart) await restartTasks(false);
  // A task that failed before (its login refused while the password was being changed) gets one restart.
  let retried = false;
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    const st = await fetch(`${conn.connectUrl}/connectors/${connectorName}/status`, { headers: connectAuth() });
    if (st.ok) {
      const s = (await st.json()) as { connector: { state: string }; tasks: Array<{ state: string; trace?: string }> };
      const failed = s.tasks.find((t) => t.state === 'FAILED');
      if (failed && !retried) {
        retried = true;
        await restartTasks(true);
        await sleep(1000);
        continue;
      }
      if (failed) {
        console.error(`connector ${connectorName} task FAILED (restarted once):\n${failed.trace ?? ''}`);
        return 1;
      }
      if (s.connector.state === 'RUNNING' && s.tasks.length > 0 && s.tasks.every((t) => t.state === 'RUNNING')) {
        console.log(`connector ${connectorName} is RUNNING`);
        return 0;
      }
      last = JSON.stringify(s);
    }
    await sleep(500);
  }
  console.error(`connector ${connectorName} did not reach RUNNING within 60 s; last status: ${last}`);
  return 1;
}

/**
 * Loads the ACL file's users into a running Redis with ACL SETUSER: as the operator once it exists, else as the
 * default user of a Redis started before there were users (the upgrade of an old stack), whose last step turns the
 * default user off. A Redis started with --aclfile also saves them (ACL SAVE).
 */
async function applyRedisAcl(): Promise<number> {
  const lines = readFileSync(`${stackHome()}/redis/users.acl`, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('user '));
  const port = Number(new URL(conn.redisUrl).port);
  const options = { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null };
  let r = new Redis(conn.redisUrl, options);
  r.on('error', () => {});
  try {
    await r.connect();
  } catch {
    r.disconnect();
    r = new Redis({ host: '127.0.0.1', port, ...options });
    r.on('error', () => {});
    await r.connect();
  }
  try {
    // The default user last: the connection may be its own.
    const ordered = [
      ...lines.filter((l) => !l.startsWith('user default ')),
      ...lines.filter((l) => l.startsWith('user default ')),
    ];
    for (const line of ordered) {
      const [, name, ...rules] = line.trim().split(/\s+/);
      await r.call('ACL', 'SETUSER', name!, 'reset', ...rules);
    }
    await r.call('ACL', 'SAVE').catch(() => {});
    console.log(`redis: ${lines.length} ACL users applied`);
    return 0;
  } finally {
    r.disconnect();
  }
}

let code: number;
if (cmd === 'check-all') code = await checkAll(a1 === '--quiet');
else if (cmd === 'wait' && servers.includes(a1 as Server)) code = await waitFor(a1 as Server, Number(a2 ?? 60));
else if (cmd === 'register-connector') code = await registerConnector(a1 === '--restart');
else if (cmd === 'apply-redis-acl') code = await applyRedisAcl();
else {
  console.error('usage: probe.ts check-all [--quiet] | wait SERVER SECONDS | register-connector [--restart]');
  code = 2;
}
process.exit(code);
