import assert from 'node:assert/strict';
import { test } from 'node:test';
import { counter, createRegistry } from '../telemetry/metrics.ts';
import type { Checks } from './health.ts';
import { telemetryResponse } from './http-server.ts';

const registry = createRegistry('unit', { defaultMetrics: false });
counter(registry, 'fleetcap_unit_things_total', 'things').inc(3);

test('/metrics is the registry in Prometheus text, with the app label', async () => {
  const r = await telemetryResponse('GET', '/metrics', registry, () => ({}));
  assert.equal(r?.status, 200);
  assert.equal(r?.headers['content-type'], registry.contentType);
  assert.match(r?.body ?? '', /fleetcap_unit_things_total\{app="unit"\} 3/);
});

test('/healthz is {ok, checks}: 200 when every check is ok, 503 otherwise', async () => {
  let checks: Checks = { redis: 'ok', rabbitmq: 'ok' };
  const healthy = await telemetryResponse('GET', '/healthz?verbose=1', registry, () => checks);
  assert.equal(healthy?.status, 200);
  assert.equal(healthy?.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(healthy?.body ?? ''), { ok: true, checks });
  checks = { redis: 'ok', rabbitmq: 'down: connect ECONNREFUSED 127.0.0.1:5672' };
  const sick = await telemetryResponse('GET', '/healthz', registry, async () => checks);
  assert.equal(sick?.status, 503);
  assert.deepEqual(JSON.parse(sick?.body ?? ''), { ok: false, checks });
});

test('a health probe that throws is a failed check, not a failed request', async () => {
  const r = await telemetryResponse('GET', '/healthz', registry, () => {
    throw new Error('pool closed');
  });
  assert.equal(r?.status, 503);
  assert.deepEqual(JSON.parse(r?.body ?? ''), { ok: false, checks: { health: 'down: pool closed' } });
});

test('other methods are refused; other paths are not telemetry (the API or a 404 answers them)', async () => {
  const post = await telemetryResponse('POST', '/metrics', registry, () => ({}));
  assert.equal(post?.status, 405);
  assert.equal(post?.headers.allow, 'GET, HEAD');
  assert.equal((await telemetryResponse('HEAD', '/healthz', registry, () => ({})))?.status, 200);
  assert.equal(await telemetryResponse('GET', '/nope', registry, () => ({})), null);
  assert.equal(await telemetryResponse('POST', '/v1/batches', registry, () => ({})), null);
});
