// Benchmark: splitcap ingest into Redis, as a ratio of what `redis-benchmark -P 64 -t zadd` reaches on
// the same Redis in the same run (DESIGN.md: at least 50%). Both are measured 3 times, medians quoted.
//   node --import tsx --conditions=fleetcap-source bench/splitcap-ingest/run.ts [--seconds 8] [--replicas 1] [--concurrency 4]
// Needs the local stack (bash stack/stack.sh up). Uses its own Redis prefix and queues, removed after.
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { removePipelineNamespace } from '../../test/helpers/namespace.ts';
import { startApp } from '../../test/helpers/processes.ts';
import { connections } from '../../test/helpers/stack.ts';
import { syntheticCapture } from '../../test/helpers/synthetic-sessions.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    replicas: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '4' },
    runs: { type: 'string', default: '3' },
    batches: { type: 'string', default: '1500' },
  },
});
const seconds = Number(values.seconds);
const replicas = Number(values.replicas);
const concurrency = Number(values.concurrency);
const runs = Number(values.runs);
const batchesPerRun = Number(values.batches);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function redisBenchmarkZadd(): number {
  const port = new URL(connections.redisUrl).port || '6379';
  const out = execFileSync(
    'redis-benchmark',
    ['-p', port, '-P', '64', '-t', 'zadd', '-n', '2000000', '-q', '-r', '100000'],
    {
      encoding: 'utf8',
    },
  );
  const m = /ZADD: ([\d.]+) requests per second/.exec(out.replace(/\r/g, '\n'));
  if (!m) throw new Error(`cannot read redis-benchmark output: ${out}`);
  return Number(m[1]);
}

async function splitcapRun(run: number): Promise<{ packetsPerSecond: number; batches: number }> {
  const prefix = `bench${process.pid}r${run}`;
  const token = 'bench-token-1234567';
  const apps = await Promise.all(
    Array.from({ length: replicas }, () =>
      startApp('splitcap', {
        FLEETCAP_SPLITCAP_PORT: '0',
        FLEETCAP_SPLITCAP_TOKENS: `bench=${token}`,
        FLEETCAP_REDIS_PREFIX: prefix,
        FLEETCAP_QUEUE_PREFIX: prefix,
        FLEETCAP_SPLITCAP_MAX_READY_DEPTH: '100000000',
      }),
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
  if (next >= bodies.length)
    console.log(`  (all ${bodies.length} prepared batches sent before the ${seconds} s were up: raise --batches)`);
  await Promise.all(apps.map((a) => a.stop()));
  await removePipelineNamespace(prefix);
  return { packetsPerSecond: packets / elapsed, batches };
}

const zadd: number[] = [];
const ingest: number[] = [];
for (let run = 0; run < runs; run++) {
  zadd.push(redisBenchmarkZadd());
  const r = await splitcapRun(run);
  ingest.push(r.packetsPerSecond);
  console.log(
    `run ${run + 1}: redis-benchmark zadd -P 64 ${Math.round(zadd[run]!)} ops/s; splitcap ${Math.round(r.packetsPerSecond)} packets/s (${r.batches} batches)`,
  );
}
const ratio = median(ingest) / median(zadd);
console.log('\n| measure | median of', runs, 'runs |');
console.log('|---|---|');
console.log(`| redis-benchmark -P 64 -t zadd | ${Math.round(median(zadd))} ops/s |`);
console.log(
  `| splitcap ingest (${replicas} replica(s), ${concurrency} concurrent uploads, 1,000-packet batches) | ${Math.round(median(ingest))} packets/s |`,
);
console.log(`| ratio | ${(ratio * 100).toFixed(1)}% (bar: 50%) |`);
