import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { startTelemetryServer, telemetryPortFromEnv } from './http.ts';
import { createLogger } from './logger.ts';
import { counter, createRegistry } from './metrics.ts';

test('logger writes JSON lines with app, pid and level label', () => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const log = createLogger('unit', { destination, env: { FLEETCAP_LOG_LEVEL: 'debug' } });
  log.debug({ x: 1 }, 'hello');
  const line = JSON.parse(lines[0]!);
  assert.equal(line.app, 'unit');
  assert.equal(line.pid, process.pid);
  assert.equal(line.level, 'debug');
  assert.equal(line.msg, 'hello');
  assert.equal(line.x, 1);
});

test('a bad FLEETCAP_LOG_LEVEL falls back to info with a warning', () => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  createLogger('unit', { destination, env: { FLEETCAP_LOG_LEVEL: 'loud' } });
  assert.match(lines[0]!, /not a pino level/);
});

test('port from env: empty is the fallback, bad values throw, 0 disables', async () => {
  assert.equal(telemetryPortFromEnv('P', {}), 0);
  assert.equal(telemetryPortFromEnv('P', { P: '9100' }), 9100);
  assert.throws(() => telemetryPortFromEnv('P', { P: 'x' }), /P="x": must be a port number/);
  assert.equal(
    await startTelemetryServer({
      registry: createRegistry('t', { defaultMetrics: false }),
      health: () => ({ ok: true }),
      port: 0,
    }),
    null,
  );
});

test('/metrics and /healthz answer on loopback', async () => {
  const registry = createRegistry('unit', { defaultMetrics: false });
  const c = counter(registry, 'fleetcap_unit_things_total', 'things');
  c.inc(3);
  let ok = true;
  const server = await startTelemetryServer({ registry, health: () => ({ ok, state: ok ? 'fine' : 'bad' }), port: -1 });
  assert.ok(server);
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /fleetcap_unit_things_total\{app="unit"\} 3/);
    const healthy = await fetch(`${base}/healthz`);
    assert.equal(healthy.status, 200);
    assert.deepEqual(await healthy.json(), { ok: true, state: 'fine' });
    ok = false;
    const sick = await fetch(`${base}/healthz`);
    assert.equal(sick.status, 503);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  } finally {
    await server.close();
  }
});
