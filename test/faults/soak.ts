// The soak (docs/OPERATIONS.md, "Soak"): the pipeline of pipeline.ts at a steady rate for a while, sampling every
// app's RSS (from /proc), the Redis sessions (meta hashes, records) against the sessions the agents have open, and
// the queues. It passes when memory is flat (after a warm-up third, the last third's median RSS is within
// `rssGrowthLimit` of the middle third's, for every app), the Redis sessions stay within a bound set by the rate
// (sessions per second × how long a session lives in Redis) and go to none when the traffic stops, and the queues
// drain.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sessionQueueNames } from '@fleetcap/lib/queue/topology';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { redisKeysWithPrefix, removePipelineNamespace } from '../helpers/namespace.ts';
import { connections, uniqueId } from '../helpers/stack.ts';
import { Agent, DELAY_MS, IDLE_S, type LedgerBatch, SWEEP_MS, startPipeline } from './pipeline.ts';

export interface SoakOptions {
  durationMs: number;
  sampleMs: number;
  /** New sessions per batch and agent (every 150 ms, two agents). */
  sessionsPerBatch?: number;
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
}

export interface SoakReport {
  durationS: number;
  packetsAccepted: number;
  sessionsPerSecond: number;
  samples: SoakSample[];
  /** Per app: median RSS (MiB) of the middle and of the last third of the samples. */
  rss: Record<string, { middle: number; last: number; growth: number }>;
  redisSessionBound: number;
  maxRedisSessions: number;
  afterDrain: {
    redisSessions: number;
    ready: number;
    delay: number;
    spooled: number;
    /** Batches in the spools when the traffic stopped. */
    spoolBacklog: number;
    drainS: number;
  };
  failed: string[];
}

const BATCH_MS = 150;

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return Math.round(Number(kb ?? 0) / 1024);
  } catch {
    return 0;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)]!;
};

export async function runSoak(o: SoakOptions, rssGrowthLimit = 0.25): Promise<SoakReport> {
  const log = o.log ?? (() => {});
  const perBatch = o.sessionsPerBatch ?? 3;
  const prefix = uniqueId('soak').replace(/[^A-Za-z0-9]/g, '');
  const token = 'soak-run-token-0123456789';
  const agentIds = [uniqueId('sk1').slice(0, 50), uniqueId('sk2').slice(0, 50)];
  const spoolRoot = mkdtempSync(join(tmpdir(), 'fleetcap-soak-'));
  const ledger = new Map<string, LedgerBatch>();
  // No config-sync: the soak's traffic never touches the config path (the fault run covers it).
  const p = await startPipeline(prefix, agentIds, token, { configSync: false });
  const agents = agentIds.map(
    (id, i) =>
      new Agent(id, i, 1000 + i, join(spoolRoot, id), ledger, () => `http://127.0.0.1:${p.splitcapPort}`, token),
  );
  for (const a of agents) a.startUploads();
  const redis = new Redis(connections.redisUrl);
  const amqpConn = await amqp.connect(connections.amqpUrl);
  const ch = await amqpConn.createChannel();
  const queues = sessionQueueNames(prefix, DELAY_MS);
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
  });

  let producing = true;
  const producer = (async () => {
    while (producing) {
      for (const a of agents) a.produce(perBatch);
      await sleep(BATCH_MS);
    }
    for (let i = 0; i < 5; i++) {
      for (const a of agents) a.produce(0);
      await sleep(BATCH_MS);
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
        )} MiB; Redis sessions ${s.redisSessions}, records ${s.redisRecords}; ready ${s.ready}, delay ${s.delay}; spooled ${s.spooled}`,
    );
  }
  producing = false;
  await producer;
  const trafficS = (Date.now() - started) / 1000;

  // Drain: the spools empty (on a loaded machine the uploads may run behind the traffic: wait while they shrink),
  // then the queues and Redis go to nothing within 120 s.
  const drainStart = Date.now();
  const spoolBacklog = agents.reduce((a, x) => a + x.spool.size, 0);
  let spoolProgressAt = Date.now();
  let spoolLeft = spoolBacklog;
  while (spoolLeft > 0 && Date.now() - spoolProgressAt < 60_000) {
    await sleep(500);
    const now = agents.reduce((a, x) => a + x.spool.size, 0);
    if (now < spoolLeft) spoolProgressAt = Date.now();
    spoolLeft = now;
  }
  const spoolDrainS = Math.round((Date.now() - drainStart) / 1000);
  log(`spools: ${spoolBacklog} batches behind when the traffic stopped, emptied in ${spoolDrainS} s`);
  const serverDrainStart = Date.now();
  let last = await sample();
  while (Date.now() - serverDrainStart < 120_000) {
    last = await sample();
    if (
      last.spooled === 0 &&
      last.ready === 0 &&
      last.delay === 0 &&
      last.redisSessions === 0 &&
      last.redisRecords === 0
    )
      break;
    await sleep(500);
  }
  const drainS = Math.round((Date.now() - drainStart) / 1000);

  let accepted = 0;
  for (const b of ledger.values()) if (b.state === 'accepted') accepted += b.packets;
  const sessionsPerSecond = (agents.length * perBatch * 1000) / BATCH_MS;
  // A session lives in Redis from its first packet to its verdict (delay + batch); its record until the idle
  // timeout and a sweep after its last packet (a session spans up to four batches). Twice that, for the load.
  const redisSessionBound = Math.ceil(2 * sessionsPerSecond * (DELAY_MS / 1000 + 4 * (BATCH_MS / 1000) + 1));
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
  const afterDrain = {
    redisSessions: last.redisSessions + last.redisRecords,
    ready: last.ready,
    delay: last.delay,
    spooled: last.spooled,
    spoolBacklog,
    drainS,
  };
  if (afterDrain.redisSessions > 0 || afterDrain.ready > 0 || afterDrain.delay > 0 || afterDrain.spooled > 0)
    failed.push(`not drained: ${JSON.stringify(afterDrain)}`);
  const unhealthy = await p.unhealthy();
  if (unhealthy.length > 0) failed.push(`not healthy: ${unhealthy.join(', ')}`);

  for (const a of agents) await a.stopUploads();
  await p.stop();
  redis.disconnect();
  await amqpConn.close();
  await removePipelineNamespace(prefix, DELAY_MS, SWEEP_MS).catch(() => {});
  rmSync(spoolRoot, { recursive: true, force: true });
  void IDLE_S;
  return {
    durationS: Math.round(trafficS),
    packetsAccepted: accepted,
    sessionsPerSecond,
    samples,
    rss,
    redisSessionBound,
    maxRedisSessions,
    afterDrain,
    failed,
  };
}

export function formatSoak(r: SoakReport): string {
  const lines = [`soak: ${r.durationS} s at ${r.sessionsPerSecond} sessions/s, ${r.packetsAccepted} packets stored`];
  lines.push('RSS (MiB, median of the middle third → last third)');
  for (const [name, v] of Object.entries(r.rss))
    lines.push(`  ${name.padEnd(18)} ${v.middle} → ${v.last} (${(v.growth * 100).toFixed(1)}%)`);
  lines.push(
    `Redis sessions: max ${r.maxRedisSessions} (bound ${r.redisSessionBound}); after the drain ${r.afterDrain.redisSessions}`,
  );
  lines.push(
    `queues after the drain: ready ${r.afterDrain.ready}, delay ${r.afterDrain.delay}, spooled ${r.afterDrain.spooled} (${r.afterDrain.spoolBacklog} batches spooled when the traffic stopped; drained in ${r.afterDrain.drainS} s)`,
  );
  for (const f of r.failed) lines.push(`FAILED: ${f}`);
  return lines.join('\n');
}
