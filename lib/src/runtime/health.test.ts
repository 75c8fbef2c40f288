import assert from 'node:assert/strict';
import { test } from 'node:test';
import { check, describeChecks, healthReport, isHealthReport, probeHealth } from './health.ts';

test('a report is ok only when every check is ok; no checks is ok', () => {
  assert.deepEqual(healthReport({ a: 'ok', b: 'ok' }), { ok: true, checks: { a: 'ok', b: 'ok' } });
  assert.equal(healthReport({ a: 'ok', b: 'down: gone' }).ok, false);
  assert.equal(healthReport({}).ok, true);
});

test('check() says ok or down with the reason', () => {
  assert.equal(check(true, 'never shown'), 'ok');
  assert.equal(check(false, 'no ZooKeeper connection'), 'down: no ZooKeeper connection');
});

test('probeHealth turns a throwing probe into a failed check', async () => {
  assert.deepEqual(await probeHealth(async () => ({ mysql: 'ok' })), { ok: true, checks: { mysql: 'ok' } });
  assert.deepEqual(
    await probeHealth(() => {
      throw new Error('boom');
    }),
    { ok: false, checks: { health: 'down: boom' } },
  );
});

test('isHealthReport and describeChecks read a /healthz body for people', () => {
  assert.ok(isHealthReport({ ok: false, checks: { redis: 'down: x' } }));
  assert.ok(!isHealthReport({ ok: true, modelVersion: 'v1' }));
  assert.ok(!isHealthReport(null));
  assert.equal(describeChecks({ redis: 'ok', rabbitmq: 'down: connecting' }), 'redis ok, rabbitmq down: connecting');
  assert.equal(describeChecks({}), 'no dependencies to check');
});
