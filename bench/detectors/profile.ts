// Where the Redis path's time goes: one detector enabled at a time (or all), CPU of this process and redis-server.
//   node --import tsx --conditions=fleetcap-source bench/detectors/profile.ts [--redis-url URL] [--sessions N]
import { parseArgs } from 'node:util';
import { DETECTORS, defaultDetectorConfig } from '@fleetcap/lib/detectors/config';
import { connections } from '../../test/helpers/stack.ts';
import { DetectorRedis } from './redis-path.ts';
import { fleetMix } from './workloads.ts';

const { values } = parseArgs({
  options: {
    'redis-url': { type: 'string' },
    sessions: { type: 'string', default: '100000' },
    only: { type: 'string' },
  },
});
const url = values['redis-url'] ?? connections.redisUrl;
const path = new DetectorRedis(url);
const sessions = fleetMix(Number(values.sessions), 0);
try {
  for (const only of values.only ? values.only.split(',') : [...DETECTORS, 'all']) {
    const config = defaultDetectorConfig();
    for (const d of DETECTORS) config[d].enabled = only === 'all' || d === only;
    const r = await path.throughput(sessions, `prof${process.pid}${only}`, config);
    console.log(
      `${only.padEnd(16)} detector ${r.detectorCpuSeconds.toFixed(2)} s + redis ${r.redisCpuSeconds.toFixed(2)} s: ${Math.round(r.sessionsPerCoreSecond)} sessions per CPU-second`,
    );
  }
} finally {
  await path.close();
}
