// A capture gap longer than the inactivity timeout in a session whose occurrence the worker has loaded (issue 19, the
// fault run's lost packets: 522 of 697 sat right after a gap of 6 s or more). By Zeek's rules the packet after the gap
// starts another connection, so the occurrence's connection record ends before it and takes no more packets. Before,
// the append still stored them in the live occurrence: the worker had loaded it already, so they were in no verdict,
// the ended record refused them (and every later batch), and no drop was counted (the append had answered 'ok').
// Every acknowledged packet must be in exactly one row (its verdict, or its connection record) or in a counted drop
// with its reason (the metric and packet_drop). A session holds every packet of its 5-tuple as `fleetcap sessions`
// does, so packets after the gap stored before the load are in the verdict (and not in the record).
// Real Redis, RabbitMQ and MariaDB of the stack; splitcap's Ingest, the worker's load and finish in this process.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { loadConnections } from '@fleetcap/lib/config/connections';
import { buildPacket } from '@fleetcap/lib/packet/build';
import { PcapWriter } from '@fleetcap/lib/pcap/writer';
import { connectRedis } from '@fleetcap/lib/redis/connect';
import { sessionKeyOf } from '@fleetcap/lib/session/key';
import { ConnRecord } from '@fleetcap/lib/session-record/conn-state';
import { SessionFinisher } from '@fleetcap/lib/session-store/finisher';
import { META, sessionKeys } from '@fleetcap/lib/session-store/layout';
import { loadSessions } from '@fleetcap/lib/session-store/reader';
import { RecordStore } from '@fleetcap/lib/session-store/record-store';
import { SessionWriter } from '@fleetcap/lib/session-store/writer';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import { ConnectionRecorder } from '@fleetcap/splitcap/connection-recorder';
import { DropCopier } from '@fleetcap/splitcap/drop-counts';
import { Ingest } from '@fleetcap/splitcap/ingest';
import { createMetrics } from '@fleetcap/splitcap/metrics';
import { Scheduler } from '@fleetcap/splitcap/scheduler';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { removePipelineNamespace } from '../helpers/namespace.ts';
import { accounts, assertStackUp, connections, uniqueId } from '../helpers/stack.ts';

const prefix = uniqueId('gap').replace(/[^A-Za-z0-9]/g, '');
const agent = uniqueId('gap-agent').slice(0, 60);
const DELAY_MS = 60_000;
const log = createLogger('capture-gap-test', { level: 'silent' });
const redis = connectRedis(loadConnections(process.env, 'splitcap').redisUrl, undefined);
const workerRedis = connectRedis(loadConnections(process.env, 'session-worker').redisUrl, undefined);
const pool = mysql.createPool({
  ...connections.mysql,
  user: accounts.splitcap.user,
  password: accounts.splitcap.password,
  connectionLimit: 2,
  timezone: 'Z',
});
const schedulers: Scheduler[] = [];

after(async () => {
  for (const s of schedulers) await s.close();
  await pool.query('DELETE FROM packet_drop WHERE agent_id = ?', [agent]).catch(() => {});
  await pool.end();
  redis.disconnect();
  workerRedis.disconnect();
  await removePipelineNamespace(prefix, DELAY_MS).catch(() => {});
});

/** 61 s: past UDP's inactivity timeout (Zeek's 60 s, conn-state.ts). */
const GAP_US = 61_000_000;
const T0_US = (Date.now() - 600_000) * 1000;

/** UDP packets of one flow 10.78.<net>.1:<sport> <-> 10.78.<net>.2:53, at these µs offsets from T0 (odd: replies). */
function udpBatch(net: number, sport: number, offsetsUs: number[]): { body: Buffer; key: string } {
  const writer = new PcapWriter({ linktype: 1, nanosecond: false });
  const [client, server] = [`10.78.${net}.1`, `10.78.${net}.2`];
  offsetsUs.forEach((offset, i) => {
    const us = T0_US + offset;
    const frame =
      i % 2 === 0
        ? buildPacket({ proto: 'udp', src: client, sport, dst: server, dport: 53 })
        : buildPacket({ proto: 'udp', src: server, sport: 53, dst: client, dport: sport });
    writer.write({ tsSec: Math.floor(us / 1e6), tsNsec: (us % 1e6) * 1000, data: frame, origLen: frame.length });
  });
  return { body: writer.toBuffer(), key: sessionKeyOf('udp', client, sport, server, 53) };
}

async function pipeline() {
  const metrics = createMetrics();
  const store = new SessionWriter(redis, {
    prefix,
    maxPacketsPerSession: 24,
    sessionTtlSeconds: 3600,
    receiptTtlSeconds: 3600,
  });
  const recorder = new ConnectionRecorder(new RecordStore(redis, prefix), { ttlSeconds: 3600 }, metrics, log);
  const scheduler = new Scheduler(
    { amqpUrls: [connections.amqpUrl], queuePrefix: prefix, delayMs: DELAY_MS, maxReadyDepth: 10_000 },
    log,
  );
  schedulers.push(scheduler);
  await scheduler.start();
  const ingest = new Ingest(store, scheduler, metrics, { recorder, drops: { redis, prefix } });
  return { metrics, ingest };
}

/** The worker's load of the session's occurrence: how many packets its verdict holds. */
async function load(key: string): Promise<{ occurrence: number; packetsSeen: number }> {
  const occurrence = Number(await workerRedis.hget(sessionKeys({ agent, key }, prefix).meta, META.occurrence));
  const [loaded] = await loadSessions(workerRedis, prefix, [
    { key, agent, communityId: '', reason: 'delay', occurrence, enqueuedAt: Date.now() },
  ]);
  assert.equal(loaded?.kind, 'session', 'the worker loads the occurrence');
  return { occurrence, packetsSeen: (loaded as { session: { packetsSeen: number } }).session.packetsSeen };
}

/** Packets in the session's connection record (0 without one). */
async function recordedPackets(key: string): Promise<number> {
  const [read] = await new RecordStore(redis, prefix).read([{ agent, key }]);
  const stored = (read as { record?: { record: string } }).record;
  if (!stored) return 0;
  const record = ConnRecord.deserialize(stored.record);
  return record.origPkts + record.respPkts;
}

async function droppedInMetric(metrics: ReturnType<typeof createMetrics>): Promise<Record<string, number>> {
  const values = (await metrics.dropped.get()).values;
  return Object.fromEntries(values.filter((v) => v.value > 0).map((v) => [String(v.labels.reason), v.value]));
}

async function droppedInSql(): Promise<Record<string, number>> {
  await new DropCopier({ redis, pool, prefix, intervalMs: 1000, log }).copyOnce();
  const [rows] = await pool.query<RowDataPacket[]>(
    'SELECT reason, SUM(packets) AS packets FROM packet_drop WHERE agent_id = ? GROUP BY reason',
    [agent],
  );
  return Object.fromEntries(rows.map((r) => [r.reason as string, Number(r.packets)]));
}

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

test('packets after a gap longer than the inactivity timeout, stored after the load, are in no row twice and none is lost', async () => {
  assertStackUp();
  const { metrics, ingest } = await pipeline();
  // The occurrence: a query and its answer; the worker loads it (its verdict holds these 2).
  const first = udpBatch(1, 45001, [0, 1000]);
  await ingest.ingest(agent, 'gap-0', first.body);
  const { occurrence, packetsSeen } = await load(first.key);
  assert.equal(packetsSeen, 2);
  // Before the worker's finish: a query and answer 61 s later (another connection by Zeek's rules), then one more.
  await ingest.ingest(agent, 'gap-1', udpBatch(1, 45001, [GAP_US, GAP_US + 1000]).body);
  await ingest.ingest(agent, 'gap-2', udpBatch(1, 45001, [GAP_US + 2000]).body);
  await new SessionFinisher(workerRedis, prefix, 60).finish([{ agent, key: first.key, occurrence, packetsSeen }]);

  const sent = 5;
  const inRecord = await recordedPackets(first.key);
  // The row holds what its verdict saw or its record counted, whichever is more (test/faults/fault-run.ts).
  const inRow = Math.max(packetsSeen, inRecord);
  const metric = await droppedInMetric(metrics);
  const sql = await droppedInSql();
  assert.equal(inRecord, 2, 'the record counts the first connection only');
  const [read] = await new RecordStore(redis, prefix).read([{ agent, key: first.key }]);
  assert.equal(
    (read as { record?: { ended: boolean } }).record?.ended,
    true,
    'the record ended: the sweeper completes it',
  );
  assert.equal(
    inRow + sum(metric),
    sent,
    `every packet is in the row or a counted drop: ${inRow} in the row, drops ${JSON.stringify(metric)}, ${sent} sent`,
  );
  assert.deepEqual(sql, metric, 'packet_drop counts what the metric counts');
  assert.deepEqual(Object.keys(metric), ['new-connection'], 'the drop names its reason');
});

test('packets after such a gap, stored before the load, are in the verdict and in no counted drop', async () => {
  assertStackUp();
  const { metrics, ingest } = await pipeline();
  const first = udpBatch(2, 45002, [0, 1000]);
  await ingest.ingest(agent, 'gapb-0', first.body);
  await ingest.ingest(agent, 'gapb-1', udpBatch(2, 45002, [GAP_US, GAP_US + 1000]).body);
  // One batch holding both sides of the gap: the packets after it are another connection too.
  await ingest.ingest(agent, 'gapb-2', udpBatch(2, 45002, [GAP_US + 2000, 2 * GAP_US + 2000]).body);
  const { occurrence, packetsSeen } = await load(first.key);
  await new SessionFinisher(workerRedis, prefix, 60).finish([{ agent, key: first.key, occurrence, packetsSeen }]);

  const sent = 6;
  const inRecord = await recordedPackets(first.key);
  const dropped = sum(await droppedInMetric(metrics));
  assert.equal(packetsSeen, sent, 'the verdict holds every packet stored before the load, as `fleetcap sessions` does');
  assert.equal(
    Math.max(packetsSeen, inRecord) + dropped,
    sent,
    `${packetsSeen} in the verdict, ${inRecord} in the record, ${dropped} dropped, ${sent} sent`,
  );
});

test('a batch after such a gap, for a finished occurrence whose record is open, is counted once as a drop', async () => {
  assertStackUp();
  const { metrics, ingest } = await pipeline();
  const first = udpBatch(3, 45003, [0, 1000]);
  await ingest.ingest(agent, 'gapc-0', first.body);
  const { occurrence, packetsSeen } = await load(first.key);
  await new SessionFinisher(workerRedis, prefix, 60).finish([{ agent, key: first.key, occurrence, packetsSeen }]);
  await ingest.ingest(agent, 'gapc-1', udpBatch(3, 45003, [GAP_US, GAP_US + 1000]).body);
  await ingest.ingest(agent, 'gapc-2', udpBatch(3, 45003, [GAP_US + 2000]).body);

  const inRecord = await recordedPackets(first.key);
  const metric = await droppedInMetric(metrics);
  assert.equal(inRecord, 2);
  assert.equal(Math.max(packetsSeen, inRecord) + sum(metric), 5, `${inRecord} in the row, ${JSON.stringify(metric)}`);
  assert.deepEqual(metric, { 'new-connection': 3 }, 'refused by the ended record: another connection, not a straggler');
});
