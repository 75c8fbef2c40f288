// The cluster run from the command line (the long form; docs/OPERATIONS.md, "The cluster stack"):
//   node --import tsx --conditions=fleetcap-source test/cluster/run.ts [--seed N] [--rounds N] [--down-s S]
//     [--calm-s S] [--settle-s S] [--kinds redis-master,rabbitmq-node,...] [--overlap-restarts] [--json F]
// On the cluster stack only (bash stack/stack.sh up --cluster), and one nobody else uses: it kills its nodes.
// Exit 0 when every check holds, 1 otherwise; the table goes to stdout, the JSON report to --json FILE.
import './cluster-env.ts';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { assertClusterStack } from './cluster-env.ts';
import { failedClusterChecks, formatClusterReport, LOSS_KINDS, type LossKind, runCluster } from './cluster-run.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: String(Date.now() % 100000) },
    rounds: { type: 'string', default: '3' },
    'down-s': { type: 'string', default: '20' },
    'calm-s': { type: 'string', default: '15' },
    'settle-s': { type: 'string', default: '10' },
    kinds: { type: 'string' },
    'overlap-restarts': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
assertClusterStack();
const kinds = values.kinds?.split(',').map((k) => k.trim()) as LossKind[] | undefined;
for (const k of kinds ?? [])
  if (!LOSS_KINDS.includes(k)) throw new Error(`--kinds: no loss named ${k}; the kinds are ${LOSS_KINDS.join(', ')}`);
const report = await runCluster({
  seed: Number(values.seed),
  rounds: Number(values.rounds),
  downMs: Number(values['down-s']) * 1000,
  calmMs: Number(values['calm-s']) * 1000,
  settleMs: Number(values['settle-s']) * 1000,
  ...(kinds ? { kinds } : {}),
  overlapRestarts: values['overlap-restarts'],
  log: (line) => console.error(`${new Date().toISOString().slice(11, 19)} ${line}`),
});
console.log(formatClusterReport(report));
if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
const failed = failedClusterChecks(report);
for (const f of failed) console.log(`FAILED: ${f}`);
process.exit(failed.length === 0 ? 0 : 1);
