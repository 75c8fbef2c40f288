// Benchmark of the detectors (lib/src/detectors, apps/detector):
//  1. the pure path (DetectorEngine, in memory: what `fleetcap detections FILE...` runs): sessions per second per
//     core (CPU time of this one-threaded process);
//  2. the Redis path (the verdict events as the worker publishes them, decoded, in batches of the app's default size (2048) through
//     RedisDetector: one observe-batch-4.lua call per Redis master, pipelined, as the detector app does): sessions
//     per second, and per CPU-second, "per core" counting this process's and
//     redis-server's CPU time (user + system, all threads, from /proc/<pid>/stat); both as ratios of
//     `redis-benchmark -P 64 -t zadd` on the same Redis in the same run (its per-CPU-second figure counts
//     redis-benchmark's and redis-server's CPU likewise);
//  3. state memory per tracked subject: heap (pure) and Redis used_memory (Redis path) for many sources that each
//     probed a few destinations (a flood of distinct sources: the case the caps are for).
// Each measured 3 times, medians quoted. Needs the local stack's Redis (`npx fleetcap up`).
// --baseline DIR also measures the Redis path of another checkout (a worktree of main) in the same runs.
//   node --expose-gc --import tsx --conditions=fleetcap-source bench/detectors/run.ts [--sessions 200000] [--sources 20000]
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { defaultDetectorConfig } from '@fleetcap/lib/detectors/config';
import { DetectorEngine } from '@fleetcap/lib/detectors/engine';
import { connections } from '../../test/helpers/stack.ts';
import { withBenchmarkLogin } from '../redis-benchmark-login.ts';
import { DetectorRedis, implementationAt, procCpuSeconds } from './redis-path.ts';
import { distinctSources, fleetMix } from './workloads.ts';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '200000' },
    sources: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '3' },
    /** Another checkout (e.g. a worktree of main) whose Redis path is measured in the same runs, alternating. */
    baseline: { type: 'string' },
  },
});
const SESSIONS = Number(values.sessions);
const SOURCES = Number(values.sources);
const RUNS = Number(values.runs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function purePath(run: number): { perCore: number; wall: number; detections: number } {
  const sessions = fleetMix(SESSIONS, run);
  const engine = new DetectorEngine(defaultDetectorConfig());
  const cpu = cpuSeconds();
  const started = performance.now();
  for (const s of sessions) engine.process(s);
  const wall = (performance.now() - started) / 1000;
  return { perCore: SESSIONS / (cpuSeconds() - cpu), wall: SESSIONS / wall, detections: engine.detections().length };
}

function pureMemory(run: number): number {
  const sessions = distinctSources(SOURCES, run);
  gc();
  const before = process.memoryUsage().heapUsed;
  const engine = new DetectorEngine(defaultDetectorConfig());
  for (const s of sessions) engine.process(s);
  gc();
  const bytes = process.memoryUsage().heapUsed - before;
  if (engine.detections().length > 1000) throw new Error('the memory workload should open few incidents');
  // Every detector's state of a source: its horizontal scan subject, and per destination a vertical scan and a
  // beaconing subject.
  return bytes / SOURCES;
}

/**
 * redis-benchmark's ZADD with 64 commands in flight: per second of wall time, and per CPU-second of redis-benchmark
 * and redis-server together (from /proc, as the detector's figure), so the two are counted alike.
 */
function redisBenchmarkZadd(redisPid: number): { perSecond: number; perCpuSecond: number } {
  const url = new URL(connections.redisUrl);
  const port = url.port || '6379';
  const requests = 1_000_000;
  const before = procCpuSeconds(redisPid);
  // The shell's /proc stat, read after redis-benchmark was waited for, holds its CPU in the children's fields.
  const out = withBenchmarkLogin(connections.redisUrl, (user, password) =>
    execFileSync(
      'bash',
      [
        '-c',
        `redis-benchmark -p ${port} --user ${user} -a "$BENCH_REDIS_PASSWORD" -P 64 -t zadd -n ${requests} -q -r 100000 2>&1 | grep -v 'Warning: Using a password' && echo && echo "STAT $(cat /proc/$$/stat)"`,
      ],
      { encoding: 'utf8', env: { ...process.env, BENCH_REDIS_PASSWORD: password } },
    ),
  );
  const redisSeconds = procCpuSeconds(redisPid) - before;
  const m = /ZADD: ([\d.]+) requests per second/.exec(out.replace(/\r/g, '\n'));
  const stat = /^STAT (.*)$/m.exec(out)?.[1];
  if (!m || !stat) throw new Error(`cannot read redis-benchmark output: ${out}`);
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const benchSeconds = (Number(f[13]) + Number(f[14])) / 100;
  return { perSecond: Number(m[1]), perCpuSecond: requests / (benchSeconds + redisSeconds) };
}

const results = { pure: [] as number[], pureWall: [] as number[], redis: [] as number[], redisPerCore: [] as number[] };
const observationRates: number[] = [];
const zadd: number[] = [];
const zaddPerCpu: number[] = [];
const redisShare: number[] = [];
const pureBytes: number[] = [];
const redisBytes: number[] = [];
const redisPath = new DetectorRedis(connections.redisUrl);
const baselinePath = values.baseline
  ? new DetectorRedis(connections.redisUrl, await implementationAt(values.baseline))
  : undefined;
const baseline = { perCore: [] as number[], bytes: [] as number[], redisShare: [] as number[] };
try {
  for (let run = 0; run < RUNS; run++) {
    const p = purePath(run);
    results.pure.push(p.perCore);
    results.pureWall.push(p.wall);
    pureBytes.push(pureMemory(run));
    const r = await redisPath.throughput(fleetMix(Math.min(SESSIONS, 100_000), run), `benchdet${process.pid}r${run}`);
    results.redis.push(r.sessionsPerSecond);
    results.redisPerCore.push(r.sessionsPerCoreSecond);
    redisShare.push(r.redisCpuSeconds / (r.redisCpuSeconds + r.detectorCpuSeconds));
    observationRates.push(r.observationsPerSecond);
    redisBytes.push(await redisPath.memoryPerSubject(distinctSources(SOURCES, run), `benchdetm${process.pid}r${run}`));
    if (baselinePath) {
      const b = await baselinePath.throughput(
        fleetMix(Math.min(SESSIONS, 100_000), run),
        `benchdetb${process.pid}r${run}`,
      );
      baseline.perCore.push(b.sessionsPerCoreSecond);
      baseline.redisShare.push(b.redisCpuSeconds / (b.redisCpuSeconds + b.detectorCpuSeconds));
      baseline.bytes.push(
        await baselinePath.memoryPerSubject(distinctSources(SOURCES, run), `benchdetbm${process.pid}r${run}`),
      );
      console.log(
        `run ${run + 1}: baseline redis ${Math.round(b.sessionsPerCoreSecond)} per CPU-second (detector ${b.detectorCpuSeconds.toFixed(2)} s + redis ${b.redisCpuSeconds.toFixed(2)} s)`,
      );
    }
    const z = redisBenchmarkZadd(await redisPath.serverPid());
    zadd.push(z.perSecond);
    zaddPerCpu.push(z.perCpuSecond);
    console.log(
      `run ${run + 1}: pure ${Math.round(p.perCore)} sessions/s/core (${p.detections} incidents); redis ${Math.round(r.sessionsPerSecond)} sessions/s, ${Math.round(r.sessionsPerCoreSecond)} per CPU-second (detector ${r.detectorCpuSeconds.toFixed(2)} s + redis ${r.redisCpuSeconds.toFixed(2)} s), ${Math.round(r.observationsPerSecond)} observations/s; zadd ${Math.round(z.perSecond)}/s, ${Math.round(z.perCpuSecond)} per CPU-second`,
    );
  }
} finally {
  await redisPath.close();
  await baselinePath?.close();
}
const ratio = median(observationRates) / median(zadd);
console.log(
  JSON.stringify(
    {
      sessions: SESSIONS,
      pureSessionsPerSecondPerCore: Math.round(median(results.pure)),
      pureSessionsPerSecondWall: Math.round(median(results.pureWall)),
      redisSessionsPerSecond: Math.round(median(results.redis)),
      redisSessionsPerCoreSecond: Math.round(median(results.redisPerCore)),
      redisObservationsPerSecond: Math.round(median(observationRates)),
      redisBenchmarkZaddPerSecond: Math.round(median(zadd)),
      redisBenchmarkZaddPerCpuSecond: Math.round(median(zaddPerCpu)),
      sessionsToZaddRatio: Number((median(results.redis) / median(zadd)).toFixed(3)),
      observationsToZaddRatio: Number(ratio.toFixed(3)),
      sessionsPerCpuSecondToZaddPerCpuSecondRatio: Number(
        (median(results.redisPerCore) / median(zaddPerCpu)).toFixed(3),
      ),
      redisShareOfCpu: Number(median(redisShare).toFixed(2)),
      pureBytesPerTrackedSource: Math.round(median(pureBytes)),
      redisBytesPerTrackedSource: Math.round(median(redisBytes)),
      ...(baselinePath
        ? {
            baseline: values.baseline,
            baselineRedisSessionsPerCoreSecond: Math.round(median(baseline.perCore)),
            baselineRedisShareOfCpu: Number(median(baseline.redisShare).toFixed(2)),
            baselineRedisBytesPerTrackedSource: Math.round(median(baseline.bytes)),
            perCoreSecondToBaselineRatio: Number((median(results.redisPerCore) / median(baseline.perCore)).toFixed(2)),
          }
        : {}),
    },
    null,
    2,
  ),
);
