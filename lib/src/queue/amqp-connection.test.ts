// The connection manager's own logic (retry, loss, channel loss, close) against stand-in amqplib objects: no
// broker. The real RabbitMQ is exercised by the splitcap and session-worker integration tests.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { createLogger } from '../telemetry/logger.ts';
import { AmqpConnection, redactAmqpUrl } from './amqp-connection.ts';

class FakeChannel extends EventEmitter {}
class FakeConnection extends EventEmitter {
  closed = false;
  readonly channel = new FakeChannel();
  async createConfirmChannel() {
    return this.channel;
  }
  async close() {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }
}

function harness(outcomes: Array<'refused' | 'ok'>, setup: (ch: ConfirmChannel) => Promise<{ queue: string }>) {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  const made: FakeConnection[] = [];
  let lost = 0;
  const amqp = new AmqpConnection({
    urls: ['amqp://fleetcap:secret@127.0.0.1:5672'],
    log: createLogger('unit', { destination, env: {} }),
    setup,
    whileLost: 'uploads get 503 until it is back',
    onLost: () => lost++,
    reconnect: { baseMs: 10, maxMs: 20 },
    connect: async () => {
      const next = outcomes.shift() ?? 'ok';
      if (next === 'refused') throw new Error('connect ECONNREFUSED 127.0.0.1:5672');
      const c = new FakeConnection();
      made.push(c);
      return c as unknown as ChannelModel;
    },
  });
  return { amqp, lines, made, lost: () => lost };
}

async function until(what: string, ok: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a broker that is away: down with the error, retried with backoff until it answers', async () => {
  const h = harness(['refused', 'refused', 'ok'], async () => ({ queue: 'fleetcap.sessions.ready' }));
  assert.equal(await h.amqp.start(), false);
  assert.equal(h.amqp.connected, false);
  assert.equal(h.amqp.health(), 'down: connect ECONNREFUSED 127.0.0.1:5672');
  const warn = h.lines.find((l) => l.level === 'warn');
  assert.equal(warn?.msg, 'cannot reach RabbitMQ; retrying');
  assert.equal(warn?.url, 'amqp://127.0.0.1:5672', 'no credentials in the log');
  await until('connected', () => h.amqp.connected);
  assert.equal(h.amqp.health(), 'ok');
  assert.equal(h.amqp.lastError, '');
  assert.deepEqual(h.amqp.link?.value, { queue: 'fleetcap.sessions.ready' });
  assert.equal(h.lines.filter((l) => l.msg === 'cannot reach RabbitMQ; retrying').length, 2);
  assert.equal(h.lines.at(-1)?.msg, 'connected to RabbitMQ');
  await h.amqp.close();
});

test('a lost connection is reported, the setup runs again on the new channel', async () => {
  const channels: ConfirmChannel[] = [];
  const h = harness([], async (ch) => {
    channels.push(ch);
    return { queue: 'q' };
  });
  assert.equal(await h.amqp.start(), true);
  h.made[0]!.emit('error', new Error('CONNECTION_FORCED - broker forced connection closure'));
  await h.made[0]!.close();
  assert.equal(h.amqp.connected, false);
  assert.equal(h.amqp.health(), 'down: CONNECTION_FORCED - broker forced connection closure');
  assert.equal(h.lost(), 1);
  assert.ok(h.lines.some((l) => l.msg === 'RabbitMQ connection lost; uploads get 503 until it is back'));
  await until('reconnected', () => h.amqp.connected);
  assert.equal(channels.length, 2);
  assert.notEqual(channels[0], channels[1]);
  assert.equal(h.amqp.link?.channel, channels[1]);
  await h.amqp.close();
});

test('a channel the server closed takes the connection down and back up', async () => {
  const h = harness([], async () => ({ queue: 'q' }));
  await h.amqp.start();
  h.made[0]!.channel.emit('error', new Error('PRECONDITION_FAILED'));
  h.made[0]!.channel.emit('close');
  await until('first connection closed', () => h.made[0]!.closed);
  await until('reconnected', () => h.amqp.connected && h.made.length === 2);
  await h.amqp.close();
});

test('a setup that fails closes its connection and is retried', async () => {
  let calls = 0;
  const h = harness([], async () => {
    if (++calls === 1) throw new Error('PRECONDITION_FAILED - inequivalent arg x-queue-type');
    return { queue: 'q' };
  });
  assert.equal(await h.amqp.start(), false);
  assert.ok(h.made[0]!.closed);
  assert.match(h.amqp.health(), /^down: PRECONDITION_FAILED/);
  assert.equal(h.lost(), 0, 'never up, so never lost');
  await until('connected', () => h.amqp.connected);
  await h.amqp.close();
});

test('close() closes the connection and nothing reconnects', async () => {
  const h = harness([], async () => ({ queue: 'q' }));
  await h.amqp.start();
  await h.amqp.close();
  assert.ok(h.made[0]!.closed);
  assert.equal(h.amqp.connected, false);
  assert.equal(h.lost(), 0);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(h.made.length, 1);
});

test('stopReconnecting: a loss after it stays lost', async () => {
  const h = harness([], async () => ({ queue: 'q' }));
  await h.amqp.start();
  h.amqp.stopReconnecting();
  await h.made[0]!.close();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(h.made.length, 1);
  assert.equal(h.amqp.connected, false);
});

test('redactAmqpUrl drops the credentials only', () => {
  assert.equal(redactAmqpUrl('amqp://u:p%40ss@rabbit:5672/vhost'), 'amqp://rabbit:5672/vhost');
  assert.equal(redactAmqpUrl('amqp://rabbit'), 'amqp://rabbit');
});

test("a broker's consumer cancel (null delivery) reconnects, and health says why meanwhile", async () => {
  let deliver: ((msg: unknown) => void) | undefined;
  const seen: string[] = [];
  let setups = 0;
  const h = harness([], async (ch) => {
    setups++;
    (ch as unknown as { consume: unknown }).consume = async (_q: string, fn: (msg: unknown) => void) => {
      deliver = fn;
      return { consumerTag: `tag-${setups}` };
    };
    await h.amqp.consume(ch, 'fleetcap.sessions.ready', (m) => seen.push(String(m.content)));
    return { queue: 'fleetcap.sessions.ready' };
  });
  await h.amqp.start();
  deliver!({ content: Buffer.from('one') });
  assert.deepEqual(seen, ['one']);
  deliver!(null);
  assert.equal(h.amqp.connected, false, 'not healthy while the consumer is gone');
  assert.match(String(h.amqp.health()), /RabbitMQ cancelled the consumer of fleetcap\.sessions\.ready/);
  assert.equal(h.lines.find((l) => l.code === 'queue.consumer-cancelled')?.queue, 'fleetcap.sessions.ready');
  await until('reconnected', () => h.amqp.connected && setups === 2);
  assert.equal(h.made[0]!.closed, true, 'the old connection is closed (its deliveries go back)');
  assert.equal(h.amqp.health(), 'ok');
  await h.amqp.close();
});

test('several nodes: a refusing node is passed over in the same attempt, and after a loss the lost node is tried last', async () => {
  const urls = ['amqp://u:p@n1:5701', 'amqp://u:p@n2:5702', 'amqp://u:p@n3:5703'];
  const down = new Set(['n1']);
  const tried: string[] = [];
  const made: FakeConnection[] = [];
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  const amqp = new AmqpConnection({
    urls,
    log: createLogger('unit', { destination, env: {} }),
    setup: async () => ({ queue: 'q' }),
    whileLost: 'uploads get 503 until it is back',
    reconnect: { baseMs: 10, maxMs: 20 },
    connect: async (url) => {
      const host = new URL(url).hostname;
      tried.push(host);
      if (down.has(host)) throw new Error(`connect ECONNREFUSED ${host}`);
      const c = new FakeConnection();
      made.push(c);
      return c as unknown as ChannelModel;
    },
  });
  assert.equal(await amqp.start(), true, 'the first attempt reaches n2');
  assert.deepEqual(tried, ['n1', 'n2']);
  assert.equal(amqp.nodeUrl, 'amqp://n2:5702');
  down.clear();
  down.add('n2');
  tried.length = 0;
  await made[0]!.close();
  const lost = lines.find((l) => String(l.msg).startsWith('RabbitMQ connection lost'));
  assert.equal(lost?.url, 'amqp://n2:5702');
  assert.equal(lost?.nextUrl, 'amqp://n3:5703');
  await until('reconnected', () => amqp.connected);
  assert.deepEqual(tried, ['n3'], 'the node after the lost one first');
  assert.equal(amqp.nodeUrl, 'amqp://n3:5703');
  down.add('n1');
  down.add('n3');
  tried.length = 0;
  await made[1]!.close();
  await until('three refusals', () => tried.length >= 3);
  assert.deepEqual(tried.slice(0, 3), ['n1', 'n2', 'n3'], 'every node once per attempt, the lost one last');
  assert.match(amqp.lastError, /^amqp:\/\/n1:5701: connect ECONNREFUSED n1; amqp:\/\/n2:5702: .*; amqp:\/\/n3:5703: /);
  assert.ok(!JSON.stringify(lines).includes('u:p@'), 'no credentials in the log');
  down.clear();
  await until('back', () => amqp.connected);
  await amqp.close();
});
