// BatchProcessor with in-memory stand-ins for Redis, MariaDB and forecast: a batch forecast refuses is split in
// halves until every session has its verdict, and a session forecast refuses on its own is dead-lettered (every
// delivery that names it) while the rest of the batch is stored and acked.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import type { Pool } from 'mysql2/promise';
import type { Logger } from 'pino';
import { type ScheduleReason, encodeSessionMessage } from '@fleetcap/lib/queue/session-message';
import { sessionKeys } from '@fleetcap/lib/session-store/layout';
import { type ForecastAnswer, type ForecastClient, ForecastRejected } from './forecast-client.ts';
import { createWorkerMetrics } from './metrics.ts';
import { BatchProcessor, type Delivery, rejectionReason } from './processor.ts';
import type { SessionFinisher } from './session-finisher.ts';
import type { LoadedSession } from './session-loader.ts';

const prefix = 't';
const keyOf = (i: number) => `tcp/10.0.0.1/443/10.0.1.${i + 1}/40000`;

/** Redis holding session i with packetCounts[i] packets (occurrence 1000 + i). */
function fakeRedis(packetCounts: number[]): Redis {
  const byMeta = new Map<string, Record<string, string>>();
  const byPackets = new Map<string, string[]>();
  packetCounts.forEach((n, i) => {
    const k = sessionKeys(keyOf(i), prefix);
    byMeta.set(k.meta, { agent: 'a', initiator: '1', occurrence: String(1000 + i), first: '1', last: '2', packets: String(n), overflow: '0', bytes: '100' });
    byPackets.set(k.packets, Array.from({ length: n }, (_, k) => `${k + 1}:1:${k + 1}:74:0:16`));
  });
  return {
    pipeline() {
      const results: unknown[] = [];
      const p = {
        exists: (_k: string) => {
          results.push(0);
          return p;
        },
        hgetall: (k: string) => {
          results.push(byMeta.get(k) ?? {});
          return p;
        },
        zrange: (k: string) => {
          results.push(byPackets.get(k) ?? []);
          return p;
        },
        exec: async () => results.map((r) => [null, r]),
      };
      return p;
    },
  } as unknown as Redis;
}

/** forecast with request limits, recording the size of every request. */
function fakeForecast(maxSessions: number, maxPackets: number, requests: number[]): ForecastClient {
  return {
    async classify(sessions: LoadedSession[]): Promise<ForecastAnswer> {
      requests.push(sessions.length);
      if (sessions.length > maxSessions) {
        throw new ForecastRejected(400, `sessions: must hold at most ${maxSessions} sessions per request`);
      }
      const i = sessions.findIndex((s) => s.packets.length > maxPackets);
      if (i >= 0) throw new ForecastRejected(400, `sessions[${i}].packets: must hold at most ${maxPackets} packets`, i);
      return { modelVersion: 'm1', verdicts: sessions.map((s) => ({ label: 'benign', score: s.packets.length / 100 })) };
    },
  } as unknown as ForecastClient;
}

function run(packetCounts: number[], limits: { sessions: number; packets: number }, extra: Array<{ i: number; reason: ScheduleReason }> = []) {
  const requests: number[] = [];
  const inserted: unknown[][] = [];
  const finished: string[] = [];
  const warnings: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  const errors: string[] = [];
  const acked: string[] = [];
  const dead: Array<{ id: string; reason: string }> = [];
  const metrics = createWorkerMetrics();
  const log = {
    warn: (obj: Record<string, unknown>, msg: string) => warnings.push({ obj, msg }),
    error: (_obj: unknown, msg: string) => errors.push(msg),
    info: () => {},
  } as unknown as Logger;
  const processor = new BatchProcessor({
    redis: fakeRedis(packetCounts),
    prefix,
    pool: {
      query: async (_sql: string, values: unknown[]) => {
        inserted.push(values);
        return [{ affectedRows: values.length / 16 }];
      },
    } as unknown as Pool,
    forecast: fakeForecast(limits.sessions, limits.packets, requests),
    finisher: { finish: async (s: Array<{ key: string }>) => void finished.push(...s.map((x) => x.key)) } as unknown as SessionFinisher,
    metrics,
    log,
    isStopping: () => false,
  });
  const delivery = (i: number, reason: ScheduleReason, id: string): Delivery => ({
    body: encodeSessionMessage({ key: keyOf(i), reason, occurrence: 1000 + i, agent: 'a', enqueuedAt: Date.now() }),
    ack: () => void acked.push(id),
    deadLetter: async (why: string) => void dead.push({ id, reason: why }),
  });
  const deliveries = [
    ...packetCounts.map((_, i) => delivery(i, 'delay', `m${i}`)),
    ...extra.map((e) => delivery(e.i, e.reason, `m${e.i}-${e.reason}`)),
  ];
  return {
    done: processor.process(deliveries),
    requests,
    inserted,
    finished,
    warnings,
    errors,
    acked,
    dead,
    metrics,
  };
}

const rowKeys = (inserted: unknown[][]) => inserted.flatMap((v) => v.filter((_, k) => k % 16 === 0));

describe('batches forecast refuses', () => {
  test('a batch over forecast’s session limit is split in halves: every session gets its verdict', async () => {
    const r = run(Array(16).fill(3), { sessions: 3, packets: 24 });
    await r.done;
    assert.deepEqual(r.requests, [16, 8, 4, 2, 2, 4, 2, 2, 8, 4, 2, 2, 4, 2, 2]);
    assert.deepEqual(rowKeys(r.inserted).sort(), Array.from({ length: 16 }, (_, i) => keyOf(i)).sort(), 'one insert, every row');
    assert.equal(r.inserted.length, 1);
    assert.equal(r.finished.length, 16);
    assert.equal(r.acked.length, 16);
    assert.deepEqual(r.dead, []);
    const splits = r.warnings.filter((w) => w.msg === 'forecast refused a batch; classifying it in halves');
    assert.equal(splits.length, 7, 'one warning per split');
    assert.deepEqual(splits[0]!.obj.sessions, 16);
    assert.deepEqual(splits[0]!.obj.halves, [8, 8]);
    assert.match(String(splits[0]!.obj.err), /at most 3 sessions per request/);
    const text = await r.metrics.registry.metrics();
    assert.match(text, /fleetcap_worker_forecast_splits_total\{[^}]*\} 7\n/);
    assert.doesNotMatch(text, /fleetcap_worker_retries_total\{/, 'a refusal is not retried');
  });

  test('a session forecast refuses on its own is dead-lettered, every delivery of it; the rest is stored and acked', async () => {
    const counts = [3, 12, 3, 3, 30, 3, 3];
    const r = run(counts, { sessions: 1024, packets: 8 }, [{ i: 1, reason: 'full' }]);
    await r.done;
    const good = [0, 2, 3, 5, 6].map(keyOf);
    assert.deepEqual(rowKeys(r.inserted).sort(), good.sort());
    assert.deepEqual(r.finished.sort(), good.sort(), 'refused sessions are not marked done');
    assert.deepEqual(r.acked.sort(), ['m0', 'm2', 'm3', 'm5', 'm6']);
    assert.deepEqual(r.dead.map((d) => d.id).sort(), ['m1', 'm1-full', 'm4'], 'both messages of session 1');
    for (const d of r.dead) {
      assert.match(d.reason, /^forecast refused the session \(400 sessions\[0\]\.packets: must hold at most 8 packets\): /);
      assert.match(d.reason, /FLEETCAP_FORECAST_MAX_PACKETS >= splitcap's FLEETCAP_SESSION_MAX_PACKETS/);
    }
    assert.equal(r.errors.filter((e) => e === 'dead-lettering a message that cannot be processed').length, 3);
    const text = await r.metrics.registry.metrics();
    assert.match(text, /fleetcap_worker_forecast_rejections_total\{status="400"[^}]*\} 2\n/);
    assert.match(text, /fleetcap_worker_messages_total\{outcome="dead-lettered"[^}]*\} 3\n/);
    assert.match(text, /fleetcap_worker_messages_total\{outcome="classified"[^}]*\} 5\n/);
    assert.doesNotMatch(text, /fleetcap_worker_retries_total\{/, 'nothing is retried');
  });

  test('the dead-letter reason says what forecast said and what to do', () => {
    assert.equal(
      rejectionReason(new ForecastRejected(413, 'body is over the limit of 1024 bytes: send fewer sessions per request')),
      "forecast refused the session (413 body is over the limit of 1024 bytes: send fewer sessions per request): raise forecast's FLEETCAP_FORECAST_MAX_BODY_BYTES, then replay the message",
    );
    assert.match(rejectionReason(new ForecastRejected(400, 'sessions[0].proto: must be "tcp" or "udp", got "x"')), /same version/);
  });
});
