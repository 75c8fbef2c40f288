// config-sync no longer holds a partition for ever on a change event it cannot apply (stop 17's fault run: the retry
// loop never ended, the group dropped the member, no later change arrived). A real config-sync, ZooKeeper and the
// change stream: the agent node of one agent lets nobody create children (a write ZooKeeper refuses with NO_AUTH,
// which waiting cannot fix), and a second agent's row on the same partition comes after it. The second agent's config
// must still arrive, the refused event be counted and logged as dead-lettered, and the first agent's config arrive
// once its node is writable again. Before the fix the second config never came (the first event retried for ever).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AgentPaths } from '@fleetcap/lib/agent/paths';
import { ZkPermission } from '@fleetcap/lib/zookeeper/acl';
import {
  type ConfigSyncUnderTest,
  configSyncGroupEnv,
  insertCaptureConfig,
  snifferConfigPartition,
  startConfigSync,
  waiterFor,
} from '../helpers/config-sync.ts';
import { assertStackUp, mariadbCli, uniqueId } from '../helpers/stack.ts';

const run = uniqueId('csretry').slice(0, 40);
const group = uniqueId('itest-csretry');
const paths = new AgentPaths();
// Two agents of one partition: the refused one first.
const refused = `${run}-a`;
let behind = '';
for (let i = 0; !behind; i++)
  if (snifferConfigPartition(`${run}-b${i}`) === snifferConfigPartition(refused)) behind = `${run}-b${i}`;
let configSync: ConfigSyncUnderTest | undefined;
const waitFor = waiterFor(() => `config-sync:\n${configSync?.app.output().slice(-3000)}`, 30_000);

async function metric(name: string, labels: string): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${configSync!.app.port}/metrics`).then((r) => r.text());
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

before(async () => {
  assertStackUp();
  configSync = await startConfigSync(group, configSyncGroupEnv(group), 90_000);
  const { zk } = configSync;
  await zk.mkdirp(paths.agents);
  // World may read it but create nothing under it: config-sync's create of the config node gets NO_AUTH.
  await zk.create(paths.agent(refused), null, undefined, [
    { scheme: 'world', id: 'anyone', permissions: ZkPermission.READ | ZkPermission.DELETE | ZkPermission.ADMIN },
  ]);
});

after(async () => {
  await configSync?.close({ agents: [refused, behind], zkTrees: [paths.agent(refused), paths.agent(behind)] });
});

test('a change event ZooKeeper refuses is dead-lettered after a few attempts; the partition goes on', {
  timeout: 120_000,
}, async () => {
  const { zk } = configSync!;
  insertCaptureConfig(refused, 'eth0', 'udp port 9');
  insertCaptureConfig(behind, 'eth0', 'udp port 10');
  const t0 = Date.now();
  await waitFor(`${behind}'s config (on the partition of the refused event) in ZooKeeper`, () =>
    zk.exists(paths.config(behind)),
  );
  console.log(`# ${behind}'s config arrived ${Date.now() - t0} ms after the rows`);
  assert.equal(await zk.exists(paths.config(refused)), null, 'the refused config was not written');
  // Events of different agents are applied side by side, so the second config can arrive while the refused event
  // is still between its attempts: its dead-lettering is waited for, not expected at once.
  await waitFor(
    'the refused event counted as dead-lettered',
    async () => (await metric('fleetcap_config_sync_events_total', 'outcome="dead-lettered"')) >= 1,
  );
  assert.match(configSync!.app.output(), /"code":"config-sync\.event-dead-lettered"/);

  // Writable again: the next change of that agent is applied (the consumer is still a member and consuming).
  await zk.remove(paths.agent(refused));
  mariadbCli(`UPDATE sniffer_config SET bpf_filter='udp port 11' WHERE agent_id='${refused}'`);
  const data = await waitFor(`${refused}'s config after its node became writable`, () =>
    zk.getData(paths.config(refused)),
  );
  assert.match(String(data.data), /udp port 11/);
});
