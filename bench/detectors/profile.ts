// Where the Redis path's time goes: one detector enabled at a time (or all), CPU of this process and redis-server,
// over the fleet's mix or, with --workload, over sessions of one kind: new-pairs (every session a client-server pair
// seen once, as most of a fleet's conversations are) or busy-pairs (50 pairs polling every few seconds); per session
// in µs as well.
//   node --import tsx --conditions=fleetcap-source bench/detectors/profile.ts [--redis-url URL] [--sessions N]
//     [--only DETECTOR,...|all] [--workload mix|new-pairs|busy-pairs]
import { parseArgs } from 'node:util';
import { DETECTORS, defaultDetectorConfig } from '@fleetcap/lib/detectors/config';
import { connections } from '../../test/helpers/stack.ts';
import { DetectorRedis } from './redis-path.ts';
import { busyPairs, fleetMix, newPairs } from './workloads.ts';

const { values } = parseArgs({
  options: {
    'redis-url': { type: 'string' },
    sessions: { type: 'string', default: '100000' },
    only: { type: 'string' },
    workload: { type: 'string', default: 'mix' },
  },
});
const WORKLOADS = { mix: fleetMix, 'new-pairs': newPairs, 'busy-pairs': busyPairs };
const workload = WORKLOADS[values.workload as keyof typeof WORKLOADS];
if (!workload) throw new Error(`--workload ${values.workload}: one of ${Object.keys(WORKLOADS).join(', ')}`);
const url = values['redis-url'] ?? connections.redisUrl;
const path = new DetectorRedis(url);
const sessions = workload(Number(values.sessions), 0);
const perSession = (seconds: number) => ((seconds * 1e6) / sessions.length).toFixed(1);
try {
  for (const only of values.only ? values.only.split(',') : [...DETECTORS, 'all']) {
    const config = defaultDetectorConfig();
    for (const d of DETECTORS) config[d].enabled = only === 'all' || d === only;
    const r = await path.throughput(sessions, `prof${process.pid}${only}`, config);
    console.log(
      `${only.padEnd(16)} detector ${r.detectorCpuSeconds.toFixed(2)} s + redis ${r.redisCpuSeconds.toFixed(2)} s: ${Math.round(r.sessionsPerCoreSecond)} sessions per CPU-second; per session ${perSession(r.detectorCpuSeconds)} µs + ${perSession(r.redisCpuSeconds)} µs`,
    );
  }
} finally {
  await path.close();
}
