// session-worker with the real Redis, RabbitMQ, MariaDB, splitcap and forecast: sessions uploaded
// through splitcap end as exactly one verdict row each (one per agent that saw the conversation, with its
// Community ID), on the delayed and the immediate path, through worker crashes, a forecast outage and poison
// messages (and messages of the layout before agent-scoped sessions); a forecast that refuses requests (limits lower than
// the worker's batch or splitcap's sessions) gets split batches and dead-lettered sessions, never retries.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TCP_ACK, TCP_FIN } from '@fleetcap/lib/packet/decode';
import { sessionQueueNames } from '@fleetcap/lib/queue/topology';
import { communityId } from '@fleetcap/lib/session-record/community-id';
import { sessionKeys } from '@fleetcap/lib/session-store/layout';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';
import { redisKeysWithPrefix, removePipelineNamespace } from '../helpers/namespace.ts';
import { type RunningApp, startApp } from '../helpers/processes.ts';
import { assertStackUp, connections, mysqlAs, uniqueId } from '../helpers/stack.ts';
import { type SyntheticSession, syntheticCapture, syntheticPackets } from '../helpers/synthetic-sessions.ts';
import { postBatch } from '../helpers/upload.ts';

const prefix = uniqueId('wk').replace(/[^A-Za-z0-9]/g, '');
const agent = uniqueId('wagent').slice(0, 60);
/** A second agent that sees some of the same conversations (the other end, say). */
const agent2 = uniqueId('wagent2').slice(0, 60);
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
  // Connection records are completed (and their keys freed) soon after the sessions go quiet.
  FLEETCAP_RECORD_SWEEP_MS: '500',
  FLEETCAP_TCP_INACTIVITY_TIMEOUT_S: '1',
  FLEETCAP_UDP_INACTIVITY_TIMEOUT_S: '1',
});
const startForecast = () => startApp('forecast', { FLEETCAP_FORECAST_PORT: String(forecastPort) }, 30000);

async function upload(
  pcap: Buffer,
  batchId: string,
  splitcapPort = splitcap.port,
  as = agent,
): Promise<Record<string, unknown>> {
  const res = await postBatch(splitcapPort, { agent: as, token }, batchId, pcap);
  const text = await res.text();
  assert.equal(res.status, 202, text);
  return JSON.parse(text) as Record<string, unknown>;
}

interface Row {
  session_key: string;
  agent_id: string;
  community_id: string;
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

async function rowsFor(keys: string[], agents = [agent]): Promise<Row[]> {
  if (keys.length === 0) return [];
  const [rows] = await db.query({
    sql: 'SELECT * FROM session_verdict WHERE agent_id IN (?) AND session_key IN (?)',
    values: [agents, keys],
  });
  return rows as Row[];
}

/** Until there is a row for each key (of each agent). */
async function waitForRows(keys: string[], withinMs: number, agents = [agent]): Promise<Row[]> {
  const deadline = Date.now() + withinMs;
  let rows: Row[] = [];
  while (Date.now() < deadline) {
    rows = await rowsFor(keys, agents);
    if (rows.length >= keys.length * agents.length) return rows;
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
      FLEETCAP_SPLITCAP_TOKENS: `${agent}=${token},${agent2}=${token}`,
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
  await db?.query('DELETE FROM session_verdict WHERE agent_id IN (?)', [[agent, agent2]]);
  await db?.end();
  redis?.disconnect();
  await removePipelineNamespace(prefix, DELAY_MS);
});

const communityIdOf = (s: SyntheticSession) =>
  communityId({
    protocol: s.proto === 'tcp' ? 6 : 17,
    src: s.client.address,
    sport: s.client.port,
    dst: s.server.address,
    dport: s.server.port,
  });

function checkRow(row: Row | undefined, s: SyntheticSession, reason: string): void {
  assert.ok(row, `${s.key}: a verdict row`);
  assert.equal(row.community_id, communityIdOf(s), `${s.key}: Community ID`);
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
      const k = sessionKeys({ agent, key: s.key }, prefix);
      assert.equal(await redis.exists(k.packets, k.meta, k.batches), 0, `${s.key}: keys freed`);
      assert.equal(await redis.exists(k.done), 1, `${s.key}: done marker`);
    }
  });

  test('one conversation from two agents: a row each with one Community ID; one agent’s verdict does not end the other’s session', async () => {
    const {
      pcap,
      sessions: [c],
    } = syntheticCapture([{ proto: 'tcp', packets: 5 }], seed++);
    const s = c!;
    const fin = syntheticPackets(s, [{ fromClient: true, tsUs: s.lastUs + 1000, tcpFlags: TCP_FIN | TCP_ACK }]);
    // The first agent's session closes and gets its verdict (done marker set) before the second agent uploads.
    await upload(pcap, 'two-agents-1');
    await upload(fin.pcap, 'two-agents-2');
    const [first] = await waitForRows([s.key], 10000);
    assert.equal(first?.reason, 'closed');
    assert.equal(await redis.exists(sessionKeys({ agent, key: s.key }, prefix).done), 1, 'first agent: done');
    // The same packets from the second agent: its own session, not swallowed by the first agent's done marker.
    const stored = await upload(pcap, 'two-agents-1', splitcap.port, agent2);
    assert.equal(stored.packetsStored, 5, JSON.stringify(stored));
    assert.equal((stored.skipped as { sessionDone: number }).sessionDone, 0, 'no packet dropped as done');
    await upload(fin.pcap, 'two-agents-2', splitcap.port, agent2);
    const rows = await waitForRows([s.key], 10000, [agent, agent2]);
    assert.deepEqual(rows.map((r) => r.agent_id).sort(), [agent, agent2].sort(), 'a row for each agent');
    const both = { ...s, packets: 6, bytes: s.bytes + fin.bytes, lastUs: s.lastUs + 1000 };
    for (const r of rows) checkRow(r, both, 'closed');
    assert.equal(rows[0]!.community_id, rows[1]!.community_id);
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
    // Records are completed after 1 s of quiet (a look every 0.5 s), then the done markers expire.
    const deadline = Date.now() + (DONE_TTL + 10) * 1000;
    while ((await sessionKeysLeft()).length > 0 && Date.now() < deadline) await sleep(500);
    assert.deepEqual(
      await sessionKeysLeft(),
      [],
      'no session keys once the records are completed and the done markers expired',
    );
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
    // A message of a splitcap from before agent-scoped sessions (no communityId): its session, if any, is in the
    // old layout, which the worker does not read.
    channel.sendToQueue(
      queues.ready,
      Buffer.from(
        JSON.stringify({ key: 'tcp/10.0.0.1/1/10.0.0.2/2', reason: 'delay', occurrence: 1, agent, enqueuedAt: 1 }),
      ),
      { persistent: true },
    );
    const reasons: string[] = [];
    const deadline = Date.now() + 10000;
    while (reasons.length < 3 && Date.now() < deadline) {
      const m = await channel.get(queues.dead, { noAck: true });
      if (m) reasons.push(String(m.properties.headers?.['x-fleetcap-reason']));
      else await sleep(100);
    }
    assert.equal(reasons.length, 3);
    assert.match(reasons.join('\n'), /message body is not JSON/);
    assert.match(reasons.join('\n'), /reason: Invalid enum value/);
    assert.match(
      reasons.join('\n'),
      /message of a splitcap from before agent-scoped sessions \(no communityId\): its session is in the old Redis layout/,
    );
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
