// Benchmark: the ingest and verdict benches (bench/splitcap-ingest, bench/verdicts) on the cluster stack, as a ratio
// to the single-node stack measured in the same run. Each round runs each bench once against the single servers and
// once against the clusters (their order alternating from round to round, so that a change of the machine's load
// falls on both), as the benches are, with only the apps' cluster variables differing (.stack/run/cluster.env);
// medians of the rounds are compared.
//   node --import tsx --conditions=fleetcap-source bench/cluster/run.ts [--rounds 3] [--short] [--only ingest,verdicts]
//     [--out DIR]
// The table and each round's figures go to stdout and to DIR/RESULTS.md and DIR/results.json (DIR: bench/cluster).
// Needs both stacks of one FLEETCAP_STACK_HOME up: `bash stack/stack.sh up` (the single Redis and RabbitMQ) and
// `bash stack/stack.sh up --cluster` (the clusters; MariaDB and Kafka are shared).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CLUSTER_VARIABLES, clusterEnvFile, readClusterEnv } from '../../test/cluster/cluster-env-file.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    short: { type: 'boolean', default: false },
    only: { type: 'string', default: 'ingest,verdicts' },
    out: { type: 'string', default: join(fileURLToPath(new URL('.', import.meta.url))) },
  },
});
const rounds = Number(values.rounds);
const only = values.only.split(',').map((s) => s.trim());
const cluster = readClusterEnv();
for (const name of CLUSTER_VARIABLES)
  if (!cluster[name]) {
    console.error(`bench/cluster: ${clusterEnvFile} has no ${name}: run 'bash stack/stack.sh up --cluster' first`);
    process.exit(2);
  }
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

type Stack = 'single' | 'cluster';
function envFor(stack: Stack): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of CLUSTER_VARIABLES) delete env[name];
  return stack === 'cluster' ? { ...env, ...cluster } : env;
}

interface Bench {
  name: string;
  argv: string[];
  /** The figures a run gives, by name (higher is better unless the name says ms). */
  read: (out: string) => Record<string, number>;
}
const num = (out: string, re: RegExp, what: string) => {
  const m = re.exec(out);
  if (!m) throw new Error(`cannot find ${what} in the output:\n${out.slice(-2000)}`);
  return Number(m[1]);
};
const allBenches: Bench[] = [
  {
    name: 'ingest',
    argv: [
      'bench/splitcap-ingest/run.ts',
      '--runs',
      '1',
      ...(values.short ? ['--seconds', '4', '--batches', '700', '--zadd-requests', '200000'] : []),
    ],
    read: (out) => ({
      'splitcap ingest, packets/s': num(out, /\| splitcap ingest [^|]*\| (\d+) packets\/s \|/, 'the ingest rate'),
    }),
  },
  {
    name: 'verdicts',
    argv: ['bench/verdicts/run.ts', ...(values.short ? ['--sessions', '5000', '--seconds', '8'] : [])],
    read: (out) => ({
      'verdict throughput, sessions/s': num(out, /\(immediate path\) \| (\d+) sessions\/s/, 'the throughput'),
      'upload → verdict row p99, ms': num(out, /latency upload -> committed row, p99 \| (\d+) ms/, 'the p99'),
      'upload → verdict row p50, ms': num(out, /latency upload -> committed row, p50 \| (\d+) ms/, 'the p50'),
    }),
  },
];
const benches = allBenches.filter((b) => only.includes(b.name));

const figures: Record<string, Record<Stack, number[]>> = {};
const started = new Date();
const roundLines: string[] = [];
for (let round = 0; round < rounds; round++)
  for (const bench of benches) {
    const order: Stack[] = round % 2 === 0 ? ['single', 'cluster'] : ['cluster', 'single'];
    for (const stack of order) {
      const res = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=fleetcap-source', ...bench.argv], {
        cwd: root,
        env: envFor(stack),
        encoding: 'utf8',
        timeout: 900_000,
      });
      const out = `${res.stdout}${res.stderr}`;
      if (res.status !== 0) {
        console.error(`round ${round + 1}, ${bench.name} on the ${stack} stack failed (exit ${res.status}):\n${out}`);
        process.exit(1);
      }
      const got = bench.read(out);
      for (const [measure, value] of Object.entries(got)) {
        figures[measure] ??= { single: [], cluster: [] };
        figures[measure][stack].push(value);
      }
      const line = `round ${round + 1}: ${bench.name} on the ${stack} stack: ${Object.entries(got)
        .map(([m, v]) => `${m} ${v}`)
        .join(', ')} (load ${loadavg()[0]!.toFixed(1)})`;
      roundLines.push(line);
      console.log(line);
    }
  }

const result: Record<string, { single: number; cluster: number; ratio: number }> = {};
const table = [
  `| measure | single-node stack | cluster stack | cluster / single | (medians of ${rounds} rounds) |`,
  '|---|---|---|---|---|',
];
for (const [measure, f] of Object.entries(figures)) {
  const single = median(f.single);
  const clustered = median(f.cluster);
  result[measure] = { single, cluster: clustered, ratio: clustered / single };
  table.push(`| ${measure} | ${single} | ${clustered} | ${(clustered / single).toFixed(2)} × | |`);
}
table.push(`| load average (1 min) at the end | ${loadavg()[0]!.toFixed(1)} | | | |`);
console.log(`\n${table.join('\n')}`);
const command =
  `node --import tsx --conditions=fleetcap-source bench/cluster/run.ts ${process.argv.slice(2).join(' ')}`.trim();
mkdirSync(values.out, { recursive: true });
writeFileSync(
  join(values.out, 'RESULTS.md'),
  [
    '# The ingest and verdict benches on the cluster stack, against the single-node stack in the same run',
    '',
    `Written by \`${command}\` (${started.toISOString()} to ${new Date().toISOString()}, ${values.short ? 'short mode' : 'full mode'}).`,
    'Each round runs each bench once on each stack, the order alternating; the table gives the medians. The cluster',
    "stack's splitcap waits for a replica of each append (FLEETCAP_REDIS_WAIT_REPLICAS=1 from cluster.env), as a 202",
    'there promises; the single stack has no replica to wait for.',
    '',
    ...table,
    '',
    '## Each round',
    '',
    ...roundLines.map((l) => `- ${l}`),
    '',
  ].join('\n'),
);
writeFileSync(
  join(values.out, 'results.json'),
  `${JSON.stringify({ command, started: started.toISOString(), rounds, short: values.short, result, roundLines }, null, 2)}\n`,
);
console.log(`bench-result: ${JSON.stringify({ rounds, stackHome: join(clusterEnvFile, '../..'), result })}`);
