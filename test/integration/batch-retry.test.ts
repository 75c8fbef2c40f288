// A batch retried after its session's occurrence was finished (issue 19: "after DONE_TTL a retried batch starts a
// second occurrence of the same session"; the fault run's duplicate verdicts): splitcap's first attempt stores the
// batch and then fails (RabbitMQ unreachable: 503), the session-worker classifies and finishes the occurrence from an
// earlier message, the done marker expires, and only then does the agent's retry come. The retry must resume after
// the append (the receipt key says what the append decided) instead of storing the packets in a new occurrence.
// Real Redis and RabbitMQ of the stack, splitcap's Ingest and the worker's SessionFinisher in this process.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConnections } from '@fleetcap/lib/config/connections';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { encodeSessionMessage, type SessionMessage } from '@fleetcap/lib/queue/session-message';
import { connectRedis } from '@fleetcap/lib/redis/connect';
import { sessionKeyOf } from '@fleetcap/lib/session/key';
import { ConnRecord } from '@fleetcap/lib/session-record/conn-state';
import { SessionFinisher } from '@fleetcap/lib/session-store/finisher';
import { META, sessionKeys } from '@fleetcap/lib/session-store/layout';
import { RecordStore } from '@fleetcap/lib/session-store/record-store';
import { SessionWriter } from '@fleetcap/lib/session-store/writer';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import { ForecastClient } from '@fleetcap/session-worker/forecast-client';
import { createWorkerMetrics } from '@fleetcap/session-worker/metrics';
import { BatchProcessor, type FinishedSession } from '@fleetcap/session-worker/processor';
import { decodeBatch } from '@fleetcap/splitcap/batch-decoder';
import { ConnectionRecorder } from '@fleetcap/splitcap/connection-recorder';
import { Ingest } from '@fleetcap/splitcap/ingest';
import { createMetrics } from '@fleetcap/splitcap/metrics';
import { Scheduler, SchedulerUnavailable } from '@fleetcap/splitcap/scheduler';
import mysql from 'mysql2/promise';
import { removePipelineNamespace } from '../helpers/namespace.ts';
import { accounts, assertStackUp, connections, uniqueId } from '../helpers/stack.ts';

const prefix = uniqueId('rty').replace(/[^A-Za-z0-9]/g, '');
const agent = uniqueId('retry-agent').slice(0, 60);
const DELAY_MS = 60_000;
const log = createLogger('batch-retry-test', { level: 'silent' });
const splitcapRedis = connectRedis(loadConnections(process.env, 'splitcap').redisUrl, undefined);
const workerRedis = connectRedis(loadConnections(process.env, 'session-worker').redisUrl, undefined);
const schedulers: Scheduler[] = [];

after(async () => {
  for (const s of schedulers) await s.close();
  splitcapRedis.disconnect();
  workerRedis.disconnect();
  await removePipelineNamespace(prefix, DELAY_MS).catch(() => {});
});

/** One UDP packet of each of these sessions (client ports), captured now, from 10.77.<net>.1 to 10.77.<net>.2:53. */
function batchOf(net: number, ports: number[]): { body: Buffer; keys: string[] } {
  const writer = new PcapWriter({ linktype: 1, nanosecond: false });
  const us = Date.now() * 1000;
  const [src, dst] = [`10.77.${net}.1`, `10.77.${net}.2`];
  for (const sport of ports) {
    const frame = buildPacket({ proto: 'udp', src, sport, dst, dport: 53 });
    writer.write({ tsSec: Math.floor(us / 1e6), tsNsec: (us % 1e6) * 1000, data: frame, origLen: frame.length });
  }
  return { body: writer.toBuffer(), keys: ports.map((p) => sessionKeyOf('udp', src, p, dst, 53)) };
}

function oneSessionBatch(): { body: Buffer; key: string } {
  const { body, keys } = batchOf(1, [40123]);
  return { body, key: keys[0]! };
}

function sessionWriter(): SessionWriter {
  return new SessionWriter(splitcapRedis, {
    prefix,
    maxPacketsPerSession: 24,
    sessionTtlSeconds: 3600,
    receiptTtlSeconds: 3600,
  });
}

function scheduler(amqpUrl: string): Scheduler {
  const s = new Scheduler({ amqpUrls: [amqpUrl], queuePrefix: prefix, delayMs: DELAY_MS, maxReadyDepth: 10_000 }, log);
  schedulers.push(s);
  return s;
}

test('a batch retried after its occurrence was finished and its done marker expired stores nothing twice', async () => {
  assertStackUp();
  const store = sessionWriter();
  const metrics = createMetrics();
  const { body, key } = oneSessionBatch();
  const keys = sessionKeys({ agent, key }, prefix);

  // The first attempt: the append runs, the publish fails (no RabbitMQ at this address): the agent gets a 503.
  const away = scheduler('amqp://127.0.0.1:1');
  await assert.rejects(new Ingest(store, away, metrics).ingest(agent, 'b-1', body), SchedulerUnavailable);
  const occurrence = Number(await workerRedis.hget(keys.meta, META.occurrence));
  assert.ok(occurrence > 0, 'the first attempt stored the session');

  // The worker classifies the occurrence (from another batch's message) and finishes it; the done marker expires.
  await new SessionFinisher(workerRedis, prefix, 1).finish([{ agent, key, occurrence }]);
  await sleep(1500);
  assert.equal(await workerRedis.exists(keys.done), 0, 'the done marker expired');

  // The retry, with RabbitMQ back: accepted, and the packet is not stored in a second occurrence.
  const up = scheduler(connections.amqpUrl);
  await up.start();
  const result = await new Ingest(store, up, metrics).ingest(agent, 'b-1', body);
  assert.equal(result.packetsStored, 1, 'the answer reports what the first attempt stored');
  assert.equal(await workerRedis.exists(keys.meta), 0, 'no second occurrence of the session was started');
  assert.equal(await workerRedis.zcard(keys.packets), 0, 'no packet stored again');
  const resumed = (await metrics.batches.get()).values.find((v) => v.labels.outcome === 'resumed');
  assert.equal(resumed?.value, 1, 'counted as a resumed batch');

  // A third attempt (the 202 was lost) is a duplicate.
  const again = await new Ingest(store, up, metrics).ingest(agent, 'b-1', body);
  assert.equal(again.duplicate, true);
});

test('a straggler whose done marker expired between its append and its record write starts no record', async () => {
  assertStackUp();
  // The append found the done marker (status done: nothing stored); by the record write it had expired. A record
  // started now would belong to no occurrence: never looked at, never in a row, its packets counted nowhere.
  const key = sessionKeyOf('udp', '10.77.2.1', 40124, '10.77.2.2', 53);
  const records = new RecordStore(splitcapRedis, prefix);
  const [status] = await records.write(
    [{ agent, key, mode: 'start', occurrence: 1, initiator: 0, communityId: '1:x', record: 'r', ended: false }],
    'b-2',
    Date.now(),
    60,
  );
  assert.equal(status, 'done', 'refused: no occurrence of the session is being stored');
  assert.equal(await workerRedis.exists(sessionKeys({ agent, key }, prefix).record), 0, 'no record was started');
});

test('a retry after the records were completed counts no straggler for the packets its first attempt recorded', async () => {
  assertStackUp();
  const store = sessionWriter();
  const metrics = createMetrics();
  const records = new RecordStore(splitcapRedis, prefix);
  const recorder = new ConnectionRecorder(records, { ttlSeconds: 3600 }, metrics, log);
  const up = scheduler(connections.amqpUrl);
  await up.start();
  // Session A is classified and finished; its record lives on (it takes the packets after the verdict).
  const first = batchOf(3, [41001]);
  await new Ingest(store, up, metrics, { recorder }).ingest(agent, 'c-0', first.body);
  const a = first.keys[0]!;
  const occurrence = Number(await workerRedis.hget(sessionKeys({ agent, key: a }, prefix).meta, META.occurrence));
  await new SessionFinisher(workerRedis, prefix, 60).finish([{ agent, key: a, occurrence }]);

  // The next batch: A's packet goes to its record (after the verdict), B is new; the publish of B's message fails.
  const next = batchOf(3, [41001, 41002]);
  const away = scheduler('amqp://127.0.0.1:1');
  await assert.rejects(new Ingest(store, away, metrics, { recorder }).ingest(agent, 'c-1', next.body));
  const [read] = await records.read([{ agent, key: a }]);
  const stored = (read as { record?: { version: number; record: string } }).record!;
  assert.ok(stored, "A's record took the packet");

  // The sweeper completes A's connection (claim, row, release) before the retry comes.
  assert.deepEqual(await records.claim([{ agent, key: a, version: stored.version }]), [true]);
  assert.deepEqual(await records.release([{ agent, key: a, occurrence }], 60), [true]);

  await new Ingest(store, up, metrics, { recorder }).ingest(agent, 'c-1', next.body);
  const stragglers = (await metrics.dropped.get()).values.find((v) => v.labels.reason === 'straggler');
  assert.equal(stragglers?.value ?? 0, 0, "A's packet is in its completed row, not a counted drop");
});

/** The packets a session's connection record holds now (0 when it has none). */
async function recordedPackets(records: RecordStore, key: string): Promise<number> {
  const [read] = await records.read([{ agent, key }]);
  const stored = (read as { record?: { record: string } }).record;
  if (!stored) return 0;
  const record = ConnRecord.deserialize(stored.record);
  return record.origPkts + record.respPkts;
}

test("a batch that comes after a finished occurrence's done marker expired, while its record is open, goes to that record", async () => {
  assertStackUp();
  // The sweeper keeps the done marker alive at each look while the connection lives; a look that comes late (a worker
  // killed, RabbitMQ restarting, a loaded host) let it expire, and the next batch started a second occurrence whose
  // verdict counted packets the first row's record counted too (the fault run's duplicate verdicts).
  const store = sessionWriter();
  const metrics = createMetrics();
  const records = new RecordStore(splitcapRedis, prefix);
  const recorder = new ConnectionRecorder(records, { ttlSeconds: 3600 }, metrics, log);
  const up = scheduler(connections.amqpUrl);
  await up.start();
  const first = batchOf(4, [42001]);
  const key = first.keys[0]!;
  const keys = sessionKeys({ agent, key }, prefix);
  await new Ingest(store, up, metrics, { recorder }).ingest(agent, 'd-0', first.body);
  const occurrence = Number(await workerRedis.hget(keys.meta, META.occurrence));
  await new SessionFinisher(workerRedis, prefix, 1).finish([{ agent, key, occurrence }]);
  await sleep(1500);
  assert.equal(await workerRedis.exists(keys.done), 0, 'the done marker expired');

  const result = await new Ingest(store, up, metrics, { recorder }).ingest(agent, 'd-1', batchOf(4, [42001]).body);
  assert.equal(await workerRedis.exists(keys.meta), 0, 'no second occurrence was started');
  assert.equal(result.skipped.sessionDone, 1, 'the packet is not stored for a verdict');
  assert.equal(await recordedPackets(records, key), 2, "the open record took it: it is in the first occurrence's row");
  const stragglers = (await metrics.dropped.get()).values.find((v) => v.labels.reason === 'straggler');
  assert.equal(stragglers?.value ?? 0, 0, 'not counted as dropped: it is in a row');
});

test("a retry resumed after its occurrence was finished and a new one began adds nothing to the new one's record", async () => {
  assertStackUp();
  const store = sessionWriter();
  const metrics = createMetrics();
  const records = new RecordStore(splitcapRedis, prefix);
  const recorder = new ConnectionRecorder(records, { ttlSeconds: 3600 }, metrics, log);
  const up = scheduler(connections.amqpUrl);
  await up.start();
  const first = batchOf(5, [43001]);
  const key = first.keys[0]!;
  const keys = sessionKeys({ agent, key }, prefix);
  await new Ingest(store, up, metrics, { recorder }).ingest(agent, 'e-0', first.body);
  const occurrence = Number(await workerRedis.hget(keys.meta, META.occurrence));

  // The next batch's first attempt: its append runs, then splitcap is killed before the record writes (what the
  // attempt leaves: the packet stored and the applied receipt).
  const killed = batchOf(5, [43001]);
  const decoded = decodeBatch(killed.body);
  await store.writeApplied(agent, 'e-1', await store.append(agent, 'e-1', decoded.sessions.values()));

  // Meanwhile the occurrence is classified and its connection completed; a later batch starts a new occurrence.
  await new SessionFinisher(workerRedis, prefix, 1).finish([{ agent, key, occurrence }]);
  const [read] = await records.read([{ agent, key }]);
  const version = (read as { record: { version: number } }).record.version;
  assert.deepEqual(await records.claim([{ agent, key, version }]), [true]);
  assert.deepEqual(await records.release([{ agent, key, occurrence }], 1), [true]);
  await sleep(1500);
  await new Ingest(store, up, metrics, { recorder }).ingest(agent, 'e-2', batchOf(5, [43001]).body);
  const second = Number(await workerRedis.hget(keys.meta, META.occurrence));
  assert.ok(second > occurrence, 'a second occurrence began');
  assert.equal(await recordedPackets(records, key), 1, "the second occurrence's record holds its own packet");

  // The retry resumes after its append: its packet belongs to the first occurrence, not to the second's record.
  await new Ingest(store, up, metrics, { recorder }).ingest(agent, 'e-1', killed.body);
  assert.equal(
    await recordedPackets(records, key),
    1,
    "the second occurrence's record did not take the retried packet",
  );
});

test("a message that comes back after its session's done marker expired arms the sweeper's look again", async () => {
  assertStackUp();
  // A worker killed after its finish and before the sweeper's first look: the message is redelivered, but only after
  // the done marker expired (both workers away, RabbitMQ restarting). Without a look the record stays open, its row is
  // never completed, and splitcap, which starts no occurrence while it is open, adds the session's packets to it.
  const store = sessionWriter();
  const metrics = createMetrics();
  const records = new RecordStore(splitcapRedis, prefix);
  const recorder = new ConnectionRecorder(records, { ttlSeconds: 3600 }, metrics, log);
  const up = scheduler(connections.amqpUrl);
  await up.start();
  const first = batchOf(6, [44001]);
  const key = first.keys[0]!;
  const keys = sessionKeys({ agent, key }, prefix);
  await new Ingest(store, up, metrics, { recorder }).ingest(agent, 'f-0', first.body);
  const occurrence = Number(await workerRedis.hget(keys.meta, META.occurrence));
  const communityId = (await workerRedis.hget(keys.meta, META.communityId)) ?? '';
  await new SessionFinisher(workerRedis, prefix, 1).finish([{ agent, key, occurrence }]);
  await sleep(1500);
  assert.equal(await workerRedis.exists(keys.done), 0, 'the done marker expired');

  const pool = mysql.createPool({
    ...connections.mysql,
    user: accounts.worker.user,
    password: accounts.worker.password,
  });
  const armed: FinishedSession[] = [];
  const processor = new BatchProcessor({
    redis: workerRedis,
    prefix,
    pool,
    forecast: new ForecastClient('http://127.0.0.1:1', 1000),
    finisher: new SessionFinisher(workerRedis, prefix, 1),
    metrics: createWorkerMetrics(),
    log,
    isStopping: () => false,
    afterFinish: async (sessions) => {
      armed.push(...sessions);
    },
  });
  let acked = false;
  const message: SessionMessage = { key, agent, communityId, reason: 'delay', occurrence, enqueuedAt: Date.now() };
  try {
    await processor.process([
      {
        body: encodeSessionMessage(message),
        ack: () => {
          acked = true;
        },
        deadLetter: async () => assert.fail('not dead-lettered'),
      },
    ]);
  } finally {
    await pool.end();
  }
  assert.ok(acked, 'the message is acknowledged');
  assert.deepEqual(armed, [{ agent, key, occurrence, communityId }], "the sweeper's look is armed for its record");
});
