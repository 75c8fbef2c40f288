// The Redis path of this checkout against another checkout's (e.g. a worktree of main), in the same runs,
// alternating, on any Redis (a private `redis-server`, whose CPU then is the detectors' alone): sessions per
// CPU-second (the detector process and redis-server, as bench/detectors/run.ts counts them) and Redis memory per
// tracked source, medians.
//   node --import tsx --conditions=fleetcap-source bench/detectors/compare.ts --baseline DIR [--redis-url URL]
//     [--sessions 100000] [--sources 10000] [--runs 3] [--batch N] [--baseline-batch N]
// Batches: this checkout's app default unless --batch, the baseline's 512 (main's default before 2048) unless
// --baseline-batch; give both the same to compare the code alone.
import { parseArgs } from 'node:util';
import { DEFAULT_DETECTOR_BATCH_SIZE } from '@fleetcap/detector/config';
import { connections } from '../../test/helpers/stack.ts';
import { DetectorRedis, implementationAt, THIS_CHECKOUT } from './redis-path.ts';
import { distinctSources, fleetMix } from './workloads.ts';

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    'redis-url': { type: 'string' },
    sessions: { type: 'string', default: '100000' },
    sources: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
    batch: { type: 'string' },
    'baseline-batch': { type: 'string', default: '512' },
  },
});
if (!values.baseline) throw new Error('--baseline DIR: the checkout to compare with (a worktree of main)');
const url = values['redis-url'] ?? connections.redisUrl;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const paths = {
  current: new DetectorRedis(url, THIS_CHECKOUT, values.batch ? Number(values.batch) : undefined),
  baseline: new DetectorRedis(url, await implementationAt(values.baseline), Number(values['baseline-batch'])),
};
const perCore = { current: [] as number[], baseline: [] as number[] };
const bytes = { current: [] as number[], baseline: [] as number[] };
try {
  for (let run = 0; run < Number(values.runs); run++) {
    const line: string[] = [];
    for (const which of ['current', 'baseline'] as const) {
      const r = await paths[which].throughput(
        fleetMix(Number(values.sessions), run),
        `cmp${which}${process.pid}r${run}`,
      );
      perCore[which].push(r.sessionsPerCoreSecond);
      bytes[which].push(
        await paths[which].memoryPerSubject(
          distinctSources(Number(values.sources), run),
          `cmpm${which}${process.pid}r${run}`,
        ),
      );
      line.push(
        `${which} ${Math.round(r.sessionsPerCoreSecond)} per CPU-second (detector ${r.detectorCpuSeconds.toFixed(2)} s + redis ${r.redisCpuSeconds.toFixed(2)} s), ${Math.round(bytes[which].at(-1)!)} bytes per source`,
      );
    }
    console.log(`run ${run + 1}: ${line.join('; ')}`);
  }
} finally {
  await paths.current.close();
  await paths.baseline.close();
}
console.log(
  JSON.stringify({
    sessionsPerCpuSecond: Math.round(median(perCore.current)),
    baselineSessionsPerCpuSecond: Math.round(median(perCore.baseline)),
    ratio: Number((median(perCore.current) / median(perCore.baseline)).toFixed(2)),
    batch: values.batch ? Number(values.batch) : DEFAULT_DETECTOR_BATCH_SIZE,
    baselineBatch: Number(values['baseline-batch']),
    redisBytesPerTrackedSource: Math.round(median(bytes.current)),
    baselineRedisBytesPerTrackedSource: Math.round(median(bytes.baseline)),
  }),
);
