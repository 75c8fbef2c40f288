// session-worker with the real Redis, RabbitMQ, MariaDB, splitcap and forecast: sessions uploaded
// through splitcap end as exactly one verdict row each, on the delayed and the immediate path, through
// worker crashes, a forecast outage and poison messages; a forecast that refuses requests (limits lower than
// the worker's batch or splitcap's sessions) gets split batches and dead-lettered sessions, never retries.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sessionQueueNames } from '@fleetcap/lib/queue/topology';
import { sessionKeys } from '@fleetcap/lib/session-store/layout';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';
import { redisKeysWithPrefix, removePipelineNamespace } from '../helpers/namespace.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, connections, mysqlAs, uniqueId } from '../helpers/stack.ts';
import { type SyntheticSession, syntheticCapture } from '../helpers/synthetic-sessions.ts';
import { postBatch } from '../helpers/upload.ts';

const prefix = uniqueId('wk').replace(/[^A-Za-z0-9]/g, '');
const agent = uniqueId('wagent').slice(0, 60);
const token = 'worker-test-token-123';
const DELAY_MS = 1000;
const DONE_TTL = 3;
const queues = sessionQueueNames(prefix, DELAY_MS);

let redis: Redis;
let db: mysql.Connection;
let amqpConn: amqp.ChannelModel;
let channel: amqp.Channel;
let splitcap: RunningApp;
let forecast: RunningApp;
let forecastPort: number;
const workers: RunningApp[] = [];
let seed = 1;

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

const workerEnv = () => ({
  FLEETCAP_FORECAST_URL: `http://127.0.0.1:${forecastPort}`,
  FLEETCAP_REDIS_PREFIX: prefix,
  FLEETCAP_QUEUE_PREFIX: prefix,
  FLEETCAP_DONE_TTL_SECONDS: String(DONE_TTL),
  FLEETCAP_WORKER_PORT: '0',
  FLEETCAP_WORKER_BATCH_MS: '10',
});
const startForecast = () => startApp('forecast', { FLEETCAP_FORECAST_PORT: String(forecastPort) }, 30000);

async function upload(pcap: Buffer, batchId: string, splitcapPort = splitcap.port): Promise<void> {
  const res = await postBatch(splitcapPort, { agent, token }, batchId, pcap);
  assert.equal(res.status, 202, await res.text());
}

interface Row {
  session_key: string;
  client_addr: string;
  client_port: number;
  server_addr: string;
  server_port: number;
  protocol: string;
  packets: number;
  bytes: number;
  first_packet_at: string;
  last_packet_at: string;
  reason: string;
  label: string;
  score: number;
  model_version: string;
}

async function rowsFor(keys: string[]): Promise<Row[]> {
  if (keys.length === 0) return [];
  const [rows] = await db.query({
    sql: 'SELECT * FROM session_verdict WHERE agent_id = ? AND session_key IN (?)',
    values: [agent, keys],
  });
  return rows as Row[];
}

async function waitForRows(keys: string[], withinMs: number): Promise<Row[]> {
  const deadline = Date.now() + withinMs;
  let rows: Row[] = [];
  while (Date.now() < deadline) {
    rows = await rowsFor(keys);
    if (rows.length >= keys.length) return rows;
    await sleep(200);
  }
  return rows;
}

const sessionKeysLeft = () => redisKeysWithPrefix(redis, prefix, 's:*');

function utc(us: number): string {
  return `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 19).replace('T', ' ')}.${String(us % 1_000_000).padStart(6, '0')}`;
}

before(async () => {
  assertStackUp();
  redis = new Redis(connections.redisUrl);
  db = await mysqlAs('admin', { dateStrings: true });
  amqpConn = await amqp.connect(connections.amqpUrl);
  channel = await amqpConn.createChannel();
  forecastPort = await freePort();
  [splitcap, forecast] = await Promise.all([
    startApp('splitcap', {
      FLEETCAP_SPLITCAP_PORT: '0',
      FLEETCAP_SPLITCAP_TOKENS: `${agent}=${token}`,
      FLEETCAP_REDIS_PREFIX: prefix,
      FLEETCAP_QUEUE_PREFIX: prefix,
      FLEETCAP_SESSION_DELAY_MS: String(DELAY_MS),
    }),
    startForecast(),
  ]);
  workers.push(await startApp('session-worker', workerEnv()), await startApp('session-worker', workerEnv()));
});

after(async () => {
  for (const w of workers) await w.stop();
  await splitcap?.stop();
  await forecast?.stop();
  await amqpConn?.close();
  await db?.query('DELETE FROM session_verdict WHERE agent_id = ?', [agent]);
  await db?.end();
  redis?.disconnect();
  await removePipelineNamespace(prefix, DELAY_MS);
});

function checkRow(row: Row | undefined, s: SyntheticSession, reason: string): void {
  assert.ok(row, `${s.key}: a verdict row`);
  assert.equal(row.protocol, s.proto);
  assert.equal(row.client_addr, s.client.address, `${s.key}: the initiator is the client`);
  assert.equal(row.client_port, s.client.port);
  assert.equal(row.server_addr, s.server.address);
  assert.equal(row.server_port, s.server.port);
  assert.equal(row.packets, s.packets, `${s.key}: packets`);
  assert.equal(Number(row.bytes), s.bytes, `${s.key}: bytes`);
  assert.equal(row.first_packet_at, utc(s.firstUs), `${s.key}: first packet time`);
  assert.equal(row.last_packet_at, utc(s.lastUs), `${s.key}: last packet time`);
  assert.equal(row.reason, reason, `${s.key}: reason`);
  assert.ok(row.label.length > 0 && row.score >= 0 && row.score <= 1 && row.model_version.length > 0);
}

describe('session-worker end to end', () => {
  test('sessions become verdict rows with the right endpoints, counts and times, on the delayed and immediate paths', async () => {
    const { pcap, sessions } = syntheticCapture(
      [
        { proto: 'udp', packets: 2 },
        { proto: 'tcp', packets: 5 },
        { proto: 'tcp', packets: 6, close: true },
        { proto: 'tcp', packets: 30 },
      ],
      seed++,
    );
    await upload(pcap, 'paths-1');
    const rows = await waitForRows(
      sessions.map((s) => s.key),
      DELAY_MS + 15000,
    );
    const byKey = new Map(rows.map((r) => [r.session_key, r]));
    checkRow(byKey.get(sessions[0]!.key), sessions[0]!, 'delay');
    checkRow(byKey.get(sessions[1]!.key), sessions[1]!, 'delay');
    checkRow(byKey.get(sessions[2]!.key), sessions[2]!, 'closed');
    checkRow(byKey.get(sessions[3]!.key), sessions[3]!, 'full');
    // Freed once stored, and marked done so late packets do not reopen them.
    await sleep(300);
    for (const s of sessions) {
      const k = sessionKeys(s.key, prefix);
      assert.equal(await redis.exists(k.packets, k.meta, k.batches), 0, `${s.key}: keys freed`);
      assert.equal(await redis.exists(k.done), 1, `${s.key}: done marker`);
    }
  });

  test('kill -9 of a worker at random moments, 20 trials: exactly one row per session, no keys left', async () => {
    const all: SyntheticSession[] = [];
    for (let trial = 0; trial < 20; trial++) {
      const { pcap, sessions } = syntheticCapture(
        [
          { proto: 'tcp', packets: 24 },
          { proto: 'tcp', packets: 7, close: true },
          { proto: 'udp', packets: 3 },
          { proto: 'tcp', packets: 40 },
          { proto: 'udp', packets: 24 },
        ],
        1000 + trial,
      );
      all.push(...sessions);
      await upload(pcap, `crash-${trial}`);
      await sleep(Math.floor(Math.random() * 400));
      const victim = Math.floor(Math.random() * workers.length);
      workers[victim]!.child.kill('SIGKILL');
      workers[victim] = await startApp('session-worker', workerEnv());
    }
    const keys = all.map((s) => s.key);
    const rows = await waitForRows(keys, DELAY_MS + 60000);
    const perKey = new Map<string, number>();
    for (const r of rows) perKey.set(r.session_key, (perKey.get(r.session_key) ?? 0) + 1);
    assert.equal(perKey.size, keys.length, 'every session has a row');
    for (const [k, n] of perKey) assert.equal(n, 1, `${k}: exactly one row`);
    await sleep((DONE_TTL + 1) * 1000);
    assert.deepEqual(await sessionKeysLeft(), [], 'no session keys once the done markers expired');
  });

  test('forecast down: nothing is lost, and the verdicts arrive once it is back', async () => {
    await forecast.stop();
    const { pcap, sessions } = syntheticCapture(
      [
        { proto: 'tcp', packets: 24 },
        { proto: 'udp', packets: 4 },
      ],
      seed++,
    );
    await upload(pcap, 'outage-1');
    await sleep(DELAY_MS + 2500);
    assert.deepEqual(await rowsFor(sessions.map((s) => s.key)), [], 'no verdict while forecast is down');
    const metrics = await (await fetch(`http://127.0.0.1:${workers[0]!.port}/metrics`)).text();
    const metrics2 = await (await fetch(`http://127.0.0.1:${workers[1]!.port}/metrics`)).text();
    assert.match(metrics + metrics2, /fleetcap_worker_retries_total\{[^}]*stage="forecast"[^}]*\} [1-9]/);
    forecast = await startForecast();
    const rows = await waitForRows(
      sessions.map((s) => s.key),
      30000,
    );
    assert.equal(rows.length, sessions.length);
  });

  test('a poison message goes to the dead-letter queue with its reason', async () => {
    channel.sendToQueue(queues.ready, Buffer.from('{"key":"not a session"'), { persistent: true });
    channel.sendToQueue(
      queues.ready,
      Buffer.from(JSON.stringify({ key: 'tcp/a/1/b/2', reason: 'soon', occurrence: 1, agent, enqueuedAt: 1 })),
      {
        persistent: true,
      },
    );
    const reasons: string[] = [];
    const deadline = Date.now() + 10000;
    while (reasons.length < 2 && Date.now() < deadline) {
      const m = await channel.get(queues.dead, { noAck: true });
      if (m) reasons.push(String(m.properties.headers?.['x-fleetcap-reason']));
      else await sleep(100);
    }
    assert.equal(reasons.length, 2);
    assert.match(reasons.join('\n'), /message body is not JSON/);
    assert.match(reasons.join('\n'), /reason: Invalid enum value/);
  });
});

describe('session-worker with a forecast that refuses requests', () => {
  // A pipeline of its own (prefix, splitcap, forecast with low limits, one worker with batches of 16), so the
  // workers above do not take its messages.
  const prefix2 = uniqueId('wkr').replace(/[^A-Za-z0-9]/g, '');
  const queues2 = sessionQueueNames(prefix2, DELAY_MS);
  let splitcap2: RunningApp;
  let forecast2: RunningApp | undefined;
  let forecast2Port: number;
  let worker2: RunningApp;
  const startLimitedForecast = async (limits: Record<string, string>) => {
    await forecast2?.stop();
    forecast2 = await startApp('forecast', { FLEETCAP_FORECAST_PORT: String(forecast2Port), ...limits }, 30000);
  };
  const workerMetrics = async () => (await fetch(`http://127.0.0.1:${worker2.port}/metrics`)).text();
  const splitWarnings = () =>
    worker2
      .output()
      .split('\n')
      .filter((l) => l.includes('forecast refused a batch; classifying it in halves'));

  before(async () => {
    forecast2Port = await freePort();
    [splitcap2] = await Promise.all([
      startApp('splitcap', {
        FLEETCAP_SPLITCAP_PORT: '0',
        FLEETCAP_SPLITCAP_TOKENS: `${agent}=${token}`,
        FLEETCAP_REDIS_PREFIX: prefix2,
        FLEETCAP_QUEUE_PREFIX: prefix2,
        FLEETCAP_SESSION_DELAY_MS: String(DELAY_MS),
      }),
      startLimitedForecast({ FLEETCAP_FORECAST_MAX_SESSIONS: '3' }),
    ]);
    worker2 = await startApp('session-worker', {
      ...workerEnv(),
      FLEETCAP_FORECAST_URL: `http://127.0.0.1:${forecast2Port}`,
      FLEETCAP_REDIS_PREFIX: prefix2,
      FLEETCAP_QUEUE_PREFIX: prefix2,
      FLEETCAP_WORKER_BATCH_SIZE: '16',
      FLEETCAP_WORKER_BATCH_MS: '300',
    });
  });

  after(async () => {
    await worker2?.stop();
    await splitcap2?.stop();
    await forecast2?.stop();
    await removePipelineNamespace(prefix2, DELAY_MS);
  });

  test('batches over forecast’s FLEETCAP_FORECAST_MAX_SESSIONS are split: every session gets exactly one row', async () => {
    const { pcap, sessions } = syntheticCapture(
      Array.from({ length: 40 }, (_, i) => ({
        proto: i % 3 === 0 ? ('udp' as const) : ('tcp' as const),
        packets: 2 + (i % 4),
      })),
      5001,
    );
    await upload(pcap, 'split-1', splitcap2.port);
    const keys = sessions.map((s) => s.key);
    const rows = await waitForRows(keys, DELAY_MS + 30000);
    const perKey = new Map<string, number>();
    for (const r of rows) perKey.set(r.session_key, (perKey.get(r.session_key) ?? 0) + 1);
    assert.equal(perKey.size, keys.length, 'every session has a row');
    for (const [k, n] of perKey) assert.equal(n, 1, `${k}: exactly one row`);
    const warnings = splitWarnings();
    assert.ok(warnings.length > 0, `split warnings in the worker's log:\n${worker2.output()}`);
    assert.match(warnings[0]!, /must hold at most 3 sessions per request/);
    assert.match(warnings[0]!, /"sessions":\d+/);
    const metrics = await workerMetrics();
    assert.match(metrics, /fleetcap_worker_forecast_splits_total\{[^}]*\} [1-9]/);
    assert.doesNotMatch(metrics, /fleetcap_worker_retries_total\{[^}]*stage="forecast"/, 'a refusal is never retried');
    assert.equal((await channel.checkQueue(queues2.dead)).messageCount, 0, 'nothing dead-lettered');
  });

  test('sessions over forecast’s FLEETCAP_FORECAST_MAX_PACKETS are dead-lettered with the reason; the others get rows', async () => {
    const splitsBefore = splitWarnings().length;
    await startLimitedForecast({ FLEETCAP_FORECAST_MAX_PACKETS: '8' });
    // Sessions of 12 stored packets and one of 30 (24 stored, the immediate path, then its delayed message
    // for the same occurrence) are over 8; those of 3-5 packets are not.
    const specs = Array.from({ length: 20 }, (_, i) => ({
      proto: 'tcp' as const,
      packets: i % 5 === 1 ? 12 : 3 + (i % 3),
    }));
    specs.push({ proto: 'tcp', packets: 30 });
    const started = Date.now();
    const { pcap, sessions } = syntheticCapture(specs, 5002);
    await upload(pcap, 'refuse-1', splitcap2.port);
    const big = new Set(sessions.filter((s) => s.packets > 8).map((s) => s.key));
    const small = sessions.filter((s) => s.packets <= 8).map((s) => s.key);
    assert.equal(big.size, 5);

    const rows = await waitForRows(small, DELAY_MS + 30000);
    assert.deepEqual(rows.map((r) => r.session_key).sort(), [...small].sort(), 'one row for each small session');
    const dead = new Map<string, string[]>();
    const deadline = Date.now() + DELAY_MS + 20000;
    // Until every big session's messages are in: both of the 30-packet session's (full, then delay).
    const expected = big.size + 1;
    let got = 0;
    while (got < expected && Date.now() < deadline) {
      const m = await channel.get(queues2.dead, { noAck: true });
      if (!m) {
        await sleep(100);
        continue;
      }
      got++;
      const key = (JSON.parse(m.content.toString()) as { key: string }).key;
      dead.set(key, [...(dead.get(key) ?? []), String(m.properties.headers?.['x-fleetcap-reason'])]);
    }
    assert.deepEqual([...dead.keys()].sort(), [...big].sort(), 'exactly the big sessions are dead-lettered');
    assert.equal(got, expected, 'the 30-packet session has two messages, both dead-lettered');
    for (const [key, reasons] of dead) {
      for (const reason of reasons) {
        assert.match(
          reason,
          /^forecast refused the session \(400 sessions\[0\]\.packets: must hold at most 8 packets\): /,
          key,
        );
        assert.match(reason, /FLEETCAP_FORECAST_MAX_PACKETS >= splitcap's FLEETCAP_SESSION_MAX_PACKETS/, key);
      }
    }
    assert.deepEqual(await rowsFor([...big]), [], 'no row for a refused session');
    assert.ok(splitWarnings().length > splitsBefore, 'batches holding a big session were split');
    await sleep(1000);
    const ready = await channel.checkQueue(queues2.ready);
    assert.equal(ready.messageCount, 0, 'nothing left in the ready queue');
    const metrics = await workerMetrics();
    assert.match(metrics, /fleetcap_worker_forecast_rejections_total\{[^}]*status="400"[^}]*\} 6\n/);
    assert.doesNotMatch(metrics, /fleetcap_worker_retries_total\{[^}]*stage="forecast"/, 'a refusal is never retried');
    assert.doesNotMatch(worker2.output(), /forecast failed; retrying/);
    assert.ok(Date.now() - started < 30000, 'done in bounded time');
  });
});
