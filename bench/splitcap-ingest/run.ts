// Benchmark: splitcap ingest into Redis, as a ratio of what `redis-benchmark -P 64 -t zadd` reaches on
// the same Redis in the same run (DESIGN.md: at least 50%). Both are measured 3 times, medians quoted.
//   node --import tsx --conditions=fleetcap-source bench/splitcap-ingest/run.ts [--seconds 8] [--replicas 1] [--concurrency 4] [--runs 3] [--zadd-requests 2000000]
// Needs the local stack (bash stack/stack.sh up). Uses its own Redis prefix and queues, removed after.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { removePipelineNamespace } from '../../test/helpers/namespace.ts';
import { startApp } from '../../test/helpers/processes.ts';
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
  },
});
const seconds = Number(values.seconds);
const replicas = Number(values.replicas);
const concurrency = Number(values.concurrency);
const runs = Number(values.runs);
const batchesPerRun = Number(values.batches);
const zaddRequests = Number(values['zadd-requests']);
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

async function splitcapRun(run: number): Promise<IngestRun> {
  const prefix = `bench${process.pid}r${run}`;
  const token = 'bench-token-1234567';
  const apps = await Promise.all(
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
        60_000,
      ),
    ),
  );
  // Batches of 1,000 packets: 50 TCP sessions of 20 packets each, new sessions in every batch (a
  // reused body would only add packets over the cap). Made before the clock starts.
  const bodies = Array.from(
    { length: batchesPerRun },
    (_, i) =>
      syntheticCapture(
        Array.from({ length: 50 }, () => ({ proto: 'tcp' as const, packets: 20 })),
        run * 100000 + i,
      ).pcap,
  );
  let packets = 0;
  let batches = 0;
  let next = 0;
  const pids = { splitcap: apps.map((a) => a.child.pid!), redis: redisPid, rabbitmq: beamPid };
  const cpuNow = () => ({
    splitcap: pids.splitcap.reduce((sum, pid) => sum + cpuSeconds(pid), 0),
    redis: cpuSeconds(pids.redis),
    rabbitmq: pids.rabbitmq ? cpuSeconds(pids.rabbitmq) : 0,
    client: cpuSeconds('self'),
  });
  const cpuBefore = cpuNow();
  const deadline = Date.now() + seconds * 1000;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (Date.now() < deadline && next < bodies.length) {
        const i = next++;
        const app = apps[(w + i) % apps.length]!;
        const res = await fetch(`http://127.0.0.1:${app.port}/v1/batches`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${token}`,
            'x-fleetcap-agent': 'bench',
            'x-fleetcap-batch': `b${i}`,
            'content-type': 'application/vnd.tcpdump.pcap',
          },
          body: bodies[i]!,
        });
        const body = (await res.json()) as { packetsStored?: number };
        if (res.status !== 202) throw new Error(`upload answered ${res.status}: ${JSON.stringify(body)}`);
        packets += body.packetsStored ?? 0;
        batches++;
      }
    }),
  );
  const elapsed = (Date.now() - started) / 1000;
  const cpuAfter = cpuNow();
  const used = (k: keyof typeof cpuBefore) => cpuAfter[k] - cpuBefore[k];
  const per1000 = (k: keyof typeof cpuBefore) => (used(k) * 1000) / Math.max(1, packets);
  const serverSide = used('splitcap') + used('redis') + used('rabbitmq');
  if (next >= bodies.length)
    console.log(`  (all ${bodies.length} prepared batches sent before the ${seconds} s were up: raise --batches)`);
  await Promise.all(apps.map((a) => a.stop()));
  await removePipelineNamespace(prefix);
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
  const c = r.cpuPer1000;
  const ms = (x: number) => (x * 1000).toFixed(2);
  console.log(
    `run ${run + 1}: redis-benchmark zadd -P 64 ${Math.round(z.perSecond)} ops/s (${Math.round(z.perCpuSecond)} per CPU-s); ` +
      `splitcap ${Math.round(r.packetsPerSecond)} packets/s (${r.batches} batches), ${Math.round(r.perCpuSecond)} per CPU-s; ` +
      `CPU ms per 1,000 packets: splitcap ${ms(c.splitcap)}, redis ${ms(c.redis)}, rabbitmq ${ms(c.rabbitmq)}, client ${ms(c.client)}`,
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
