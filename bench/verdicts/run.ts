// Benchmark: sessions from splitcap to verdict rows in MariaDB, with the real servers, forecast and 2
// session-workers (issue: session-worker and forecast).
//   1. throughput: full sessions (the immediate path) uploaded as fast as 4 uploaders go; sessions/s
//      from the first upload to the last committed row;
//   2. latency at a paced rate (default 1,000 sessions/s): from the upload of a session's last packet
//      to its committed row (classified_at), p50 and p99.
//   node --import tsx --conditions=fleetcap-source bench/verdicts/run.ts [--sessions 20000] [--rate 1000] [--seconds 20]

import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { removePipelineNamespace } from '../../test/helpers/namespace.ts';
import { type RunningApp, startApp } from '../../test/helpers/processes.ts';
import { mysqlAs } from '../../test/helpers/stack.ts';
import { syntheticCapture } from '../../test/helpers/synthetic-sessions.ts';
import { postBatch } from '../../test/helpers/upload.ts';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '20000' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
  },
});
const totalSessions = Number(values.sessions);
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const perBatch = 100;
const prefix = `bv${process.pid}`;
const agent = `bench-verdicts-${process.pid}`;
const token = 'bench-verdicts-token';
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

const db = await mysqlAs('admin', { dateStrings: false });
const apps: RunningApp[] = [];
const splitcap = await startApp(
  'splitcap',
  {
    FLEETCAP_SPLITCAP_PORT: '0',
    FLEETCAP_SPLITCAP_TOKENS: `${agent}=${token}`,
    FLEETCAP_REDIS_PREFIX: prefix,
    FLEETCAP_QUEUE_PREFIX: prefix,
    FLEETCAP_SPLITCAP_MAX_READY_DEPTH: '1000000',
    // A tsx start takes more than the default 15 s at load 30-50 (bench/cluster's runs failed there).
  },
  60_000,
);
const forecast = await startApp('forecast', { FLEETCAP_FORECAST_PORT: '0' }, 60_000);
apps.push(splitcap, forecast);
for (let i = 0; i < 2; i++) {
  apps.push(
    await startApp(
      'session-worker',
      {
        FLEETCAP_FORECAST_URL: `http://127.0.0.1:${forecast.port}`,
        FLEETCAP_REDIS_PREFIX: prefix,
        FLEETCAP_QUEUE_PREFIX: prefix,
        FLEETCAP_WORKER_PORT: '0',
      },
      60_000,
    ),
  );
}

/**
 * One batch, sent as a sniffer sends it: a 503 (splitcap busy: FLEETCAP_SPLITCAP_MAX_CONCURRENT_UPLOADS uploads in
 * progress, or its Redis or queue over their bounds) is retried with the same batch id after its Retry-After, as the
 * upload contract asks; anything else but a 202 fails the bench.
 */
async function upload(body: Buffer, batchId: string): Promise<void> {
  for (;;) {
    const res = await postBatch(splitcap.port, { agent, token }, batchId, body);
    if (res.status === 202) return;
    const text = await res.text();
    if (res.status !== 503) throw new Error(`upload ${batchId}: ${res.status} ${text}`);
    busyAnswers++;
    const retryAfterSec = Number(res.headers.get('retry-after') ?? '1');
    await sleep(Math.min(5000, Math.max(50, (Number.isFinite(retryAfterSec) ? retryAfterSec : 1) * 1000)));
  }
}
let busyAnswers = 0;

async function countRows(): Promise<number> {
  const [rows] = await db.query('SELECT COUNT(*) AS n FROM session_verdict WHERE agent_id = ?', [agent]);
  return Number((rows as Array<{ n: number }>)[0]!.n);
}

async function waitForRows(n: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let got = await countRows();
  while (Date.now() < deadline && got < n) {
    await sleep(100);
    got = await countRows();
  }
  return got;
}

// Full sessions: the packet that fills a session schedules it at once.
const batch = (seed: number) =>
  syntheticCapture(
    Array.from({ length: perBatch }, () => ({ proto: 'tcp' as const, packets: 24 })),
    seed,
    Date.now() * 1000,
  ).pcap;

try {
  // 1. Throughput.
  const batches = Math.ceil(totalSessions / perBatch);
  const bodies = Array.from({ length: batches }, (_, i) => batch(10_000 + i));
  const t0 = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let i = next++; i < batches; i = next++) await upload(bodies[i]!, `tp-${i}`);
    }),
  );
  const got = await waitForRows(batches * perBatch, 300_000);
  const throughput = got / ((Date.now() - t0) / 1000);

  // 2. Latency at a paced rate.
  await db.query('DELETE FROM session_verdict WHERE agent_id = ?', [agent]);
  const interval = (perBatch / rate) * 1000;
  const sent: Array<{ at: number; keys: string[] }> = [];
  const paced = Math.floor((seconds * 1000) / interval);
  const pacedBodies = Array.from({ length: paced }, (_, i) =>
    syntheticCapture(
      Array.from({ length: perBatch }, () => ({ proto: 'tcp' as const, packets: 24 })),
      50_000 + i,
    ),
  );
  const start = Date.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < paced; i++) {
    const due = start + i * interval;
    if (due > Date.now()) await sleep(due - Date.now());
    const at = Date.now();
    sent.push({ at, keys: pacedBodies[i]!.sessions.map((s) => s.key) });
    inflight.push(upload(pacedBodies[i]!.pcap, `lat-${i}`));
  }
  await Promise.all(inflight);
  const achievedRate = (paced * perBatch) / ((Date.now() - start) / 1000);
  await waitForRows(paced * perBatch, 120_000);
  const [rows] = await db.query('SELECT session_key, classified_at FROM session_verdict WHERE agent_id = ?', [agent]);
  const committed = new Map(
    (rows as Array<{ session_key: string; classified_at: Date }>).map((r) => [
      r.session_key,
      r.classified_at.getTime(),
    ]),
  );
  const latencies: number[] = [];
  for (const s of sent)
    for (const k of s.keys) {
      const c = committed.get(k);
      if (c !== undefined) latencies.push(c - s.at);
    }
  console.log('| measure | value |');
  console.log('|---|---|');
  console.log(
    `| throughput, splitcap -> 2 workers -> MariaDB (immediate path) | ${Math.round(throughput)} sessions/s (${got} sessions) |`,
  );
  console.log(`| paced rate achieved | ${Math.round(achievedRate)} sessions/s for ${seconds} s |`);
  console.log(`| latency upload -> committed row, p50 | ${pct(latencies, 50)} ms |`);
  console.log(`| latency upload -> committed row, p99 | ${pct(latencies, 99)} ms (target < 500 ms) |`);
  console.log(`| rows seen | ${latencies.length} of ${paced * perBatch} |`);
  console.log(
    `| 503 busy answers, retried after Retry-After (latency counted from the first attempt) | ${busyAnswers} |`,
  );
} finally {
  for (const a of apps) await a.stop();
  await db.query('DELETE FROM session_verdict WHERE agent_id = ?', [agent]);
  await db.end();
  await removePipelineNamespace(prefix);
}
