// End to end with a real listener and sniffer in a network namespace (tcpdump on one end of a veth pair, traffic
// from the other end, ZooKeeper reached through a relay): an UPDATE of sniffer_config made with the mariadb
// command-line client puts the new filter in force (tcpdump runs it, and captures what it matches), and
// agent_status shows the new revision applied; deleting the row stops the capture; stopping the listener makes the
// agent offline. Needs root (namespaces, tcpdump) and apps/listener; skips loudly without them.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import {
  agentStatusRow,
  capturingAt,
  deleteAgentRows,
  deleteConsumerGroups,
  insertCaptureConfig,
  ListenerHost,
  waiterFor,
} from '../helpers/config-sync.ts';
import { sendUdp } from '../helpers/netns.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, mariadbCli, repoRoot, uniqueId, zkConnect } from '../helpers/stack.ts';

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
let host: ListenerHost | undefined;
const status = () => agentStatusRow(agentId);
const waitFor = waiterFor(
  () => `listener:\n${host?.output().slice(-3000) ?? ''}\nconfig-sync:\n${app?.output().slice(-2000)}`,
  30000,
);

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
  host = await ListenerHost.create();
});

after(async () => {
  if (skip) return;
  await host?.close();
  await app?.stop();
  deleteAgentRows(agentId);
  const zk = await zkConnect();
  await zk.remove(`/fleetcap/agents/${agentId}/config`).catch(() => undefined);
  await zk.remove(`/fleetcap/agents/${agentId}`).catch(() => undefined);
  await zk.close();
  await deleteConsumerGroups([group]);
});

test('an UPDATE through the mariadb client puts the new filter in force; agent_status shows it applied', {
  skip,
}, async () => {
  insertCaptureConfig(agentId, host!.pair.devA, `udp port ${portA}`);
  host!.startListener(agentId);

  let row = await waitFor('revision 1 applied and capturing', capturingAt(agentId, 1, { online: true }), 60000);
  assert.ok(
    tcpdumpFilters().some((f) => f.includes(`(udp port ${portA})`)),
    `tcpdump runs the filter: ${tcpdumpFilters().join(' | ')}`,
  );

  const t0 = Date.now();
  mariadbCli(`UPDATE sniffer_config SET bpf_filter='udp port ${portB}' WHERE agent_id='${agentId}'`);
  row = await waitFor('revision 2 applied and capturing', capturingAt(agentId, 2));
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
  const { pair } = host!;
  await sendUdp(pair, pair.nsB, pair.addrA, portB, 'e2e', 20);
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
  await host?.listener?.stop();
  await waitFor('agent offline', async () => (await status())?.online === 0);
});
