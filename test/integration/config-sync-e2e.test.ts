// End to end with a real listener and sniffer in a network namespace (tcpdump on one end of a veth pair, traffic
// from the other end, ZooKeeper reached through a relay): an UPDATE of sniffer_config made with the mariadb
// command-line client puts the new filter in force (tcpdump runs it, and captures what it matches), and
// agent_status shows the new revision applied; deleting the row stops the capture; stopping the listener makes the
// agent offline. Needs root (namespaces, tcpdump) and apps/listener; skips loudly without them.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
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
import { assertStackUp, connections, mariadbCli, mysqlAs, repoRoot, uniqueId, zkConnect } from '../helpers/stack.ts';

const listenerMain = `${repoRoot}/apps/listener/src/main.ts`;
const skip = !existsSync(listenerMain)
  ? 'SKIPPED: apps/listener is not there yet'
  : process.getuid?.() !== 0
    ? 'SKIPPED: tcpdump needs root'
    : false;
if (skip) console.log(`# config-sync e2e ${skip}`);

const agentId = uniqueId('e2e');
const group = uniqueId('itest-e2e');
const portA = 31000 + Math.floor(Math.random() * 500);
const portB = portA + 500;
let app: RunningApp | undefined;
let listener: AgentProcess | undefined;
let pair: VethPair | undefined;
const listenerOutput = () => listener?.output() ?? '';

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
        `timed out waiting for ${what}\nlistener:\n${listenerOutput().slice(-3000)}\nconfig-sync:\n${app?.output().slice(-2000)}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The filter expressions of the tcpdump processes running now. */
function tcpdumpFilters(): string[] {
  const filters: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (args.some((a) => a.endsWith('tcpdump'))) filters.push(args[args.length - 1] ?? '');
    } catch {
      // the process ended meanwhile
    }
  }
  return filters;
}

before(async () => {
  if (skip) return;
  assertStackUp();
  app = await startApp('config-sync', { FLEETCAP_CONFIG_SYNC_PORT: '0', FLEETCAP_CONFIG_SYNC_GROUP: group }, 30000);
  // The agent's host: namespace A (the listener and its sniffer capture on its end of the veth pair), with
  // ZooKeeper of the root namespace relayed to 127.0.0.1:2181 inside it.
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
  const zk = await zkConnect();
  await zk.remove(`/fleetcap/agents/${agentId}/config`).catch(() => undefined);
  await zk.remove(`/fleetcap/agents/${agentId}`).catch(() => undefined);
  await zk.close();
  const admin = new Kafka({
    clientId: 'itest-cleanup',
    brokers: connections.kafkaBrokers,
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  await admin.deleteGroups([group]).catch(() => undefined);
  await admin.disconnect();
});

test('an UPDATE through the mariadb client puts the new filter in force; agent_status shows it applied', {
  skip,
}, async () => {
  mariadbCli(
    `INSERT INTO sniffer_config (agent_id, device, bpf_filter, splitcap_url, batch_ms) VALUES ('${agentId}', '${pair!.devA}', 'udp port ${portA}', 'http://127.0.0.1:9', 200)`,
  );
  listener = startAgentApp(pair!, pair!.nsA, 'listener', repoRoot, {
    FLEETCAP_AGENT_ID: agentId,
    FLEETCAP_ZK_CONNECT: '127.0.0.1:2181',
    FLEETCAP_LOG_LEVEL: 'warn',
    FLEETCAP_LIVE_REFRESH_MS: '300',
    FLEETCAP_DRAIN_MS: '500',
    FLEETCAP_STATS_INTERVAL_MS: '200',
    FLEETCAP_SPOOL_DIR: join(pair!.dir, 'spool'),
  });

  let row = await waitFor(
    'revision 1 applied and capturing',
    async () => {
      const r = await status();
      return r?.online === 1 && Number(r.applied_revision) === 1 && r.state === 'capturing' ? r : null;
    },
    60000,
  );
  assert.ok(
    tcpdumpFilters().some((f) => f.includes(`(udp port ${portA})`)),
    `tcpdump runs the filter: ${tcpdumpFilters().join(' | ')}`,
  );

  const t0 = Date.now();
  mariadbCli(`UPDATE sniffer_config SET bpf_filter='udp port ${portB}' WHERE agent_id='${agentId}'`);
  row = await waitFor('revision 2 applied and capturing', async () => {
    const r = await status();
    return Number(r?.applied_revision) === 2 && r?.state === 'capturing' ? r : null;
  });
  console.log(`# UPDATE -> agent_status shows revision 2 applied in ${Date.now() - t0} ms`);
  const filters = tcpdumpFilters();
  assert.ok(
    filters.some((f) => f.includes(`(udp port ${portB})`)),
    `tcpdump runs the new filter: ${filters.join(' | ')}`,
  );
  // The old sniffer drains and exits (it may briefly overlap the new one).
  await waitFor(
    'the old filter gone',
    async () => !tcpdumpFilters().some((f) => f.includes(`(udp port ${portA})`)),
    15000,
  );

  // What the new filter matches is captured (the counters come back through the live node).
  const before = Number(row.captured);
  // From the other end of the veth pair, to the agent's address: only the capture on the agent's device sees it.
  await sendUdp(pair!, pair!.nsB, pair!.addrA, portB, 'e2e', 20);
  await waitFor('captured packets counted', async () => Number((await status())?.captured) >= before + 20, 15000);
});

test('deleting the row stops the capture; stopping the listener makes the agent offline', { skip }, async () => {
  mariadbCli(`DELETE FROM sniffer_config WHERE agent_id='${agentId}'`);
  await waitFor('capture stopped', async () => {
    const r = await status();
    return r?.online === 1 && r.state !== 'capturing' ? r : null;
  });
  await waitFor(
    'no tcpdump with our filter',
    async () => !tcpdumpFilters().some((f) => f.includes(`(udp port ${portB})`)),
  );
  await listener?.stop();
  await waitFor('agent offline', async () => (await status())?.online === 0);
});
