// Every benchmark of bench/, each with the peer it is compared with measured in the same run, one after the other,
// then bench/RESULTS.md: issue 20's table with every ratio, the machine, the versions and the exact commands, and
// each bench's own output. Each bench is invoked as it is (its own script and options); this file only runs them,
// reads the figures they print and writes the table.
//   bash bench/run-all.sh [--short] [--cluster] [--only name,name] [--skip name,name] [--out bench/RESULTS.md]
// (--cluster: also bench/cluster, the cluster stack against the single-node stack; both must be up)
// (or `npx fleetcap bench [same options]`). --short: fewer runs, smaller inputs, shorter soaks (minutes, not an
// hour): the figures are rougher but the table has every row. Needs the local stack up (bash stack/stack.sh up, or
// FLEETCAP_STACK_HOME pointing at a running one) and root for the capture benches (tcpdump, network namespaces).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BENCHES, type BenchRow, type BenchSpec } from './run-all/benches.ts';
import { machineFacts } from './run-all/machine.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    only: { type: 'string' },
    skip: { type: 'string' },
    out: { type: 'string', default: join(root, 'bench/RESULTS.md') },
    logs: { type: 'string' },
    // The benches that need the cluster stack too (bash stack/stack.sh up --cluster): bench/cluster.
    cluster: { type: 'boolean', default: false },
  },
});
const short = values.short === true;
const names = (s: string | undefined) => (s ? s.split(',').map((x) => x.trim()) : []);
const only = names(values.only);
const skip = names(values.skip);
for (const n of [...only, ...skip]) {
  if (!BENCHES.some((b) => b.name === n)) {
    console.error(`run-all: no bench named ${n}; the benches are ${BENCHES.map((b) => b.name).join(', ')}`);
    process.exit(2);
  }
}
const chosen = BENCHES.filter(
  (b) =>
    (only.length === 0 ? !b.needsCluster || values.cluster === true : only.includes(b.name)) && !skip.includes(b.name),
);
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const logDir = resolve(values.logs ?? join(tmpdir(), `fleetcap-bench-all-${stamp}`));
mkdirSync(logDir, { recursive: true });

interface Outcome {
  bench: BenchSpec;
  argv: string[];
  exitCode: number | null;
  seconds: number;
  loadBefore: number;
  loadAfter: number;
  log: string;
  rows: BenchRow[];
  error?: string;
}

/** Runs one bench as its own process (under nice, as everything CPU-heavy on a shared machine), output teed to a log. */
function runBench(bench: BenchSpec): Promise<Outcome> {
  const outDir = join(logDir, bench.name);
  mkdirSync(outDir, { recursive: true });
  const argv = bench.command({ short, outDir, root });
  const logFile = join(logDir, `${bench.name}.log`);
  const log = createWriteStream(logFile);
  const loadBefore = loadavg()[0]!;
  const started = Date.now();
  console.log(`\n=== ${bench.name}: ${argv.join(' ')}`);
  return new Promise((done) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let text = '';
    const take = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      log.write(chunk);
      process.stdout.write(chunk);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (exitCode) => {
      log.end();
      const outcome: Outcome = {
        bench,
        argv,
        exitCode,
        seconds: (Date.now() - started) / 1000,
        loadBefore,
        loadAfter: loadavg()[0]!,
        log: logFile,
        rows: [],
      };
      try {
        outcome.rows = bench.read(text, outDir);
      } catch (err) {
        outcome.error = (err as Error).message;
      }
      done(outcome);
    });
  });
}

const facts = machineFacts(root);
const startedAt = new Date();
const outcomes: Outcome[] = [];
const out = resolve(values.out!);

/** RESULTS.md from the benches run so far: written after each one, so that a run cut short still leaves its table. */
function writeResults(): void {
  const shown = (argv: string[]) =>
    argv
      .map((a) =>
        a.startsWith(root) ? relative(root, a) || '.' : a.startsWith(logDir) ? a.replace(logDir, '$LOGS') : a,
      )
      .join(' ');
  const cell = (s: string | undefined) => (s ?? '—').replace(/\|/g, '\\|');
  const lines: string[] = [
    '# Benchmarks: fleetcap against its peers, measured side by side (bench/run-all.sh)',
    '',
    `Written by \`bash bench/run-all.sh${short ? ' --short' : ''}${only.length ? ` --only ${only.join(',')}` : ''}${skip.length ? ` --skip ${skip.join(',')}` : ''}\`` +
      ` on ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC (${short ? 'short mode: fewer runs and smaller inputs' : 'full mode'}).`,
    'Each bench is its own process under `nice -n 10`; each peer is measured in the same bench run as fleetcap, on the',
    "same servers and inputs, and the figures are medians over the bench's runs. Ratios: above 1 is better for fleetcap",
    "(its rate over the peer's, or the peer's time over fleetcap's).",
    '',
    '| measure | fleetcap | peer, same run | ratio | goal | met |',
    '|---|---|---|---|---|---|',
  ];
  for (const o of outcomes) {
    if (o.rows.length === 0) {
      const why = o.exitCode !== 0 ? `failed (exit ${o.exitCode})` : `no figures read: ${o.error ?? 'unknown'}`;
      lines.push(`| ${cell(o.bench.title)} | ${why}; log \`${o.log}\` | | | ${cell(o.bench.goal)} | no |`);
      continue;
    }
    for (const r of o.rows) {
      const met = r.met === undefined ? '—' : r.met ? 'yes' : 'no';
      const failed = o.exitCode !== 0 ? ` (bench exit ${o.exitCode})` : '';
      lines.push(
        `| ${cell(r.measure)} | ${cell(r.fleetcap)}${failed} | ${cell(r.peer)} | ${cell(r.ratio)} | ${cell(r.goal)} | ${met} |`,
      );
    }
  }
  lines.push(
    '',
    '## Machine and versions',
    '',
    `- ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ${facts.kernel}`,
    `- shared with other work: load average (1 min) at each bench's start and end is in the table below`,
    `- fleetcap ${facts.commit}; Node ${process.version}`,
    ...facts.versions.map((v) => `- ${v}`),
    '',
    '## Runs',
    '',
    '| bench | command | exit | wall s | load at start → end |',
    '|---|---|---|---|---|',
    ...outcomes.map(
      (o) =>
        `| ${o.bench.name} | \`${cell(shown(o.argv))}\` | ${o.exitCode} | ${o.seconds.toFixed(0)} | ${o.loadBefore.toFixed(1)} → ${o.loadAfter.toFixed(1)} |`,
    ),
    '',
    `Logs of this run: \`${logDir}\` (not kept in the repository). Each bench's own summary follows.`,
    '',
  );
  for (const o of outcomes) {
    const text = existsSync(o.log) ? readFileSync(o.log, 'utf8') : '';
    const summary = o.bench.summary(text);
    lines.push(`### ${o.bench.name}`, '', '```', summary.trim() || '(nothing printed)', '```', '');
  }
  const pending = chosen.slice(outcomes.length).map((b) => b.name);
  if (pending.length > 0) lines.push(`Not run yet when this was written: ${pending.join(', ')}.`, '');
  writeFileSync(out, `${lines.join('\n')}`);
}

for (const bench of chosen) {
  outcomes.push(await runBench(bench));
  writeResults();
}
console.log(`\nrun-all: wrote ${relative(process.cwd(), out) || out}; logs in ${logDir}`);
process.exitCode = outcomes.every((o) => o.exitCode === 0) ? 0 : 1;
