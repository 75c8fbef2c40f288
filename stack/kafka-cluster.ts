// What stack/kafka-cluster.sh asks of its brokers and Connect workers through the clients the apps use (kafkajs, HTTP
// with the stack's Connect login). The brokers are named by FLEETCAP_KAFKA_BROKERS, the workers by
// FLEETCAP_CONNECT_URLS (comma-separated), both set by the script.
//   kafka-cluster.ts wait-brokers N SECONDS [--isr]  until N brokers are registered (the controllers elected one
//                                             leader); with --isr, then until every replica is in sync (as wait-isr)
//   kafka-cluster.ts topic                    create the sniffer_config topic (RF 3, min ISR 2) once; wait for leaders
//   kafka-cluster.ts wait-isr SECONDS         until every partition of the cluster's topics has all its replicas in sync
//   kafka-cluster.ts leader [PARTITION]       the node id leading a partition of sniffer_config (default 0)
//   kafka-cluster.ts wait-worker URL SECONDS  until that worker answers GET /connector-plugins with the login (joined)
//   kafka-cluster.ts register                 create or update the Debezium connector (MariaDB at FLEETCAP_MYSQL_HOST
//                                             and _PORT), wait until it and its task run
//   kafka-cluster.ts task-worker              the REST URL of the worker that runs the connector's task
import { setTimeout as sleep } from 'node:timers/promises';
import { connectorName, snifferConfigConnector, snifferConfigTopic } from '@fleetcap/lib/cdc/debezium-connector';
import { connectAuthHeader, loadConnections } from '@fleetcap/lib/config/connections';
import { stackHome } from '@fleetcap/lib/config/secrets';
import { loadAccounts } from '@fleetcap/lib/db/accounts';
import { Kafka, logLevel } from 'kafkajs';
import { cdcPasswordReference } from './server-secrets.ts';

/** The cluster's connector reads the binlog under its own server id (the stack's Connect uses 184054). */
const CLUSTER_SERVER_ID = 184055;
const REPLICAS = 3;
const MIN_INSYNC = 2;

const conn = loadConnections();
const workers = (process.env.FLEETCAP_CONNECT_URLS ?? conn.connectUrl).split(',').map((u) => u.trim());
const topic = snifferConfigTopic(conn.mysql.database);
const kafka = new Kafka({
  clientId: 'fleetcap-kafka-cluster',
  brokers: conn.kafkaBrokers,
  logLevel: logLevel.NOTHING,
  connectionTimeout: 2000,
  requestTimeout: 5000,
  retry: { retries: 2 },
});

async function withAdmin<T>(fn: (admin: ReturnType<typeof kafka.admin>) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Polls fn until it returns a string (done) or the time is up; the last reason it gave is printed on timeout. */
async function until(seconds: number, what: string, fn: () => Promise<string | { notYet: string }>): Promise<number> {
  const deadline = Date.now() + seconds * 1000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const r = await fn();
      if (typeof r === 'string') {
        if (r) console.log(r);
        return 0;
      }
      last = r.notYet;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(500);
  }
  console.error(`${what} not reached within ${seconds} s; last: ${last}`);
  return 1;
}

function waitBrokers(expected: number, seconds: number): Promise<number> {
  return until(seconds, `${expected} brokers registered`, () =>
    withAdmin(async (admin) => {
      const c = await admin.describeCluster();
      const ids = c.brokers.map((b) => b.nodeId).sort();
      return ids.length >= expected
        ? `KRaft cluster ${c.clusterId}: brokers ${ids.join(',')}, controller ${c.controller}`
        : { notYet: `brokers registered: ${ids.join(',') || 'none'}` };
    }),
  );
}

/** Creates the topic once (RF 3, min ISR 2) and checks what exists; retried while the brokers elect leaders. */
function createTopic(): Promise<number> {
  return until(120, `${topic} with RF ${REPLICAS} and min ISR ${MIN_INSYNC}`, () =>
    withAdmin(async (admin) => {
      const created = await admin.createTopics({
        topics: [
          {
            topic,
            numPartitions: 3,
            replicationFactor: REPLICAS,
            configEntries: [{ name: 'min.insync.replicas', value: String(MIN_INSYNC) }],
          },
        ],
        waitForLeaders: true,
      });
      const [config] = (
        await admin.describeConfigs({
          resources: [{ type: 2 /* TOPIC */, name: topic, configNames: ['min.insync.replicas'] }],
          includeSynonyms: false,
        })
      ).resources;
      const minIsr = config?.configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue;
      const md = await admin.fetchTopicMetadata({ topics: [topic] });
      const rf = md.topics[0]?.partitions.map((p) => p.replicas.length) ?? [];
      if (minIsr !== String(MIN_INSYNC) || rf.length === 0 || rf.some((n) => n !== REPLICAS))
        return {
          notYet: `${topic} exists with replicas ${rf.join(',')} and min.insync.replicas ${minIsr}: delete it, or reset`,
        };
      return `${topic}: ${created ? 'created' : 'exists'}, ${rf.length} partitions, RF ${REPLICAS}, min ISR ${minIsr}`;
    }),
  );
}

/** Every partition of every topic has all its replicas in sync (a restarted broker has caught up). */
function waitIsr(seconds: number): Promise<number> {
  return until(seconds, 'every replica in sync', () =>
    withAdmin(async (admin) => {
      const topics = await admin.listTopics();
      const md = await admin.fetchTopicMetadata({ topics });
      const behind = md.topics.flatMap((t) =>
        t.partitions
          .filter((p) => p.isr.length < p.replicas.length || p.leader < 0)
          .map((p) => `${t.name}/${p.partitionId} isr ${p.isr.join(',')} of ${p.replicas.join(',')}`),
      );
      return behind.length === 0 ? '' : { notYet: `${behind.length} partition(s) behind, e.g. ${behind[0]}` };
    }),
  );
}

async function leader(partition: number): Promise<number> {
  return withAdmin(async (admin) => {
    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    const p = md.topics[0]?.partitions.find((x) => x.partitionId === partition);
    if (!p || p.leader < 0) {
      console.error(`${topic}/${partition} has no leader now`);
      return 1;
    }
    console.log(p.leader);
    return 0;
  });
}

async function connectGet(url: string, path: string): Promise<Response> {
  return fetch(`${url}${path}`, { headers: connectAuthHeader(), signal: AbortSignal.timeout(3000) });
}

function waitWorker(url: string, seconds: number): Promise<number> {
  return until(seconds, `worker ${url} ready`, async () => {
    const anonymous = await fetch(`${url}/`, { signal: AbortSignal.timeout(3000) });
    if (anonymous.status !== 401) return { notYet: `GET / without credentials answered ${anonymous.status}, not 401` };
    // Connect answers GET / while it is still joining its group; the plugin list needs a worker in the group.
    const plugins = await connectGet(url, '/connector-plugins');
    return plugins.ok ? `worker ${url} ready` : { notYet: `GET /connector-plugins answered ${plugins.status}` };
  });
}

interface ConnectorStatus {
  connector: { state: string; worker_id: string };
  tasks: Array<{ id: number; state: string; worker_id: string; trace?: string }>;
}

/** The status from the first worker that answers (a killed worker does not). */
async function status(): Promise<ConnectorStatus | null> {
  for (const url of workers) {
    try {
      const res = await connectGet(url, `/connectors/${connectorName}/status`);
      if (res.ok) return (await res.json()) as ConnectorStatus;
      if (res.status === 404) return null;
    } catch {}
  }
  throw new Error(`no Connect worker answered (${workers.join(', ')})`);
}

async function register(): Promise<number> {
  const config = snifferConfigConnector({
    mysqlHost: conn.mysql.host,
    mysqlPort: conn.mysql.port,
    database: conn.mysql.database,
    cdc: { user: loadAccounts().cdc.user, password: cdcPasswordReference(stackHome()) },
    kafkaBrokers: conn.kafkaBrokers,
    serverId: CLUSTER_SERVER_ID,
    replicationFactor: REPLICAS,
  });
  let put: Response | undefined;
  for (const url of workers) {
    try {
      put = await fetch(`${url}/connectors/${connectorName}/config`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...connectAuthHeader() },
        body: JSON.stringify(config),
        signal: AbortSignal.timeout(30_000),
      });
      break;
    } catch {}
  }
  if (!put?.ok) {
    console.error(`registering ${connectorName} failed: ${put ? `${put.status} ${await put.text()}` : 'no worker'}`);
    return 1;
  }
  return until(90, `${connectorName} RUNNING`, async () => {
    const s = await status();
    if (!s) return { notYet: 'not registered yet' };
    const failed = s.tasks.find((t) => t.state === 'FAILED');
    if (failed) throw new Error(`task FAILED on ${failed.worker_id}:\n${failed.trace ?? ''}`);
    return s.connector.state === 'RUNNING' && s.tasks.length > 0 && s.tasks.every((t) => t.state === 'RUNNING')
      ? `connector ${connectorName} RUNNING, task on ${s.tasks[0]?.worker_id} (MariaDB ${conn.mysql.host}:${conn.mysql.port}, server id ${CLUSTER_SERVER_ID})`
      : { notYet: JSON.stringify(s) };
  });
}

async function taskWorker(): Promise<number> {
  const s = await status();
  const task = s?.tasks.find((t) => t.state === 'RUNNING');
  if (!task) {
    console.error(`no task of ${connectorName} runs now: ${JSON.stringify(s)}`);
    return 1;
  }
  console.log(`http://${task.worker_id}`);
  return 0;
}

const [cmd, a1, a2] = process.argv.slice(2);
let code: number;
if (cmd === 'wait-brokers') {
  code = await waitBrokers(Number(a1 ?? 3), Number(a2 ?? 90));
  if (code === 0 && process.argv[5] === '--isr') code = await waitIsr(Number(a2 ?? 90));
} else if (cmd === 'topic') code = await createTopic();
else if (cmd === 'wait-isr') code = await waitIsr(Number(a1 ?? 90));
else if (cmd === 'leader') code = await leader(Number(a1 ?? 0));
else if (cmd === 'wait-worker' && a1) code = await waitWorker(a1, Number(a2 ?? 120));
else if (cmd === 'register') code = await register();
else if (cmd === 'task-worker') code = await taskWorker();
else {
  console.error(
    'usage: kafka-cluster.ts wait-brokers N SECONDS | topic | wait-isr SECONDS | leader [PARTITION] | wait-worker URL SECONDS | register | task-worker',
  );
  code = 2;
}
process.exit(code);
