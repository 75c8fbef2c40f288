// `fleetcap dataset export --runs .lab/runs --out model/data/dataset.csv`: the training data of the classifier.
// Every lab run (a folder with capture.pcap and labels.json, see lab/run.sh) goes through the project's own
// reader and Sessionizer (first SESSION_MAX_PACKETS packets of a session, as splitcap stores them) and the feature
// code that forecast serves with; each session is labelled by its run's rules. One CSV row per session:
// run_id, scenario, seed, label, then the FEATURE_NAMES columns. A <out>.meta.json beside it records the feature
// version, the runs and the sessions per class.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { sessionizeCapture } from '@fleetcap/lib/features/capture';
import {
  extractFeatures,
  FEATURE_COUNT,
  FEATURE_NAMES,
  FEATURE_VERSION,
  FEATURE_WINDOW_US,
  SESSION_MAX_PACKETS,
} from '@fleetcap/lib/features/features';
import { featureSessionOf } from '@fleetcap/lib/features/from-session';
import { parseRunLabels, SessionLabeler } from '@fleetcap/lib/features/labels';
import type { Command } from 'commander';

interface Output {
  write(text: string): unknown;
}

export interface DatasetExportOptions {
  runs: string;
  out: string;
}

export interface RunSummary {
  runId: string;
  scenario: string;
  seed: number;
  sessions: number;
  unlabelled: number;
  perClass: Record<string, number>;
  error?: string;
}

export interface DatasetSummary {
  featureVersion: number;
  featureNames: readonly string[];
  maxPackets: number;
  windowUs: number;
  rows: number;
  perClass: Record<string, number>;
  runs: RunSummary[];
  skippedRuns: Array<{ runId: string; reason: string }>;
}

/** Shortest text that reads back as the same float32. */
function cell(v: number): string {
  return String(Number(v.toPrecision(9)));
}

/** A run folder is complete once labels.json exists: lab/run.sh writes it after the capture stopped. */
export function listRuns(runsDir: string): { complete: string[]; skipped: Array<{ runId: string; reason: string }> } {
  const complete: string[] = [];
  const skipped: Array<{ runId: string; reason: string }> = [];
  for (const name of readdirSync(runsDir).sort()) {
    const dir = join(runsDir, name);
    if (!existsSync(join(dir, 'capture.pcap'))) skipped.push({ runId: name, reason: 'no capture.pcap' });
    else if (!existsSync(join(dir, 'labels.json')))
      skipped.push({ runId: name, reason: 'no labels.json (run not finished?)' });
    else complete.push(name);
  }
  return { complete, skipped };
}

export async function exportDataset(
  options: DatasetExportOptions,
  log: Output = process.stderr,
): Promise<DatasetSummary> {
  const runsDir = resolve(options.runs);
  const { complete, skipped } = listRuns(runsDir);
  const lines: string[] = [['run_id', 'scenario', 'seed', 'label', ...FEATURE_NAMES].join(',')];
  const perClass: Record<string, number> = {};
  const runs: RunSummary[] = [];
  const row = new Float32Array(FEATURE_COUNT);
  for (const runId of complete) {
    const dir = join(runsDir, runId);
    const labels = parseRunLabels(JSON.parse(readFileSync(join(dir, 'labels.json'), 'utf8')), join(dir, 'labels.json'));
    const labeler = new SessionLabeler(labels);
    const captured = await sessionizeCapture(join(dir, 'capture.pcap'));
    const summary: RunSummary = {
      runId,
      scenario: labels.scenario,
      seed: labels.seed,
      sessions: 0,
      unlabelled: 0,
      perClass: {},
    };
    if (captured.error) summary.error = captured.error;
    for (const session of captured.sessions) {
      const label = labeler.labelOf(session.src, session.dst);
      if (label === null) {
        summary.unlabelled++;
        continue;
      }
      extractFeatures(featureSessionOf(session), row);
      const cells = [runId, labels.scenario, String(labels.seed), label];
      for (let i = 0; i < FEATURE_COUNT; i++) cells.push(cell(row[i]!));
      lines.push(cells.join(','));
      summary.sessions++;
      summary.perClass[label] = (summary.perClass[label] ?? 0) + 1;
      perClass[label] = (perClass[label] ?? 0) + 1;
    }
    runs.push(summary);
    log.write(
      `dataset: ${runId}: ${summary.sessions} sessions ${JSON.stringify(summary.perClass)}` +
        (summary.unlabelled ? `, ${summary.unlabelled} unlabelled` : '') +
        (summary.error ? `, capture error: ${summary.error}` : '') +
        (summary.sessions === 0 ? ` (WARNING: no sessions: ${captured.reader.packets} packets in the capture)` : '') +
        '\n',
    );
  }
  for (const s of skipped) log.write(`dataset: skipped ${s.runId}: ${s.reason}\n`);
  const out = resolve(options.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${lines.join('\n')}\n`);
  const result: DatasetSummary = {
    featureVersion: FEATURE_VERSION,
    featureNames: FEATURE_NAMES,
    maxPackets: SESSION_MAX_PACKETS,
    windowUs: FEATURE_WINDOW_US,
    rows: lines.length - 1,
    perClass,
    runs,
    skippedRuns: skipped,
  };
  writeFileSync(`${out.replace(/\.csv$/, '')}.meta.json`, `${JSON.stringify(result, null, 2)}\n`);
  log.write(`dataset: ${result.rows} sessions from ${runs.length} runs ${JSON.stringify(perClass)} -> ${out}\n`);
  return result;
}

export function registerDatasetCommand(program: Command): void {
  const dataset = program.command('dataset').description('training data for the session classifier');
  dataset
    .command('export')
    .description("sessionize the lab runs, compute features, label by each run's labels.json, write a CSV")
    .option('--runs <dir>', 'folder of lab runs (each with capture.pcap and labels.json)', '.lab/runs')
    .option('--out <file>', 'CSV to write (a .meta.json is written beside it)', 'model/data/dataset.csv')
    .action(async (options: DatasetExportOptions) => {
      if (!existsSync(options.runs)) {
        process.stderr.write(
          `fleetcap dataset export: ${options.runs}: no such folder (run the lab first: bash lab/run.sh ...)\n`,
        );
        process.exitCode = 2;
        return;
      }
      const summary = await exportDataset(options);
      if (summary.rows === 0) process.exitCode = 1;
    });
}
