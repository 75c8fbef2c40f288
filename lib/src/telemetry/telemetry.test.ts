import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
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

test('every registry labels its series with the app and refuses a metric not named fleetcap_*', async () => {
  const registry = createRegistry('unit', { defaultMetrics: false });
  counter(registry, 'fleetcap_unit_things_total', 'things').inc(3);
  assert.match(await registry.metrics(), /fleetcap_unit_things_total\{app="unit"\} 3/);
  assert.throws(() => counter(registry, 'things_total', 'things'), /metric things_total is not named fleetcap_/);
});

test("the default process metrics are prefixed like the apps' own", async () => {
  const text = await createRegistry('unit').metrics();
  assert.match(text, /^fleetcap_process_cpu_seconds_total\{app="unit"\}/m);
  assert.match(text, /^fleetcap_nodejs_heap_size_used_bytes\{app="unit"\}/m);
  assert.doesNotMatch(text, /^process_/m);
});
