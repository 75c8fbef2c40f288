// waitForDrain (checks.ts), the fault run's and the cluster run's end, on a scripted probe: it waits while something is
// pending, and when it gives up its message names everything still pending.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type DrainProbe, waitForDrain } from './checks.ts';

function scripted(states: Array<{ queued?: number; keys?: number; rows?: number; spooled?: number }>): DrainProbe {
  let i = 0;
  const at = () => states[Math.min(i, states.length - 1)]!;
  return {
    queueDepths: async () => ({ 'sessions.ready.q': at().queued ?? 0, 'sessions.sweep.q': -1 }),
    sessionKeys: async () => Array.from({ length: at().keys ?? 0 }, (_, k) => `p:s:{a}:udp/${k}`),
    openRows: async () => at().rows ?? 0,
    // Read last in each poll: the next poll sees the next state.
    spooled: () => {
      const n = at().spooled ?? 0;
      i++;
      return n;
    },
  };
}

test('drained once queues, session keys, open rows and spools are all empty (a missing queue holds nothing)', async () => {
  const r = await waitForDrain(scripted([{ queued: 3, keys: 2, rows: 1, spooled: 4 }, { keys: 1 }, { rows: 1 }, {}]), {
    deadlineMs: 5000,
    pollMs: 1,
  });
  assert.equal(r.drained, true, r.pending);
  assert.equal(r.pending, '');
});

test('at the deadline the message lists every kind of thing still pending', async () => {
  const r = await waitForDrain(scripted([{ queued: 3, keys: 2, rows: 1, spooled: 4 }]), { deadlineMs: 50, pollMs: 5 });
  assert.equal(r.drained, false);
  assert.match(r.pending, /deadline of 0 s passed/);
  assert.match(r.pending, /sessions\.ready\.q=3/);
  assert.doesNotMatch(r.pending, /sweep/);
  assert.match(r.pending, /2 session keys in Redis \(such as p:s:\{a\}:udp\/0, p:s:\{a\}:udp\/1\)/);
  assert.match(r.pending, /1 verdict rows with an open connection record/);
  assert.match(r.pending, /4 batches still in the agents' spools/);
  assert.equal(r.sessionKeys, 2);
  assert.equal(r.openRows, 1);
});

test('a stall ends the wait before the deadline; unreadable servers count as pending', async () => {
  const t0 = Date.now();
  const r = await waitForDrain(
    {
      queueDepths: async () => {
        throw new Error('RabbitMQ down');
      },
      sessionKeys: async () => [],
      openRows: async () => 0,
    },
    { deadlineMs: 60_000, stallMs: 50, pollMs: 5 },
  );
  assert.equal(r.drained, false);
  assert.ok(Date.now() - t0 < 5000);
  assert.match(r.pending, /nothing drained for 0 s/);
  assert.match(r.pending, /queue depths unreadable/);
});
