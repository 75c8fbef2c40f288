// The live node: what the listener writes fits the schema and reads back whole; read leniently, every usable field
// is kept and problems end up in lastError.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyCounters } from './ipc.ts';
import { encodeLiveStatus, type LiveStatus, liveStatusSchema, parseLiveStatus } from './live-status.ts';

const written: LiveStatus = {
  agentId: 'h1',
  pid: 10,
  snifferPid: 11,
  hostname: 'h1',
  appliedRevision: 7,
  state: 'capturing',
  lastError: null,
  counters: {
    captured: 5,
    kernelDrops: 1,
    batchesUploaded: 2,
    spooled: 3,
    spoolDropped: 4,
    spoolDroppedPackets: 9,
    rejected: 0,
  },
  updatedAt: '2026-11-24T12:00:00.000Z',
};

test('a full live node as the listener writes it reads back field for field', () => {
  const data = encodeLiveStatus(written);
  assert.deepEqual(liveStatusSchema.parse(JSON.parse(data.toString())), written);
  const live = parseLiveStatus(data);
  assert.deepEqual(live, written);
  assert.deepEqual(
    { pid: live.pid, appliedRevision: live.appliedRevision, state: live.state, lastError: live.lastError },
    { pid: 10, appliedRevision: 7, state: 'capturing', lastError: null },
  );
  assert.deepEqual([live.counters.captured, live.counters.kernelDrops, live.counters.batchesUploaded], [5, 1, 2]);
  assert.deepEqual([live.counters.spooled, live.counters.spoolDropped], [3, 4]);
});

test('a waiting listener with no sniffer and no revision yet fits the schema', () => {
  const waiting: LiveStatus = {
    ...written,
    snifferPid: null,
    appliedRevision: null,
    state: 'waiting',
    lastError: 'no config at /fleetcap/agents/h1/config yet; waiting',
    counters: emptyCounters(),
  };
  assert.equal(liveStatusSchema.safeParse(waiting).success, true);
  assert.deepEqual(parseLiveStatus(encodeLiveStatus(waiting)), waiting);
  assert.equal(liveStatusSchema.safeParse({ ...waiting, state: 'restarting' }).success, false);
});

test('extra fields are ignored', () => {
  const live = parseLiveStatus(JSON.stringify({ ...written, newField: 1 }));
  assert.deepEqual(live, written);
});

test('odd fields become NULL or 0, an unknown state is reported', () => {
  const live = parseLiveStatus(
    Buffer.from(
      JSON.stringify({
        pid: 'x',
        appliedRevision: -1,
        state: 'restarting',
        lastError: 'bad filter',
        counters: { captured: -3, kernelDrops: 2 },
      }),
    ),
  );
  assert.equal(live.pid, null);
  assert.equal(live.appliedRevision, null);
  assert.equal(live.state, null);
  assert.equal(live.lastError, 'bad filter; unknown state "restarting"');
  assert.deepEqual(live.counters, {
    captured: 0,
    kernelDrops: 2,
    batchesUploaded: 0,
    spooled: 0,
    spoolDropped: 0,
    spoolDroppedPackets: 0,
    rejected: 0,
  });
  assert.equal(live.agentId, null, 'missing fields are null');
  assert.equal(live.updatedAt, null);
});

test('empty, non-JSON and non-object nodes', () => {
  assert.equal(parseLiveStatus(null).lastError, 'live node is empty');
  assert.equal(parseLiveStatus('').lastError, 'live node is empty');
  assert.match(parseLiveStatus('{oops').lastError ?? '', /^live node is not JSON: /);
  assert.equal(parseLiveStatus('[1]').lastError, 'live node is not a JSON object');
  assert.equal(parseLiveStatus('{"counters": 5}').counters.captured, 0);
});
