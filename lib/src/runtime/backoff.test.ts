import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay, retryWait } from './backoff.ts';

const opts = { baseMs: 100, maxMs: 2000 };

test('backoff grows exponentially up to the cap, with jitter in the upper half of the exponential value', () => {
  assert.equal(
    backoffDelay(1, opts, () => 0),
    50,
  );
  assert.equal(
    backoffDelay(1, opts, () => 1),
    100,
  );
  assert.equal(
    backoffDelay(2, opts, () => 1),
    200,
  );
  assert.equal(
    backoffDelay(4, opts, () => 1),
    800,
  );
  assert.equal(
    backoffDelay(10, opts, () => 1),
    2000,
  );
  assert.equal(
    backoffDelay(1000, opts, () => 1),
    2000,
    'no overflow for huge attempt numbers',
  );
  for (let a = 1; a < 12; a++) {
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(a, opts);
      const ceiling = Math.min(2000, 100 * 2 ** (a - 1));
      assert.ok(d >= 50 && d >= ceiling / 2 && d <= ceiling, `attempt ${a}: ${d}`);
    }
  }
});

test("the session-worker's retry timing: 200 ms doubling to 10 s", () => {
  const worker = { baseMs: 200, maxMs: 10_000 };
  assert.equal(
    backoffDelay(1, worker, () => 0),
    100,
  );
  assert.equal(
    backoffDelay(1, worker, () => 1),
    200,
  );
  assert.equal(
    backoffDelay(4, worker, () => 1),
    1600,
  );
  assert.equal(
    backoffDelay(30, worker, () => 1),
    10_000,
  );
});

test("the listener's restart timing: 1 s doubling to 30 s, by the number of recent crashes", () => {
  const restart = { baseMs: 1000, maxMs: 30_000 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7].map((crashes) => backoffDelay(crashes, restart, () => 1)),
    [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000],
  );
  assert.equal(
    backoffDelay(2, restart, () => 0),
    1000,
  );
});

test('the wait honours a longer Retry-After, within the cap', () => {
  assert.equal(
    retryWait(1, opts, 1500, 10_000, () => 1),
    1500,
  );
  assert.equal(
    retryWait(1, opts, 60_000, 10_000, () => 1),
    10_000,
  );
  assert.equal(
    retryWait(3, opts, 10, 10_000, () => 1),
    400,
  );
  assert.equal(
    retryWait(3, opts, undefined, 10_000, () => 1),
    400,
  );
});
