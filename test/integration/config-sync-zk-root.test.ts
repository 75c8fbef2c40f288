// FLEETCAP_ZK_ROOT set to a root of its own for both config-sync and a real listener (in a network namespace, with
// ZooKeeper relayed, as in config-sync-e2e): an SQL edit of sniffer_config reaches the listener, which applies the
// new revision and captures with it, and its live status comes back into agent_status. The nodes are under that
// root: the listener's live node is not under the default /fleetcap. Needs root (namespaces, tcpdump).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { liveStatusSchema } from '@fleetcap/lib/agent/live-status';
import { AgentPaths } from '@fleetcap/lib/agent/paths';
import type { ZkClient } from '@fleetcap/lib/zookeeper/client';
import { Kafka, logLevel } from 'kafkajs';
import type { RowDataPacket } from 'mysql2/promise';
import {
  type AgentProcess,
  createVethPair,
  destroy,
  sendUdp,
  startAgentApp,
  tcpToUnixRelay,
  unixToTcpRelay,
  type VethPair,
} from '../helpers/netns.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import {
  assertStackUp,
  connections,
  mariadbCli,
  mysqlAs,
  removeZkTree,
  repoRoot,
  uniqueId,
  zkConnect,
} from '../helpers/stack.ts';

const skip = process.getuid?.() !== 0 ? 'SKIPPED: tcpdump needs root' : false;
if (skip) console.log(`# config-sync ZooKeeper root ${skip}`);

const root = `/fleetcap-alt-${randomBytes(4).toString('hex')}`;
const paths = new AgentPaths(root);
const defaultPaths = new AgentPaths();
const agentId = uniqueId('zkroot');
const group = uniqueId('itest-zkroot');
const portA = 32000 + Math.floor(Math.random() * 500);
const portB = portA + 500;
let app: RunningApp | undefined;
let listener: AgentProcess | undefined;
let pair: VethPair | undefined;
let zk: ZkClient | undefined;

async function status(): Promise<RowDataPacket | undefined> {
  const db = await mysqlAs('report');
  try {
    const [rows] = await db.query<RowDataPacket[]>('SELECT * FROM agent_status WHERE agent_id = ?', [agentId]);
    return rows[0];
  } finally {
    await db.end();
  }
}

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs = 30000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}\nlistener:\n${listener?.output().slice(-3000)}\nconfig-sync:\n${app?.output().slice(-2000)}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  if (skip) return;
  assertStackUp();
  zk = await zkConnect();
  app = await startApp(
    'config-sync',
    { FLEETCAP_CONFIG_SYNC_PORT: '0', FLEETCAP_CONFIG_SYNC_GROUP: group, FLEETCAP_ZK_ROOT: root },
    30000,
  );
  pair = createVethPair();
  const zkSock = join(pair.dir, 'zk.sock');
  const [zkHost, zkPort] = connections.zookeeper.split(',')[0]!.split(':');
  await unixToTcpRelay(pair, zkSock, zkHost!, Number(zkPort ?? 2181));
  await tcpToUnixRelay(pair, pair.nsA, '127.0.0.1', 2181, zkSock);
});

after(async () => {
  if (skip) return;
  await listener?.stop().catch(() => null);
  if (pair) destroy(pair);
  await app?.stop();
  mariadbCli(
    `DELETE FROM sniffer_config WHERE agent_id='${agentId}'; DELETE FROM agent_status WHERE agent_id='${agentId}'`,
  );
  if (zk) {
    await removeZkTree(zk, root);
    await zk.close();
  }
  const admin = new Kafka({
    clientId: 'itest-cleanup',
    brokers: connections.kafkaBrokers,
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  await admin.deleteGroups([group]).catch(() => undefined);
  await admin.disconnect();
});

test(`with FLEETCAP_ZK_ROOT=${root} for config-sync and the listener, an SQL edit reaches the agent and its status comes back`, {
  skip,
}, async () => {
  mariadbCli(
    `INSERT INTO sniffer_config (agent_id, device, bpf_filter, splitcap_url, batch_ms) VALUES ('${agentId}', '${pair!.devA}', 'udp port ${portA}', 'http://127.0.0.1:9', 200)`,
  );
  listener = startAgentApp(pair!, pair!.nsA, 'listener', repoRoot, {
    FLEETCAP_AGENT_ID: agentId,
    FLEETCAP_ZK_CONNECT: '127.0.0.1:2181',
    FLEETCAP_ZK_ROOT: root,
    FLEETCAP_LOG_LEVEL: 'warn',
    FLEETCAP_LIVE_REFRESH_MS: '300',
    FLEETCAP_DRAIN_MS: '500',
    FLEETCAP_STATS_INTERVAL_MS: '200',
    FLEETCAP_SPOOL_DIR: join(pair!.dir, 'spool'),
  });
  await waitFor(
    'revision 1 applied and capturing',
    async () => {
      const r = await status();
      return r?.online === 1 && Number(r.applied_revision) === 1 && r.state === 'capturing' ? r : null;
    },
    60000,
  );

  const t0 = Date.now();
  mariadbCli(`UPDATE sniffer_config SET bpf_filter='udp port ${portB}' WHERE agent_id='${agentId}'`);
  const row = await waitFor('revision 2 applied and capturing', async () => {
    const r = await status();
    return Number(r?.applied_revision) === 2 && r?.state === 'capturing' ? r : null;
  });
  console.log(`# UPDATE -> agent_status shows revision 2 applied under ${root} in ${Date.now() - t0} ms`);
  assert.equal(row.online, 1);
  assert.equal(row.last_error, null);

  // What the new filter matches is captured, and the counters come back through the live node.
  const before = Number(row.captured);
  await sendUdp(pair!, pair!.nsB, pair!.addrA, portB, 'zkroot', 20);
  await waitFor('captured packets counted', async () => Number((await status())?.captured) >= before + 20, 15000);

  // The nodes are under the root given: config-sync wrote the config there, the listener its live node.
  const config = await zk!.getData(paths.config(agentId));
  assert.equal(JSON.parse(String(config?.data)).revision, 2);
  assert.equal(JSON.parse(String(config?.data)).bpfFilter, `udp port ${portB}`);
  const liveNode = await zk!.getData(paths.live(agentId));
  assert.ok(liveNode !== null, `the live node is at ${paths.live(agentId)}`);
  const live = liveStatusSchema.parse(JSON.parse(String(liveNode.data)));
  assert.equal(live.agentId, agentId);
  assert.equal(live.appliedRevision, 2);
  assert.equal(live.state, 'capturing');
  // (A config-sync of the default root elsewhere on the shared stack may mirror our row under /fleetcap too; only
  // the listener writes live nodes.)
  assert.equal(await zk!.exists(defaultPaths.live(agentId)), null, 'no live node under the default /fleetcap');
});

test('stopping the listener makes the agent offline', { skip }, async () => {
  await listener?.stop();
  await waitFor('agent offline', async () => (await status())?.online === 0);
  assert.equal(await zk!.exists(paths.live(agentId)), null, 'the live node went with the session');
});
