// The soak's long form (docs/OPERATIONS.md, "Soak"):
//   node --import tsx --conditions=fleetcap-source test/faults/soak-run.ts [--minutes 30] [--sample-s 30]
//     [--sessions-per-s 10] [--batch-ms 500] [--drain-minutes 10] [--json FILE]
// Exit 0 when memory stayed flat, Redis tracked the active sessions and the queues drained; 1 otherwise.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatSoak, runSoak } from './soak.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    'sample-s': { type: 'string', default: '30' },
    'sessions-per-s': { type: 'string', default: '10' },
    'batch-ms': { type: 'string', default: '500' },
    'drain-minutes': { type: 'string', default: '10' },
    json: { type: 'string' },
  },
});
const report = await runSoak({
  durationMs: Number(values.minutes) * 60_000,
  sampleMs: Number(values['sample-s']) * 1000,
  sessionsPerSecond: Number(values['sessions-per-s']),
  batchMs: Number(values['batch-ms']),
  drainDeadlineMs: Number(values['drain-minutes']) * 60_000,
  log: (line) => console.error(`${new Date().toISOString().slice(11, 19)} ${line}`),
});
console.log(formatSoak(report));
if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
process.exit(report.failed.length === 0 ? 0 : 1);
