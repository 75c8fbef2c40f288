// Several config-sync instances in one consumer group: the partitions are shared, every change lands once in
// ZooKeeper in order per agent, and when one instance dies (SIGKILL) the other takes its partitions over and
// nothing is lost.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ZkClient } from '@fleetcap/lib/zookeeper/client';
import { agentsOnEveryPartition, configSyncGroupEnv, deleteConsumerGroups, waiterFor } from '../helpers/config-sync.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, mariadbCli, uniqueId, zkConnect } from '../helpers/stack.ts';

const run = uniqueId('csg');
// The stream alone (configSyncGroupEnv: no reconcile), so the takeover must come from committed offsets.
const group = `itest-${run}`;
const env = configSyncGroupEnv(group);
// Two agents on each of the three partitions.
const agents = agentsOnEveryPartition(run);

let zk: ZkClient;
let apps: RunningApp[] = [];

async function revisionIn(id: string): Promise<number | null> {
  const node = await zk.getData(`/fleetcap/agents/${id}/config`);
  return node === null ? null : Number(JSON.parse(String(node.data)).revision);
}

const waitFor = waiterFor(() => apps.map((a) => a.output().slice(-2000)).join('\n---\n'), 40000);

async function eventsApplied(app: RunningApp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
  return [...text.matchAll(/^fleetcap_config_sync_events_total\{outcome="(?:created|updated)"[^}]*\} (\d+)/gm)].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
}

before(async () => {
  assertStackUp();
  zk = await zkConnect();
});

after(async () => {
  const list = agents.map((a) => `'${a}'`).join(',');
  mariadbCli(`DELETE FROM sniffer_config WHERE agent_id IN (${list})`);
  await waitFor(
    'config nodes deleted',
    async () => (await Promise.all(agents.map(revisionIn))).every((r) => r === null),
    20000,
  ).catch(() => undefined);
  await Promise.all(apps.map((a) => a.stop()));
  mariadbCli(`DELETE FROM agent_status WHERE agent_id IN (${list})`);
  for (const id of agents) {
    await zk.remove(`/fleetcap/agents/${id}/config`).catch(() => undefined);
    await zk.remove(`/fleetcap/agents/${id}`).catch(() => undefined);
  }
  await zk.close();
  await deleteConsumerGroups([group]);
});

test('two instances share the partitions; when one is killed the other takes over and nothing is lost', async () => {
  apps = [await startApp('config-sync', env, 30000), await startApp('config-sync', env, 30000)];
  // Both are members once the second join has settled: give the group a moment, then write.
  await new Promise((r) => setTimeout(r, 3000));
  mariadbCli(
    agents
      .map(
        (id) =>
          `INSERT INTO sniffer_config (agent_id, device, splitcap_url) VALUES ('${id}', 'eth0', 'http://127.0.0.1:8080');`,
      )
      .join('\n'),
  );
  await waitFor('all agents at revision 1', async () =>
    (await Promise.all(agents.map(revisionIn))).every((r) => r === 1),
  );
  const [a, b] = apps as [RunningApp, RunningApp];
  const [na, nb] = [await eventsApplied(a), await eventsApplied(b)];
  assert.ok(na > 0 && nb > 0, `both instances applied events (${na} + ${nb}): the partitions are shared`);
  assert.equal(na + nb, agents.length, 'each change applied once');

  const writer = (async () => {
    for (let i = 1; i <= 40; i++) {
      mariadbCli(
        agents.map((id) => `UPDATE sniffer_config SET bpf_filter='port ${i}' WHERE agent_id='${id}';`).join('\n'),
      );
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  await new Promise((r) => setTimeout(r, 700));
  a.child.kill('SIGKILL');
  await writer;
  await waitFor(
    'all agents at revision 41 after the takeover',
    async () => (await Promise.all(agents.map(revisionIn))).every((r) => r === 41),
    60000,
  );
  apps = [b];
});
