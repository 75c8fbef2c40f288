// The status mirror against an in-memory ZooKeeper with one-shot watches: agents found through the children watch,
// live nodes followed through exists watches that are re-armed every time, offline on vanish, resync repairs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LiveStatusReading } from '@fleetcap/lib/agent/live-status';
import { AgentPaths } from '@fleetcap/lib/agent/paths';
import type { StatusStore } from './agent-status.ts';
import { InMemoryZk } from './in-memory-zk.ts';
import { StatusMirror } from './status-mirror.ts';

class FakeStore implements StatusStore {
  rows = new Map<string, { online: boolean; live?: LiveStatusReading }>();
  writes = 0;
  async recordConfigError() {}
  async clearConfigError() {}
  async upsertLive(agentId: string, live: LiveStatusReading) {
    this.writes++;
    this.rows.set(agentId, { online: true, live });
  }
  async markOffline(agentId: string) {
    this.writes++;
    const r = this.rows.get(agentId);
    if (r) r.online = false;
  }
  async onlineAgents() {
    return [...this.rows].filter(([, r]) => r.online).map(([id]) => id);
  }
}

const quiet = { debug: () => {}, warn: (o: object, m: string) => assert.fail(`${m} ${JSON.stringify(o)}`) };
const settle = () => new Promise((r) => setTimeout(r, 20));
const live = (rev: number, captured = 0) =>
  JSON.stringify({ pid: 7, appliedRevision: rev, state: 'capturing', lastError: null, counters: { captured } });

test('live nodes appear, change and vanish; watches are re-armed each time and do not pile up', async () => {
  const zk = new InMemoryZk();
  const store = new FakeStore();
  const paths = new AgentPaths('/fleetcap');
  const mirror = new StatusMirror(zk, paths, store, quiet, undefined, 60_000);
  await mirror.start();
  assert.ok(zk.nodes.has('/fleetcap/agents'), 'the agents node is created');

  await zk.mkdirp('/fleetcap/agents/h1');
  zk.set('/fleetcap/agents/h1/live', live(1));
  await settle();
  assert.equal(store.rows.get('h1')?.online, true);
  assert.equal(store.rows.get('h1')?.live?.appliedRevision, 1);

  for (let i = 2; i <= 5; i++) {
    zk.set('/fleetcap/agents/h1/live', live(i, i * 10));
    await settle();
  }
  assert.equal(store.rows.get('h1')?.live?.appliedRevision, 5, 'every change seen: the watch was re-armed');
  assert.equal(store.rows.get('h1')?.live?.counters.captured, 50);
  assert.equal(zk.watchCount(), 1, 'one watch per agent, not one per event');

  zk.delete('/fleetcap/agents/h1/live');
  await settle();
  assert.equal(store.rows.get('h1')?.online, false, 'a vanished live node: offline');
  zk.set('/fleetcap/agents/h1/live', live(6));
  await settle();
  assert.equal(store.rows.get('h1')?.online, true, 'and back online when it comes back');

  zk.delete('/fleetcap/agents/h1');
  await settle();
  assert.equal(store.rows.get('h1')?.online, false, 'the whole agent node removed: offline');
  mirror.stop();
});

test('resync sets offline what agent_status shows online without a live node, and survives a new session', async () => {
  const zk = new InMemoryZk();
  const store = new FakeStore();
  store.rows.set('ghost', { online: true });
  const mirror = new StatusMirror(zk, new AgentPaths('/fleetcap'), store, quiet, undefined, 60_000);
  await mirror.start();
  assert.equal(store.rows.get('ghost')?.online, false);

  await zk.mkdirp('/fleetcap/agents/h2');
  zk.set('/fleetcap/agents/h2/live', live(3));
  await settle();
  const writes = store.writes;
  zk.emit('session'); // a new session: watches are gone; everything is read again
  await settle();
  assert.ok(store.writes > writes);
  zk.set('/fleetcap/agents/h2/live', live(4));
  await settle();
  assert.equal(store.rows.get('h2')?.live?.appliedRevision, 4);
  mirror.stop();
});
