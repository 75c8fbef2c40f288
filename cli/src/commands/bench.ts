// `fleetcap bench`: every benchmark with its peers in one run, then bench/RESULTS.md. The runner is bench/run-all.sh
// (the benches live in the repository's bench/, not in the CLI package); this command only starts it and passes the
// options on.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/** The runner's arguments for these options. */
export function benchArgs(o: { short?: boolean; only?: string; skip?: string; out?: string }): string[] {
  return [
    ...(o.short ? ['--short'] : []),
    ...(o.only ? ['--only', o.only] : []),
    ...(o.skip ? ['--skip', o.skip] : []),
    ...(o.out ? ['--out', o.out] : []),
  ];
}

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('run every benchmark with its peer tools in the same run and write bench/RESULTS.md')
    .option('--short', 'fewer runs and smaller inputs (minutes instead of the better part of an hour)')
    .option('--only <names>', 'only these benches, comma-separated (e.g. splitcap-ingest,capture)')
    .option('--skip <names>', 'all benches but these, comma-separated')
    .option('--out <file>', 'where to write the results (default bench/RESULTS.md)')
    .action(async (o: { short?: boolean; only?: string; skip?: string; out?: string }) => {
      const runner = join(repoRoot, 'bench/run-all.sh');
      if (!existsSync(runner)) {
        console.error(`fleetcap bench: ${runner} is missing: the benches run from a checkout of the repository`);
        process.exitCode = 2;
        return;
      }
      const child = spawn('bash', [runner, ...benchArgs(o)], { stdio: 'inherit' });
      const code = await new Promise<number | null>((r) => child.once('exit', r));
      process.exitCode = code ?? 1;
    });
}
