// The fault-injection run from the command line (the long form; docs/OPERATIONS.md, "Fault-injection run"):
//   node --import tsx --conditions=fleetcap-source test/faults/run.ts [--seed N] [--faults N] [--minutes M]
// Only against a stack nobody else uses: it restarts Redis, RabbitMQ and MariaDB (stack/stack.sh restart).
// Exit 0 when every check holds, 1 otherwise; the table goes to stdout, the JSON report to --json FILE.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { failedChecks } from './checks.ts';
import { formatReport, runFaults } from './fault-run.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: String(Date.now() % 100000) },
    faults: { type: 'string', default: '100' },
    minutes: { type: 'string', default: '20' },
    json: { type: 'string' },
  },
});
const report = await runFaults({
  seed: Number(values.seed),
  faults: Number(values.faults),
  minTrafficMs: Number(values.minutes) * 60_000,
  log: (line) => console.error(`${new Date().toISOString().slice(11, 19)} ${line}`),
});
console.log(formatReport(report));
if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
const failed = failedChecks(report);
for (const f of failed) console.log(`FAILED: ${f}`);
process.exit(failed.length === 0 ? 0 : 1);
