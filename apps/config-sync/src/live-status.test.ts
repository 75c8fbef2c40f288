// Reading the listener's live node leniently: every usable field is kept, problems end up in lastError.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLiveStatus } from './live-status.ts';

test('a full live node as the listener writes it (extra fields ignored)', () => {
  const live = parseLiveStatus(
    JSON.stringify({
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
    }),
  );
  assert.deepEqual(live, {
    pid: 10,
    appliedRevision: 7,
    state: 'capturing',
    lastError: null,
    counters: { captured: 5, kernelDrops: 1, batchesUploaded: 2, spooled: 3, spoolDropped: 4 },
  });
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
  assert.deepEqual(live.counters, { captured: 0, kernelDrops: 2, batchesUploaded: 0, spooled: 0, spoolDropped: 0 });
});

test('empty, non-JSON and non-object nodes', () => {
  assert.equal(parseLiveStatus(null).lastError, 'live node is empty');
  assert.equal(parseLiveStatus('').lastError, 'live node is empty');
  assert.match(parseLiveStatus('{oops').lastError ?? '', /^live node is not JSON: /);
  assert.equal(parseLiveStatus('[1]').lastError, 'live node is not a JSON object');
  assert.equal(parseLiveStatus('{"counters": 5}').counters.captured, 0);
});
