// Benchmark: splitcap ingest into Redis, as a ratio of what `redis-benchmark -P 64 -t zadd` reaches on
// the same Redis in the same run (DESIGN.md: at least 50%). Both are measured 3 times, medians quoted.
//   node --import tsx --conditions=fleetcap-source bench/splitcap-ingest/run.ts [--seconds 8] [--replicas 1] [--concurrency 4] [--runs 3] [--zadd-requests 2000000]
//   ... run.ts --active 10000,100000,1000000 [--active-packets 2] [--max-redis-mb 2500]: cost growth instead (issue 20
//   item 4: the ingest rate with that many sessions active, and Redis bytes per active session; costGrowth below;
//   [--samples 3]: measured uploads per level, the median quoted).
// Each splitcap gets --warmup batches (default 40) before its clock starts.
// Needs the local stack (bash stack/stack.sh up). Uses its own Redis prefix and queues, removed after.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { removePipelineNamespace } from '../../test/helpers/namespace.ts';
import { type RunningApp, startApp } from '../../test/helpers/processes.ts';
import { connections, repoRoot } from '../../test/helpers/stack.ts';
import { syntheticCapture } from '../../test/helpers/synthetic-sessions.ts';
import { withBenchmarkLogin } from '../redis-benchmark-login.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    replicas: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '4' },
    runs: { type: 'string', default: '3' },
    batches: { type: 'string', default: '1500' },
    'zadd-requests': { type: 'string', default: '2000000' },
    warmup: { type: 'string', default: '40' },
    active: { type: 'string' },
    'active-packets': { type: 'string', default: '2' },
    samples: { type: 'string', default: '3' },
    'max-redis-mb': { type: 'string', default: '2500' },
  },
});
const seconds = Number(values.seconds);
const replicas = Number(values.replicas);
const concurrency = Number(values.concurrency);
const runs = Number(values.runs);
const batchesPerRun = Number(values.batches);
const zaddRequests = Number(values['zadd-requests']);
const warmup = Number(values.warmup);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// CPU time of each process taking part, from /proc (user + system; with `children`, waited-for children too): on a
// machine others share, packets per CPU-second is steadier than packets per second of wall time.
function cpuSeconds(pid: number | 'self', children = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0)) / 100;
  } catch {
    return 0;
  }
}
const redis = new Redis(connections.redisUrl, { lazyConnect: true });
const redisPid = Number(/^process_id:(\d+)/m.exec(await redis.info('server'))?.[1]);
await redis.quit();
/** RabbitMQ's Erlang VM: the beam.smp under the stack's rabbitmq-server wrapper, when this is the stack's. */
function rabbitPid(): number {
  try {
    const wrapper = readFileSync(
      join(process.env.FLEETCAP_STACK_HOME ?? join(repoRoot, '.stack'), 'run/rabbitmq.pid'),
      'utf8',
    ).trim();
    const find = (pid: string): number => {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'beam.smp') return Number(pid);
      const kids = execFileSync('pgrep', ['-P', pid], { encoding: 'utf8' }).split(/\s+/).filter(Boolean);
      for (const k of kids) {
        const found = find(k);
        if (found) return found;
      }
      return 0;
    };
    return find(wrapper);
  } catch {
    return 0;
  }
}
const beamPid = rabbitPid();

/** redis-benchmark's ZADD: per second, and per CPU-second of redis-benchmark and redis-server together. */
function redisBenchmarkZadd(): { perSecond: number; perCpuSecond: number } {
  const requests = zaddRequests;
  const redisBefore = cpuSeconds(redisPid);
  const selfChildrenBefore = cpuSeconds('self', true) - cpuSeconds('self');
  const url = new URL(connections.redisUrl);
  const out = withBenchmarkLogin(connections.redisUrl, (user, password) =>
    execFileSync(
      'redis-benchmark',
      ['-h', url.hostname, '-p', url.port || '6379', '--user', user, '-a', password].concat([
        '-P',
        '64',
        '-t',
        'zadd',
        '-n',
        String(requests),
        '-q',
        '-r',
        '100000',
      ]),
      { encoding: 'utf8' },
    ),
  );
  const benchCpu = cpuSeconds('self', true) - cpuSeconds('self') - selfChildrenBefore;
  const m = /ZADD: ([\d.]+) requests per second/.exec(out.replace(/\r/g, '\n'));
  if (!m) throw new Error(`cannot read redis-benchmark output: ${out}`);
  return { perSecond: Number(m[1]), perCpuSecond: requests / (benchCpu + cpuSeconds(redisPid) - redisBefore) };
}

interface IngestRun {
  packetsPerSecond: number;
  batches: number;
  /** CPU-seconds per 1,000 packets stored, by process. */
  cpuPer1000: { splitcap: number; redis: number; rabbitmq: number; client: number };
  /** Packets per CPU-second of splitcap, Redis and RabbitMQ (the client's upload cost left out, as redis-benchmark's is in). */
  perCpuSecond: number;
}

const token = 'bench-token-1234567';

async function startSplitcaps(prefix: string): Promise<RunningApp[]> {
  return await Promise.all(
    Array.from({ length: replicas }, () =>
      startApp(
        'splitcap',
        {
          FLEETCAP_SPLITCAP_PORT: '0',
          FLEETCAP_SPLITCAP_TOKENS: `bench=${token}`,
          FLEETCAP_REDIS_PREFIX: prefix,
          FLEETCAP_QUEUE_PREFIX: prefix,
          FLEETCAP_SPLITCAP_MAX_READY_DEPTH: '100000000',
        },
        // A tsx start took more than the default 15 s in run-all at load 27-30 (the bench then failed).
        120_000,
      ),
    ),
  );
}

/**
 * Batches of 1,000 packets: 50 TCP sessions of 20 packets each, new sessions in every batch (a reused body would
 * only add packets over the cap). `seed` keeps each call's sessions apart. Made before the clock starts.
 */
function ingestBodies(count: number, seed: number, sessions = 50, packets = 20): Buffer[] {
  return Array.from(
    { length: count },
    (_, i) =>
      syntheticCapture(
        Array.from({ length: sessions }, () => ({ proto: 'tcp' as const, packets })),
        seed + i,
      ).pcap,
  );
}

/** Sends `bodies` with `concurrency` uploads at a time until they or `limitSeconds` run out; what each upload stored. */
async function upload(apps: RunningApp[], bodies: Buffer[], limitSeconds: number, tag: string) {
  let packets = 0;
  let batches = 0;
  let next = 0;
  const deadline = Date.now() + limitSeconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (Date.now() < deadline && next < bodies.length) {
        const i = next++;
        const app = apps[(w + i) % apps.length]!;
        const send = () =>
          fetch(`http://127.0.0.1:${app.port}/v1/batches`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${token}`,
              'x-fleetcap-agent': 'bench',
              'x-fleetcap-batch': `${tag}${i}`,
              'content-type': 'application/vnd.tcpdump.pcap',
            },
            body: bodies[i]!,
          });
        let res: Response;
        try {
          res = await send();
        } catch {
          // A kept-alive connection that splitcap closed while idle (5 s, while the next bodies were made) fails
          // before any answer; the same batch id sent again is what an agent does, and is stored once.
          res = await send();
        }
        const body = (await res.json()) as { packetsStored?: number };
        if (res.status !== 202) throw new Error(`upload answered ${res.status}: ${JSON.stringify(body)}`);
        packets += body.packetsStored ?? 0;
        batches++;
      }
    }),
  );
  return { packets, batches, allSent: next >= bodies.length };
}

/**
 * The measured uploads: `warmup` batches first, off the clock (a fresh splitcap runs its first batches through cold
 * code: at load 20-50, the first 4 s were mostly JIT, while redis-benchmark has nothing to warm), then `seconds`.
 */
async function measureIngest(apps: RunningApp[], seed: number, tag: string): Promise<IngestRun> {
  const warm = ingestBodies(warmup, seed + 50_000);
  const bodies = ingestBodies(batchesPerRun, seed);
  await upload(apps, warm, 10 * seconds + 60, `${tag}w`);
  const pids = { splitcap: apps.map((a) => a.child.pid!), redis: redisPid, rabbitmq: beamPid };
  const cpuNow = () => ({
    splitcap: pids.splitcap.reduce((sum, pid) => sum + cpuSeconds(pid), 0),
    redis: cpuSeconds(pids.redis),
    rabbitmq: pids.rabbitmq ? cpuSeconds(pids.rabbitmq) : 0,
    client: cpuSeconds('self'),
  });
  const cpuBefore = cpuNow();
  const started = Date.now();
  const { packets, batches, allSent } = await upload(apps, bodies, seconds, tag);
  const elapsed = (Date.now() - started) / 1000;
  const cpuAfter = cpuNow();
  const used = (k: keyof typeof cpuBefore) => cpuAfter[k] - cpuBefore[k];
  const per1000 = (k: keyof typeof cpuBefore) => (used(k) * 1000) / Math.max(1, packets);
  const serverSide = used('splitcap') + used('redis') + used('rabbitmq');
  if (allSent)
    console.log(`  (all ${bodies.length} prepared batches sent before the ${seconds} s were up: raise --batches)`);
  return {
    packetsPerSecond: packets / elapsed,
    batches,
    cpuPer1000: {
      splitcap: per1000('splitcap'),
      redis: per1000('redis'),
      rabbitmq: per1000('rabbitmq'),
      client: per1000('client'),
    },
    perCpuSecond: packets / Math.max(0.001, serverSide),
  };
}

async function splitcapRun(run: number): Promise<IngestRun> {
  const prefix = `bench${process.pid}r${run}`;
  const apps = await startSplitcaps(prefix);
  try {
    return await measureIngest(apps, run * 100_000, `r${run}b`);
  } finally {
    await Promise.all(apps.map((a) => a.stop()));
    await removePipelineNamespace(prefix);
  }
}

const ms = (x: number) => (x * 1000).toFixed(2);
const cpuText = (c: IngestRun['cpuPer1000']) =>
  `CPU ms per 1,000 packets: splitcap ${ms(c.splitcap)}, redis ${ms(c.redis)}, rabbitmq ${ms(c.rabbitmq)}, client ${ms(c.client)}`;

if (values.active) {
  await costGrowth(values.active.split(',').map(Number));
  process.exit(0);
}

const zadd: number[] = [];
const zaddPerCpu: number[] = [];
const ingest: number[] = [];
const ingestPerCpu: number[] = [];
for (let run = 0; run < runs; run++) {
  const z = redisBenchmarkZadd();
  zadd.push(z.perSecond);
  zaddPerCpu.push(z.perCpuSecond);
  const r = await splitcapRun(run);
  ingest.push(r.packetsPerSecond);
  ingestPerCpu.push(r.perCpuSecond);
  console.log(
    `run ${run + 1}: redis-benchmark zadd -P 64 ${Math.round(z.perSecond)} ops/s (${Math.round(z.perCpuSecond)} per CPU-s); ` +
      `splitcap ${Math.round(r.packetsPerSecond)} packets/s (${r.batches} batches), ${Math.round(r.perCpuSecond)} per CPU-s; ${cpuText(r.cpuPer1000)}`,
  );
}
const ratio = median(ingest) / median(zadd);
const cpuRatio = median(ingestPerCpu) / median(zaddPerCpu);
console.log('\n| measure | median of', runs, 'runs |');
console.log('|---|---|');
console.log(`| redis-benchmark -P 64 -t zadd | ${Math.round(median(zadd))} ops/s |`);
console.log(
  `| splitcap ingest (${replicas} replica(s), ${concurrency} concurrent uploads, 1,000-packet batches) | ${Math.round(median(ingest))} packets/s |`,
);
console.log(`| ratio | ${(ratio * 100).toFixed(1)}% (bar: 50%) |`);
console.log(
  `| redis-benchmark per CPU-second (redis-benchmark + redis-server) | ${Math.round(median(zaddPerCpu))} ops |`,
);
console.log(
  `| splitcap per CPU-second (splitcap + redis-server + RabbitMQ) | ${Math.round(median(ingestPerCpu))} packets |`,
);
console.log(`| ratio per CPU-second | ${(cpuRatio * 100).toFixed(1)}% |`);
console.log(`| load average (1 min) at the end | ${loadavg()[0]!.toFixed(1)} |`);

/**
 * Cost growth (issue 20 item 4): the ingest rate with `levels` sessions active in Redis, and Redis bytes per active
 * session against the packet bytes it stores. The first level's sessions are uploaded through splitcap
 * (--active-packets packets each: a TCP handshake by default, the shape of the many sessions a scan or a fleet's
 * idle connections leave active); the next levels copy them (clone-sessions.lua) up to the level. At each level the
 * same measured uploads as the ratio runs (20-packet sessions, after the warm-up) give packets/s and per CPU-second.
 * No worker runs, so nothing stored is removed.
 */
async function costGrowth(levels: number[]): Promise<void> {
  const activePackets = Number(values['active-packets']);
  const maxRedisBytes = Number(values['max-redis-mb']) * 1024 * 1024;
  const sessionsPerBatch = 1000;
  if (levels.some((l, i) => !Number.isInteger(l / levels[0]!) || (i > 0 && l <= levels[i - 1]!)))
    throw new Error(`--active ${values.active}: ascending levels, each a multiple of the first`);
  if (levels[0]! % sessionsPerBatch !== 0)
    throw new Error(`--active: the first level is a multiple of ${sessionsPerBatch}`);
  const admin = new Redis(connections.redisUrl);
  const usedMemory = async () => Number(/^used_memory:(\d+)/m.exec(await admin.info('memory'))?.[1]);
  const maxmemoryBefore = (await admin.config('GET', 'maxmemory')) as string[];
  const listpack = (await admin.config('GET', '*-max-listpack-value')) as string[];
  const cloneLua = readFileSync(new URL('./clone-sessions.lua', import.meta.url), 'utf8');
  const prefix = `bench${process.pid}g`;
  // Captured bytes of a pcap of `packets` packets: the body less the file header and a record header per packet.
  const frameBytes = (pcap: Buffer, packets: number) => pcap.length - 24 - 16 * packets;
  const apps = await startSplitcaps(prefix);
  const rows: string[] = [];
  const rates: number[] = [];
  const perCpu: number[] = [];
  let uploadedRatio = '';
  const results: Array<Record<string, number>> = [];
  let uploaded: Record<string, number> = {};
  try {
    const base = await usedMemory();
    const templates = ingestBodies(levels[0]! / sessionsPerBatch, 700_000, sessionsPerBatch, activePackets);
    const stored = await upload(apps, templates, 1e9, 'g-t');
    if (stored.packets !== levels[0]! * activePackets)
      throw new Error(`the first level stored ${stored.packets} packets, not ${levels[0]! * activePackets}`);
    const templateFrameBytes =
      templates.reduce((sum, b) => sum + frameBytes(b, sessionsPerBatch * activePackets), 0) / levels[0]!;
    const tags: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:s:*:m`, 'COUNT', 5000);
      for (const k of keys) tags.push(k.slice(k.indexOf('{') + 1, k.lastIndexOf('}')));
      cursor = next;
    } while (cursor !== '0');
    if (tags.length !== levels[0]) throw new Error(`found ${tags.length} sessions after the first level's uploads`);
    let active = levels[0]!;
    let uploadsMemory = 0;
    let clones = 0;
    for (const [i, level] of levels.entries()) {
      if (level > active) {
        const perSession = ((await usedMemory()) - base - uploadsMemory) / active;
        const needed = base + level * perSession * 1.1;
        if (needed > maxRedisBytes) {
          console.log(
            `level ${level}: about ${Math.round(needed / 2 ** 20)} MB of Redis, over --max-redis-mb ${values['max-redis-mb']}: not run`,
          );
          break;
        }
        // Above the splitcap memory guard's high-water mark (0.8 of maxmemory by default), with room for the uploads.
        const maxmemory = Math.max(Number(maxmemoryBefore[1]), Math.ceil((needed + 256 * 2 ** 20) / 0.75));
        await admin.config('SET', 'maxmemory', String(maxmemory));
        const count = (level - active) / levels[0]!;
        const started = Date.now();
        // About 5,000 copies a call: a script holds Redis while it runs (at load 40, 90,000 copies took over 5 s,
        // and other clients got BUSY).
        const perCall = Math.max(1, Math.floor(1000 / count));
        for (let at = 0; at < tags.length; at += perCall)
          await admin.eval(
            cloneLua,
            0,
            `${prefix}:s:{`,
            String(clones + 1),
            String(count),
            ...tags.slice(at, at + perCall),
          );
        clones += count;
        active = level;
        console.log(
          `level ${level}: ${count} copies of each session made in ${((Date.now() - started) / 1000).toFixed(1)} s`,
        );
      }
      // What the active sessions hold: the measured uploads of the levels before are left out.
      const before = await usedMemory();
      const memory = before - base - uploadsMemory;
      const samples: IngestRun[] = [];
      for (let n = 0; n < Number(values.samples); n++)
        samples.push(await measureIngest(apps, 200_000 + i * 100_000 + n * 10_000, `g${i}s${n}b`));
      const run = samples.sort((a, b) => a.packetsPerSecond - b.packetsPerSecond)[Math.floor(samples.length / 2)]!;
      const perCpuMedian = median(samples.map((r) => r.perCpuSecond));
      uploadsMemory += (await usedMemory()) - before;
      if (i === 0) {
        // The measured uploads' own sessions: 20 packets each, (warm-up + measured batches) × 50 of them per sample.
        const uploadedSessions = samples.reduce((sum, r) => sum + (warmup + r.batches) * 50, 0);
        const sample = ingestBodies(1, 123_456)[0]!;
        const perSession = ((await usedMemory()) - before) / uploadedSessions;
        uploaded = { bytesPerSession: Math.round(perSession), packetBytes: Math.round(frameBytes(sample, 1000) / 50) };
        uploadedRatio =
          `| Redis bytes per active session, the measured uploads' 20-packet sessions | ${Math.round(perSession)} ` +
          `(${(perSession / (frameBytes(sample, 1000) / 50)).toFixed(2)} × the ${Math.round(frameBytes(sample, 1000) / 50)} packet bytes it stores) |`;
      }
      rates.push(run.packetsPerSecond);
      perCpu.push(perCpuMedian);
      console.log(
        `level ${level}: median of ${samples.length}: ${Math.round(run.packetsPerSecond)} packets/s (samples ${samples.map((r) => Math.round(r.packetsPerSecond)).join(', ')}), ${Math.round(perCpuMedian)} per CPU-s (samples ${samples.map((r) => Math.round(r.perCpuSecond)).join(', ')}); ${cpuText(run.cpuPer1000)}`,
      );
      results.push({
        active: level,
        bytesPerSession: Math.round(memory / level),
        packetBytes: Math.round(templateFrameBytes),
        packetsPerSecond: Math.round(run.packetsPerSecond),
        perCpuSecond: Math.round(perCpuMedian),
      });
      rows.push(
        `| ${level} | ${Math.round(memory / level)} | ${(memory / level / templateFrameBytes).toFixed(2)} | ${Math.round(run.packetsPerSecond)} | ${Math.round(perCpuMedian)} |`,
      );
    }
    const spread = (xs: number[]) => Math.max(...xs) / Math.min(...xs) - 1;
    console.log(
      `\nActive sessions of ${activePackets} packets (${Math.round(templateFrameBytes)} packet bytes stored each); Redis ${listpack.join(' ')}`,
    );
    console.log(
      '| active sessions | Redis bytes per active session | ÷ packet bytes stored | ingest packets/s | packets per CPU-s |',
    );
    console.log('|---|---|---|---|---|');
    for (const r of rows) console.log(r);
    console.log('\n| measure | value |');
    console.log('|---|---|');
    console.log(uploadedRatio);
    console.log(
      `| ingest rate spread over the levels (max/min - 1) | ${(spread(rates) * 100).toFixed(1)}% (goal: within 20%) |`,
    );
    console.log(`| per CPU-second spread over the levels | ${(spread(perCpu) * 100).toFixed(1)}% |`);
    console.log(`| load average (1 min) at the end | ${loadavg()[0]!.toFixed(1)} |`);
    console.log(
      `bench-result: ${JSON.stringify({ levels: results, uploaded, spread: spread(rates), perCpuSpread: spread(perCpu) })}`,
    );
  } finally {
    await Promise.all(apps.map((a) => a.stop()));
    await removePipelineNamespace(prefix);
    await admin.config('SET', 'maxmemory', maxmemoryBefore[1]!);
    await admin.quit();
  }
}
