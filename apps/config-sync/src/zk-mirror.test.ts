// The mirror's decisions against an in-memory ZooKeeper: create/set/delete, stale and replayed events, invalid rows
// reported instead of pushed, lost races retried, reconcile.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { LiveStatusReading } from '@fleetcap/lib/agent/live-status';
import { AgentPaths } from '@fleetcap/lib/agent/paths';
import type { SnifferConfigRow } from '@fleetcap/lib/config/agent-config';
import type { StatusStore } from './agent-status.ts';
import { parseChangeMessage, type RowChange } from './change-event.ts';
import { InMemoryZk } from './in-memory-zk.ts';
import { reconcile } from './reconcile.ts';
import { heldRevision, ZkMirror } from './zk-mirror.ts';

class FakeStatus implements StatusStore {
  errors = new Map<string, { message: string; revision: number | null }>();
  async recordConfigError(agentId: string, message: string, revision: number | null) {
    const cur = this.errors.get(agentId);
    if (!cur || cur.revision === null || revision === null || revision >= cur.revision)
      this.errors.set(agentId, { message, revision });
  }
  async clearConfigError(agentId: string, revision: number | null) {
    const cur = this.errors.get(agentId);
    if (cur && (cur.revision === null || revision === null || cur.revision <= revision)) this.errors.delete(agentId);
  }
  async upsertLive(_agentId: string, _live: LiveStatusReading) {}
  async markOffline(_agentId: string) {}
  async onlineAgents() {
    return [];
  }
}

const paths = new AgentPaths('/fleetcap');
const setup = () => {
  const zk = new InMemoryZk();
  const status = new FakeStatus();
  return { zk, status, mirror: new ZkMirror(zk, paths, status) };
};

const row = (agent: string, revision: number, extra: Partial<Record<string, unknown>> = {}): SnifferConfigRow => ({
  agent_id: agent,
  device: 'eth0',
  bpf_filter: 'tcp',
  splitcap_url: 'http://splitcap.example:8080',
  snaplen: 262144,
  batch_packets: 1000,
  batch_ms: 1000,
  upload_concurrency: 2,
  enabled: 1,
  revision,
  ...extra,
});
const upsert = (r: SnifferConfigRow, op: RowChange['op'] = 'update'): RowChange => ({
  format: 'debezium',
  op,
  agentId: String(r.agent_id),
  after: r,
  before: null,
  revision: Number(r.revision),
  sourceTsMs: null,
});
const del = (agent: string, revision: number): RowChange => ({
  format: 'debezium',
  op: 'delete',
  agentId: agent,
  after: null,
  before: row(agent, revision),
  revision,
  sourceTsMs: null,
});

test('create, set, unchanged, delete, absent', async () => {
  const { zk, mirror } = setup();
  const path = paths.config('a1');
  assert.equal(await mirror.apply(upsert(row('a1', 1), 'create')), 'created');
  assert.deepEqual(zk.json(path), {
    agentId: 'a1',
    device: 'eth0',
    bpfFilter: 'tcp',
    splitcapUrl: 'http://splitcap.example:8080',
    snaplen: 262144,
    batchPackets: 1000,
    batchMs: 1000,
    uploadConcurrency: 2,
    enabled: true,
    revision: 1,
  });
  assert.equal(await mirror.apply(upsert(row('a1', 2, { bpf_filter: 'udp' }))), 'updated');
  assert.equal(zk.json(path).bpfFilter, 'udp');
  assert.equal(await mirror.apply(upsert(row('a1', 2, { bpf_filter: 'udp' }))), 'unchanged');
  assert.equal(zk.writes, 2, 'a replay of the same revision writes nothing (the listener is not woken)');
  assert.equal(await mirror.apply(del('a1', 2)), 'deleted');
  assert.equal(zk.nodes.has(path), false);
  assert.equal(await mirror.apply(del('a1', 2)), 'absent');
});

test('an older revision than the node holds is skipped; so is a delete of an older row', async () => {
  const { zk, mirror } = setup();
  await mirror.apply(upsert(row('a2', 5, { bpf_filter: 'five' })));
  assert.equal(await mirror.apply(upsert(row('a2', 4, { bpf_filter: 'four' }))), 'stale');
  assert.equal(await mirror.apply(del('a2', 3)), 'stale');
  assert.equal(zk.json(paths.config('a2')).bpfFilter, 'five');
});

test('replaying a whole history from the start ends in the last state, including delete and re-insert', async () => {
  const history = [
    upsert(row('a3', 1, { bpf_filter: 'one' }), 'create'),
    upsert(row('a3', 2, { bpf_filter: 'two' })),
    del('a3', 2),
    upsert(row('a3', 1, { bpf_filter: 'again' }), 'create'),
    upsert(row('a3', 2, { bpf_filter: 'again-2' })),
  ];
  const { zk, mirror } = setup();
  for (const c of history) await mirror.apply(c);
  const final = zk.json(paths.config('a3'));
  assert.deepEqual([final.bpfFilter, final.revision], ['again-2', 2]);
  for (const c of history) await mirror.apply(c); // crash before commit: replay everything
  assert.deepEqual(zk.json(paths.config('a3')), final);
  for (const c of history.slice(3)) await mirror.apply(c); // replay of a suffix
  assert.deepEqual(zk.json(paths.config('a3')), final);
});

test('an invalid row is not pushed; the reason names column, value and rule; a later valid revision clears it', async () => {
  const { zk, status, mirror } = setup();
  await mirror.apply(upsert(row('a4', 1)));
  assert.equal(await mirror.apply(upsert(row('a4', 2, { batch_packets: -5 }))), 'invalid');
  assert.equal(zk.json(paths.config('a4')).revision, 1, 'the last valid config stays in force');
  const err = status.errors.get('a4');
  assert.equal(err?.revision, 2);
  assert.match(err?.message ?? '', /batch_packets = -5: batchPackets must be at least 1/);
  assert.equal(await mirror.apply(upsert(row('a4', 3, { splitcap_url: 'not a url', device: '' }))), 'invalid');
  assert.match(
    status.errors.get('a4')?.message ?? '',
    /splitcap_url = "not a url": splitcapUrl must be an absolute URL/,
  );
  assert.match(status.errors.get('a4')?.message ?? '', /device = "": device must be a network interface name/);
  assert.equal(await mirror.apply(upsert(row('a4', 4))), 'updated');
  assert.equal(status.errors.has('a4'), false);
  // A replay of the invalid revision after the valid one is stale, not reported again.
  assert.equal(await mirror.apply(upsert(row('a4', 2, { batch_packets: -5 }))), 'stale');
  assert.equal(status.errors.has('a4'), false);
});

test('an invalid first row creates nothing and is reported', async () => {
  const { zk, status, mirror } = setup();
  assert.equal(await mirror.apply(upsert(row('a5', 1, { upload_concurrency: 0 }), 'create')), 'invalid');
  assert.equal(zk.nodes.size, 0);
  assert.match(status.errors.get('a5')?.message ?? '', /upload_concurrency = 0: uploadConcurrency must be at least 1/);
  assert.equal(await mirror.apply(upsert(row('a/../x', 1), 'create')), 'invalid');
  assert.match(status.errors.get('a/../x')?.message ?? '', /agent_id = "a\/..\/x": agentId must be/);
});

test('a write that loses a race (version changed, node created) is decided again on fresh data', async () => {
  const { zk, mirror } = setup();
  await mirror.apply(upsert(row('a6', 1)));
  zk.beforeWrite = () => {
    const p = paths.config('a6');
    const n = zk.nodes.get(p)!;
    zk.nodes.set(p, {
      data: Buffer.from(JSON.stringify({ ...JSON.parse(n.data.toString()), revision: 9 })),
      version: n.version + 1,
    });
  };
  assert.equal(await mirror.apply(upsert(row('a6', 3))), 'stale', 'another writer put revision 9 in meanwhile');
  zk.beforeWrite = () => zk.nodes.set(paths.config('a7'), { data: Buffer.from('{"revision":1}'), version: 0 });
  assert.equal(await mirror.apply(upsert(row('a7', 2), 'create')), 'updated', 'NODE_EXISTS: read again and set');
  assert.equal(zk.json(paths.config('a7')).revision, 2);
});

test('concurrent applies for one agent are serialized', async () => {
  const { zk, mirror } = setup();
  await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((r) => mirror.apply(upsert(row('a8', r, { bpf_filter: `r${r}` })))));
  assert.equal(zk.json(paths.config('a8')).bpfFilter, 'r8');
});

test('recorded Debezium events drive the mirror end to end', async () => {
  const { zk, status, mirror } = setup();
  for (const name of ['create', 'update', 'update-negative-batch', 'update-bad-url']) {
    const value = JSON.parse(readFileSync(new URL(`./fixtures/debezium-${name}.json`, import.meta.url), 'utf8')).value;
    const parsed = parseChangeMessage(JSON.stringify(value));
    assert.equal(parsed.kind, 'changes');
    if (parsed.kind === 'changes') for (const c of parsed.changes) await mirror.apply(c);
  }
  const [agentId = ''] = (await zk.getChildren(paths.agents)) ?? [];
  assert.equal(zk.json(paths.config(agentId)).bpfFilter, 'udp port 53');
  assert.equal(status.errors.get(agentId)?.revision, 4);
  assert.match(status.errors.get(agentId)?.message ?? '', /splitcap_url = "not a url"/);
});

test('reconcile: creates missing, sets older, deletes orphans, overwrites a node newer than a re-inserted row', async () => {
  const { zk, mirror } = setup();
  await mirror.apply(upsert(row('r1', 1)));
  await mirror.apply(upsert(row('r2', 7, { bpf_filter: 'old life' })));
  await mirror.apply(upsert(row('orphan', 3)));
  const table = [
    row('r1', 4, { bpf_filter: 'four' }),
    row('r2', 1, { bpf_filter: 'new life' }),
    row('r3', 1),
    row('bad', 2, { snaplen: 5 }),
  ];
  const source = {
    allRows: async () => table,
    row: async (id: string) => table.find((r) => r.agent_id === id) ?? null,
  };
  const report = await reconcile(mirror, source);
  assert.deepEqual(
    {
      rows: report.rows,
      created: report.created,
      updated: report.updated,
      deleted: report.deleted,
      invalid: report.invalid,
    },
    { rows: 4, created: 1, updated: 2, deleted: 1, invalid: 1 },
  );
  assert.equal(zk.json(paths.config('r1')).bpfFilter, 'four');
  assert.equal(zk.json(paths.config('r2')).bpfFilter, 'new life');
  assert.equal(zk.json(paths.config('r3')).revision, 1);
  assert.equal(zk.nodes.has(paths.config('orphan')), false);
  assert.equal(zk.nodes.has(paths.config('bad')), false);
  const again = await reconcile(mirror, source);
  assert.equal(again.unchanged, 3, 'a second reconcile writes nothing');
});

test('heldRevision reads the revision of a config node, null for anything else', () => {
  assert.equal(heldRevision(Buffer.from('{"revision":12}')), 12);
  assert.equal(heldRevision(Buffer.from('{"revision":"12"}')), null);
  assert.equal(heldRevision(Buffer.from('nope')), null);
  assert.equal(heldRevision(null), null);
});

test('a change is set on the version last written, without a read; a node written by another meanwhile is read again', async () => {
  const { zk, mirror } = setup();
  const p = paths.config('a1');
  assert.equal(await mirror.apply(upsert(row('a1', 1), 'create')), 'created');
  let reads = 0;
  const getData = zk.getData.bind(zk);
  zk.getData = async (path: string) => {
    reads++;
    return getData(path);
  };
  assert.equal(await mirror.apply(upsert(row('a1', 2, { bpf_filter: 'udp' }))), 'updated');
  assert.equal(await mirror.apply(upsert(row('a1', 3, { bpf_filter: 'icmp' }))), 'updated');
  assert.equal(reads, 0, 'the versions it wrote are known: no read before the sets');
  // Another writer sets a newer revision: the set on the known version is refused, the node read, the event stale.
  const n = zk.nodes.get(p)!;
  await zk.setData(p, Buffer.from(JSON.stringify({ ...JSON.parse(n.data.toString()), revision: 9 })), n.version);
  assert.equal(await mirror.apply(upsert(row('a1', 4, { bpf_filter: 'tcp port 1' }))), 'stale');
  assert.ok(reads >= 1, 'decided on a fresh read');
  assert.equal(JSON.parse(zk.nodes.get(p)!.data.toString()).revision, 9, 'the newer node is kept');
  // An unchanged event is decided on a read too (only a write relies on the known version).
  reads = 0;
  mirror.forgetKnown();
  assert.equal(await mirror.apply(upsert(row('a1', 10, { bpf_filter: 'tcp port 2' }))), 'updated');
  assert.equal(reads, 1, 'after forgetKnown, one read');
  assert.equal(await mirror.apply(upsert(row('a1', 10, { bpf_filter: 'tcp port 2' }))), 'unchanged');
  assert.equal(reads, 2, 'unchanged was read, not taken from memory');
});
