// FLEETCAP_ZK_ROOT set to a root of its own for both config-sync and a real listener (in a network namespace, with
// ZooKeeper relayed, as in config-sync-e2e): an SQL edit of sniffer_config reaches the listener, which applies the
// new revision and captures with it, and its live status comes back into agent_status. The nodes are under that
// root: the listener's live node is not under the default /fleetcap. Needs root (namespaces, tcpdump).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { liveStatusSchema } from '@fleetcap/lib/agent/live-status';
import { AgentPaths } from '@fleetcap/lib/agent/paths';
import {
  agentStatusRow,
  type ConfigSyncUnderTest,
  capturingAt,
  insertCaptureConfig,
  ListenerHost,
  startConfigSync,
  waiterFor,
} from '../helpers/config-sync.ts';
import { sendUdp } from '../helpers/netns.ts';
import { assertStackUp, mariadbCli, uniqueId } from '../helpers/stack.ts';

const skip = process.getuid?.() !== 0 ? 'SKIPPED: tcpdump needs root' : false;
if (skip) console.log(`# config-sync ZooKeeper root ${skip}`);

const root = `/fleetcap-alt-${randomBytes(4).toString('hex')}`;
const paths = new AgentPaths(root);
const defaultPaths = new AgentPaths();
const agentId = uniqueId('zkroot');
const group = uniqueId('itest-zkroot');
const portA = 32000 + Math.floor(Math.random() * 500);
const portB = portA + 500;
let configSync: ConfigSyncUnderTest | undefined;
let host: ListenerHost | undefined;

const status = () => agentStatusRow(agentId);
const waitFor = waiterFor(
  () => `listener:\n${host?.output().slice(-3000)}\nconfig-sync:\n${configSync?.app.output().slice(-2000)}`,
  30000,
);

before(async () => {
  if (skip) return;
  assertStackUp();
  configSync = await startConfigSync(group, { FLEETCAP_ZK_ROOT: root });
  host = await ListenerHost.create();
});

after(async () => {
  if (skip) return;
  await host?.close();
  await configSync?.close({ agents: [agentId], zkTrees: [root] });
});

test(`with FLEETCAP_ZK_ROOT=${root} for config-sync and the listener, an SQL edit reaches the agent and its status comes back`, {
  skip,
}, async () => {
  insertCaptureConfig(agentId, host!.pair.devA, `udp port ${portA}`);
  host!.startListener(agentId, { FLEETCAP_ZK_ROOT: root });
  await waitFor('revision 1 applied and capturing', capturingAt(agentId, 1, { online: true }), 60000);

  const t0 = Date.now();
  mariadbCli(`UPDATE sniffer_config SET bpf_filter='udp port ${portB}' WHERE agent_id='${agentId}'`);
  const row = await waitFor('revision 2 applied and capturing', capturingAt(agentId, 2));
  console.log(`# UPDATE -> agent_status shows revision 2 applied under ${root} in ${Date.now() - t0} ms`);
  assert.equal(row.online, 1);
  assert.equal(row.last_error, null);

  // What the new filter matches is captured, and the counters come back through the live node.
  const before = Number(row.captured);
  const { pair } = host!;
  await sendUdp(pair, pair.nsB, pair.addrA, portB, 'zkroot', 20);
  await waitFor('captured packets counted', async () => Number((await status())?.captured) >= before + 20, 15000);

  // The nodes are under the root given: config-sync wrote the config there, the listener its live node.
  const config = await configSync!.zk.getData(paths.config(agentId));
  assert.equal(JSON.parse(String(config?.data)).revision, 2);
  assert.equal(JSON.parse(String(config?.data)).bpfFilter, `udp port ${portB}`);
  const liveNode = await configSync!.zk.getData(paths.live(agentId));
  assert.ok(liveNode !== null, `the live node is at ${paths.live(agentId)}`);
  const live = liveStatusSchema.parse(JSON.parse(String(liveNode.data)));
  assert.equal(live.agentId, agentId);
  assert.equal(live.appliedRevision, 2);
  assert.equal(live.state, 'capturing');
  // (A config-sync of the default root elsewhere on the shared stack may mirror our row under /fleetcap too; only
  // the listener writes live nodes.)
  assert.equal(
    await configSync!.zk.exists(defaultPaths.live(agentId)),
    null,
    'no live node under the default /fleetcap',
  );
});

test('stopping the listener makes the agent offline', { skip }, async () => {
  await host?.listener?.stop();
  await waitFor('agent offline', async () => (await status())?.online === 0);
  assert.equal(await configSync!.zk.exists(paths.live(agentId)), null, 'the live node went with the session');
});
