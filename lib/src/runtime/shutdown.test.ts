import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../telemetry/logger.ts';
import { Shutdown } from './shutdown.ts';

function harness(deadlineMs: number) {
  const lines: Array<{ level: string; msg: string; [k: string]: unknown }> = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  const signals = new EventEmitter();
  const exits: number[] = [];
  let exited!: () => void;
  const done = new Promise<void>((r) => {
    exited = r;
  });
  const shutdown = new Shutdown({
    log: createLogger('unit', { destination, env: {} }),
    doing: 'finishing the work in hand',
    deadlineMs,
    signalSource: signals,
    exit: (code) => {
      exits.push(code);
      exited();
    },
  });
  return { shutdown, signals, exits, lines, done };
}

test('SIGTERM runs the close steps in the order added, then exits 0', async () => {
  const h = harness(1000);
  const order: string[] = [];
  h.shutdown
    .add('http server', async () => {
      await new Promise((r) => setTimeout(r, 10));
      order.push('http server');
    })
    .add('queue', () => {
      order.push('queue');
    });
  assert.equal(h.shutdown.stopping, false);
  h.signals.emit('SIGTERM');
  h.signals.emit('SIGINT'); // a second signal does not start a second stop
  assert.equal(h.shutdown.stopping, true);
  assert.equal(await h.shutdown.requested, 'SIGTERM');
  await h.done;
  assert.deepEqual(order, ['http server', 'queue']);
  assert.deepEqual(h.exits, [0]);
  assert.equal(h.lines[0]!.msg, 'shutting down: finishing the work in hand');
  assert.equal(h.lines[0]!.reason, 'SIGTERM');
  assert.equal(h.lines.at(-1)!.msg, 'stopped');
});

test('a step that fails is logged and the next steps still run', async () => {
  const h = harness(1000);
  const ran: string[] = [];
  h.shutdown
    .add('kafka', () => {
      throw new Error('broker gone');
    })
    .add('pool', () => {
      ran.push('pool');
    });
  void h.shutdown.stop('SIGINT');
  await h.done;
  assert.deepEqual(ran, ['pool']);
  assert.deepEqual(h.exits, [0]);
  const warn = h.lines.find((l) => l.level === 'warn');
  assert.equal(warn?.step, 'kafka');
  assert.equal(warn?.err, 'broker gone');
});

test('past the deadline: an error naming the stuck step, exit 1, and the steps after it never run', async () => {
  const h = harness(50);
  let later = false;
  h.shutdown
    .add('drain uploads', () => new Promise((r) => setTimeout(r, 200)))
    .add('after', () => {
      later = true;
    });
  void h.shutdown.stop('SIGTERM');
  await h.done;
  assert.deepEqual(h.exits, [1]);
  const error = h.lines.find((l) => l.level === 'error');
  assert.equal(error?.msg, 'did not stop within 0.05 s (stuck at: drain uploads); exiting');
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(later, false);
  assert.deepEqual(h.exits, [1], 'no second exit once the steps return');
});

test('an app can stop for its own reason and exit code', async () => {
  const h = harness(1000);
  void h.shutdown.stop('capture ended: tcpdump exited with code 1', 1);
  await h.done;
  assert.deepEqual(h.exits, [1]);
  assert.equal(h.lines[0]!.reason, 'capture ended: tcpdump exited with code 1');
});
