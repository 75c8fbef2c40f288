// The soak (docs/OPERATIONS.md, "Soak"): the pipeline of pipeline.ts at a steady rate for a while, sampling every
// app's RSS (from /proc), the Redis sessions (meta hashes, records) against the sessions the agents have open, and
// the queues. It passes when memory is flat (after a warm-up third, the last third's median RSS is within
// `rssGrowthLimit` of the middle third's, for every app), the Redis sessions stay within a bound set by the rate
// (sessions per second × how long a session lives in Redis) and go to none when the traffic stops, and the queues
// drain (checks.ts waitForDrain: spools, queues, session keys and open rows, with a deadline). The rate is stated and
// must fit the machine: the spools may not run behind the traffic for long (a soak whose uploads fall behind measures
// a growing backlog, not a steady state).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { recordSweepQueueNames, sessionQueueNames } from '@fleetcap/lib/queue/topology';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import type { RowDataPacket } from 'mysql2/promise';
import { redisKeysWithPrefix, removePipelineNamespace } from '../helpers/namespace.ts';
import { connections, mysqlAs, uniqueId } from '../helpers/stack.ts';
import { type DrainResult, waitForDrain } from './checks.ts';
import { Agent, DELAY_MS, type LedgerBatch, SWEEP_MS, startPipeline } from './pipeline.ts';

export interface SoakOptions {
  durationMs: number;
  sampleMs: number;
  /**
   * New sessions per second, over both agents (default 10), and how often each agent makes a batch (default 500 ms).
   * The defaults fit this 2-core machine shared with five other sessions (load 25-30): at 20 sessions/s in a batch
   * every 150 ms (13 uploads/s) splitcap took about 9.5 uploads/s and the spools grew by 4 batches/s, as stop 14's
   * 40/s did; at 12/s in 400 ms batches they still ran 150 batches behind at load 41. The cost is mostly per upload,
   * so fewer, larger batches fit. A session's packets spread over up to four batches (2 s), well within the
   * pipeline's 6 s idle timeout.
   */
  sessionsPerSecond?: number;
  batchMs?: number;
  /** How long the drain after the traffic may take (default 10 minutes); it fails earlier when nothing moves for 90 s. */
  drainDeadlineMs?: number;
  log?: (line: string) => void;
}

export interface SoakSample {
  atS: number;
  rssMiB: Record<string, number>;
  redisSessions: number;
  redisRecords: number;
  ready: number;
  delay: number;
  /** Batches waiting in the agents' spools (uploads behind the traffic). */
  spooled: number;
  /** Sessions the agents have started and not yet given all their packets (what Redis should track). */
  agentOpenSessions: number;
}

export interface SoakReport {
  durationS: number;
  batchMs: number;
  packetsAccepted: number;
  sessionsPerSecond: number;
  samples: SoakSample[];
  /** Per app: median RSS (MiB) of the middle and of the last third of the samples. */
  rss: Record<string, { middle: number; last: number; growth: number }>;
  redisSessionBound: number;
  maxRedisSessions: number;
  /** The most batches in the spools at one sample. */
  maxSpooled: number;
  /**
   * Batches the agents' spools dropped because they were full: the uploads fell so far behind the traffic that the
   * rate does not fit the machine (must be 0; the spools' bound is the sniffer's own, 4 MiB per agent here).
   */
  spoolDropped: number;
  /** Batches in the spools when the traffic stopped. */
  spoolBacklog: number;
  /** The wait for the drain (checks.ts waitForDrain). */
  drain: Pick<DrainResult, 'drained' | 'waitedMs' | 'pending' | 'queued' | 'sessionKeys' | 'openRows' | 'spooled'>;
  drainDeadlineS: number;
  failed: string[];
}

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return Math.round(Number(kb ?? 0) / 1024);
  } catch {
    return 0;
  }
}

/**
 * The apps at the scheduling priority the soak's caller had before `nice` (docs/OPERATIONS.md: the soak runs under
 * `nice -n 10`, the apps it measures should not): every thread of the process back to 0 (Linux nice is per thread;
 * threads started later inherit it). Only root may lower a nice value; without it the apps stay niced, said in the log.
 */
function unniceApp(pid: number | undefined): string | undefined {
  if (pid === undefined) return 'no pid';
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) setPriority(Number(tid), 0);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)]!;
};

export async function runSoak(o: SoakOptions, rssGrowthLimit = 0.25): Promise<SoakReport> {
  const log = o.log ?? (() => {});
  const sessionsPerSecond = o.sessionsPerSecond ?? 10;
  const batchMs = o.batchMs ?? 500;
  const drainDeadlineMs = o.drainDeadlineMs ?? 10 * 60_000;
  const prefix = uniqueId('soak').replace(/[^A-Za-z0-9]/g, '');
  const token = 'soak-run-token-0123456789';
  const agentIds = [uniqueId('sk1').slice(0, 50), uniqueId('sk2').slice(0, 50)];
  const spoolRoot = mkdtempSync(join(tmpdir(), 'fleetcap-soak-'));
  const ledger = new Map<string, LedgerBatch>();
  // No config-sync: the soak's traffic never touches the config path (the fault run covers it).
  const p = await startPipeline(prefix, agentIds, token, { configSync: false });
  for (const [name, app] of p.apps()) {
    const why = unniceApp(app.child.pid);
    if (why) log(`${name} keeps the soak's nice value (${why})`);
  }
  const agents = agentIds.map(
    (id, i) =>
      new Agent(id, i, 1000 + i, join(spoolRoot, id), ledger, () => `http://127.0.0.1:${p.splitcapPort}`, token),
  );
  for (const a of agents) a.startUploads();
  const redis = new Redis(connections.redisUrl);
  const amqpConn = await amqp.connect(connections.amqpUrl);
  const ch = await amqpConn.createChannel();
  const queues = sessionQueueNames(prefix, DELAY_MS);
  const sweepQueues = recordSweepQueueNames(prefix, SWEEP_MS);
  const db = await mysqlAs('report');
  const started = Date.now();

  const countKeys = async (suffix: string) => (await redisKeysWithPrefix(redis, prefix, `s:*:${suffix}`)).length;
  const sample = async (): Promise<SoakSample> => ({
    atS: Math.round((Date.now() - started) / 1000),
    rssMiB: Object.fromEntries(p.apps().map(([name, app]) => [name, rssMiB(app.child.pid)])),
    redisSessions: await countKeys('m'),
    redisRecords: await countKeys('c'),
    ready: (await ch.checkQueue(queues.ready)).messageCount,
    delay: (await ch.checkQueue(queues.delay)).messageCount,
    spooled: agents.reduce((a, x) => a + x.spool.size, 0),
    agentOpenSessions: agents.reduce((a, x) => a + x.source.openSessions, 0),
  });

  // A steady rate: each agent starts sessionsPerSecond / agents / (1000 / batchMs) sessions per batch on average
  // (the fraction carried over), and the batches follow a clock, not the previous batch's end.
  const perBatch = (sessionsPerSecond * batchMs) / 1000 / agents.length;
  let producing = true;
  const producer = (async () => {
    let carried = 0;
    let next = Date.now();
    while (producing) {
      carried += perBatch;
      const n = Math.floor(carried);
      carried -= n;
      for (const a of agents) a.produce(n);
      next += batchMs;
      await sleep(Math.max(0, next - Date.now()));
    }
    for (let i = 0; i < 5; i++) {
      for (const a of agents) a.produce(0);
      await sleep(batchMs);
    }
  })();
  const samples: SoakSample[] = [];
  while (Date.now() - started < o.durationMs) {
    await sleep(o.sampleMs);
    const s = await sample();
    samples.push(s);
    log(
      `${s.atS} s: RSS ${Object.entries(s.rssMiB)
        .map(([n, v]) => `${n} ${v}`)
        .join(
          ', ',
        )} MiB; Redis sessions ${s.redisSessions}, records ${s.redisRecords} (agents' open sessions ${s.agentOpenSessions}); ready ${s.ready}, delay ${s.delay}; spooled ${s.spooled}`,
    );
  }
  producing = false;
  await producer;
  const trafficS = (Date.now() - started) / 1000;

  // Drain: the spools empty, nothing queued (ready, delay, the record sweep's queues), no session key in Redis, every
  // row of the soak's agents completed; bounded by the deadline, and failing early when nothing shrinks for 90 s.
  const spoolBacklog = agents.reduce((a, x) => a + x.spool.size, 0);
  log(`traffic over; ${spoolBacklog} batches in the spools; waiting for the drain (up to ${drainDeadlineMs / 1000} s)`);
  const queueDepths = async (): Promise<Record<string, number>> => {
    // A channel of its own per read: a refused checkQueue closes its channel.
    const probe = await amqpConn.createChannel();
    try {
      const out: Record<string, number> = {};
      for (const q of [queues.ready, queues.delay, sweepQueues.due, sweepQueues.sweep])
        out[q.slice(prefix.length + 1)] = (await probe.checkQueue(q)).messageCount;
      return out;
    } finally {
      await probe.close().catch(() => {});
    }
  };
  const drain = await waitForDrain(
    {
      queueDepths,
      sessionKeys: async () => (await redisKeysWithPrefix(redis, prefix, 's:*')).filter((k) => !k.endsWith(':d')),
      openRows: async () => {
        const [rows] = await db.query<RowDataPacket[]>(
          'SELECT COUNT(*) AS n FROM session_verdict WHERE agent_id IN (?) AND completed_at IS NULL',
          [agentIds],
        );
        return Number(rows[0]!.n);
      },
      spooled: () => agents.reduce((a, x) => a + x.spool.size, 0),
    },
    { deadlineMs: drainDeadlineMs, stallMs: 90_000, log },
  );
  log(drain.drained ? `drained in ${drain.waitedMs} ms` : drain.pending);

  let accepted = 0;
  for (const b of ledger.values()) if (b.state === 'accepted') accepted += b.packets;
  // A session lives in Redis from its first packet to its verdict (delay + batch); its record until the idle
  // timeout and a sweep after its last packet (a session spans up to four batches). Twice that, for the load.
  const redisSessionBound = Math.ceil(2 * sessionsPerSecond * (DELAY_MS / 1000 + 4 * (batchMs / 1000) + 1));
  const failed: string[] = [];
  const rss: SoakReport['rss'] = {};
  const third = Math.floor(samples.length / 3);
  for (const [name] of p.apps()) {
    const middle = median(samples.slice(third, 2 * third).map((s) => s.rssMiB[name] ?? 0));
    const lastThird = median(samples.slice(2 * third).map((s) => s.rssMiB[name] ?? 0));
    const growth = middle > 0 ? (lastThird - middle) / middle : 0;
    rss[name] = { middle, last: lastThird, growth: Math.round(growth * 1000) / 1000 };
    if (growth > rssGrowthLimit && lastThird - middle > 20)
      failed.push(`${name}: RSS grew from ${middle} to ${lastThird} MiB (${Math.round(growth * 100)}%)`);
  }
  const maxRedisSessions = Math.max(0, ...samples.map((s) => s.redisSessions));
  if (maxRedisSessions > redisSessionBound)
    failed.push(`Redis held ${maxRedisSessions} sessions, over the rate's bound of ${redisSessionBound}`);
  // On a shared machine the uploads fall behind during a burst of load elsewhere and catch up after it (the drain
  // waits for them): that is the spools' job. A spool that overflowed lost batches: the rate does not fit.
  const maxSpooled = Math.max(0, ...samples.map((s) => s.spooled));
  let spoolDropped = 0;
  for (const b of ledger.values()) if (b.state === 'spool-dropped') spoolDropped++;
  if (spoolDropped > 0)
    failed.push(
      `the spools dropped ${spoolDropped} batches (full: the uploads fell ${maxSpooled} batches behind the traffic): ${sessionsPerSecond} sessions/s does not fit this machine now; run with a lower --sessions-per-s or a longer --batch-ms`,
    );
  if (!drain.drained) failed.push(drain.pending);
  const unhealthy = await p.unhealthy();
  if (unhealthy.length > 0) failed.push(`not healthy: ${unhealthy.join(', ')}`);

  for (const a of agents) await a.stopUploads();
  await p.stop();
  redis.disconnect();
  await amqpConn.close();
  await db.end();
  await removePipelineNamespace(prefix, DELAY_MS, SWEEP_MS).catch(() => {});
  rmSync(spoolRoot, { recursive: true, force: true });
  return {
    durationS: Math.round(trafficS),
    batchMs,
    packetsAccepted: accepted,
    sessionsPerSecond,
    samples,
    rss,
    redisSessionBound,
    maxRedisSessions,
    maxSpooled,
    spoolDropped,
    spoolBacklog,
    drain: {
      drained: drain.drained,
      waitedMs: drain.waitedMs,
      pending: drain.pending,
      queued: drain.queued,
      sessionKeys: drain.sessionKeys,
      openRows: drain.openRows,
      spooled: drain.spooled,
    },
    drainDeadlineS: drainDeadlineMs / 1000,
    failed,
  };
}

export function formatSoak(r: SoakReport): string {
  const lines = [
    `soak: ${r.durationS} s at ${r.sessionsPerSecond} new sessions/s (two agents, a batch every ${r.batchMs} ms each), ${r.packetsAccepted} packets stored`,
  ];
  const first = r.samples[0];
  const lastSample = r.samples[r.samples.length - 1];
  lines.push('| app | RSS first sample (MiB) | median, middle third | median, last third | growth | last sample |');
  lines.push('|---|---|---|---|---|---|');
  for (const [name, v] of Object.entries(r.rss))
    lines.push(
      `| ${name} | ${first?.rssMiB[name] ?? 0} | ${v.middle} | ${v.last} | ${(v.growth * 100).toFixed(1)}% | ${lastSample?.rssMiB[name] ?? 0} |`,
    );
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  lines.push(
    `Redis sessions (meta hashes): median ${median(r.samples.map((s) => s.redisSessions))}, max ${r.maxRedisSessions} (bound ${r.redisSessionBound}); agents' open sessions: median ${median(r.samples.map((s) => s.agentOpenSessions))}; connection records: median ${median(r.samples.map((s) => s.redisRecords))}`,
  );
  lines.push(
    `spools: at most ${r.maxSpooled} batches at a sample, ${r.spoolBacklog} when the traffic stopped, ${r.spoolDropped} dropped (full spool)`,
  );
  lines.push(
    r.drain.drained
      ? `drained in ${(r.drain.waitedMs / 1000).toFixed(1)} s (deadline ${r.drainDeadlineS} s): spools, ready/delay/sweep queues, session keys and open rows all 0`
      : `NOT drained: ${r.drain.pending}`,
  );
  for (const f of r.failed) lines.push(`FAILED: ${f}`);
  return lines.join('\n');
}
