// `fleetcap dataset export --runs .lab/runs --out model/data/dataset.csv`: the training data of the classifier.
// Every lab run (a folder with capture.pcap and labels.json, see lab/run.sh) goes through the project's own
// reader and Sessionizer (first SESSION_MAX_PACKETS packets of a session, as splitcap stores them) and the feature
// code that forecast serves with; each session is labelled by its run's rules. One CSV row per session:
// run_id, scenario, seed, label, framing (see FRAMINGS), then the FEATURE_NAMES columns. A <out>.meta.json beside it records the feature
// version, the runs and the sessions per class.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { sessionizeCapture } from '@fleetcap/lib/features/capture';
import {
  extractFeatures,
  FEATURE_COUNT,
  FEATURE_NAMES,
  FEATURE_VERSION,
  FEATURE_WINDOW_US,
  type FeatureSession,
  SESSION_MAX_PACKETS,
} from '@fleetcap/lib/features/features';
import { featureSessionOf } from '@fleetcap/lib/features/from-session';
import { EXCLUDE_CLASS, parseRunLabels, SessionLabeler } from '@fleetcap/lib/features/labels';
import type { Command } from 'commander';

interface Output {
  write(text: string): unknown;
}

export interface DatasetExportOptions {
  runs: string;
  out: string;
  /** Link framings to write each session in (default all of FRAMINGS); see FRAMINGS. */
  framings?: string[];
}

/**
 * Every lab capture is Ethernet, so every wire length carries its 14-byte header. Captures elsewhere may be Linux
 * cooked (16 bytes) or raw IP (none), so besides the original the export can write each session as if captured
 * with that framing: the same packets with every wire length moved by the difference. Training uses all framings;
 * held-out scores are reported on the original and on each framing separately. The features themselves do not
 * change: this only keeps a model from learning "54 bytes" where the behaviour is "a SYN without options".
 */
export const FRAMINGS: Readonly<Record<string, number>> = { original: 0, sll: 2, raw: -14 };

export interface RunSummary {
  runId: string;
  scenario: string;
  seed: number;
  sessions: number;
  unlabelled: number;
  /** Sessions the labels put in class 'exclude' (leftovers of earlier runs): not part of the dataset. */
  excluded: number;
  perClass: Record<string, number>;
  error?: string;
}

export interface DatasetSummary {
  featureVersion: number;
  featureNames: readonly string[];
  maxPackets: number;
  windowUs: number;
  framings: string[];
  /** Rows (sessions x framings). */
  rows: number;
  /** Sessions per class (each counted once, whatever the framings). */
  perClass: Record<string, number>;
  runs: RunSummary[];
  skippedRuns: Array<{ runId: string; reason: string }>;
}

/** The session with every wire length moved by `delta` bytes (never below the payload). */
export function reframed(session: FeatureSession, delta: number): FeatureSession {
  if (delta === 0) return session;
  return {
    ...session,
    packets: session.packets.map((p) => ({ ...p, wireLength: Math.max(p.payloadLength, p.wireLength + delta) })),
  };
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
    if (!statSync(dir).isDirectory()) continue;
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
  const framings = options.framings ?? Object.keys(FRAMINGS);
  for (const f of framings)
    if (!(f in FRAMINGS)) throw new Error(`unknown framing ${f}: use ${Object.keys(FRAMINGS).join(', ')}`);
  const lines: string[] = [['run_id', 'scenario', 'seed', 'label', 'framing', ...FEATURE_NAMES].join(',')];
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
      excluded: 0,
      perClass: {},
    };
    if (captured.error) summary.error = captured.error;
    for (const session of captured.sessions) {
      const label = labeler.labelOf(session.src, session.dst);
      if (label === null) {
        summary.unlabelled++;
        continue;
      }
      if (label === EXCLUDE_CLASS) {
        summary.excluded++;
        continue;
      }
      const original = featureSessionOf(session);
      for (const framing of framings) {
        extractFeatures(reframed(original, FRAMINGS[framing]!), row);
        const cells = [runId, labels.scenario, String(labels.seed), label, framing];
        for (let i = 0; i < FEATURE_COUNT; i++) cells.push(cell(row[i]!));
        lines.push(cells.join(','));
      }
      summary.sessions++;
      summary.perClass[label] = (summary.perClass[label] ?? 0) + 1;
      perClass[label] = (perClass[label] ?? 0) + 1;
    }
    runs.push(summary);
    log.write(
      `dataset: ${runId}: ${summary.sessions} sessions ${JSON.stringify(summary.perClass)}` +
        (summary.unlabelled ? `, ${summary.unlabelled} unlabelled` : '') +
        (summary.excluded ? `, ${summary.excluded} excluded` : '') +
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
    framings,
    rows: lines.length - 1,
    perClass,
    runs,
    skippedRuns: skipped,
  };
  writeFileSync(`${out.replace(/\.csv$/, '')}.meta.json`, `${JSON.stringify(result, null, 2)}\n`);
  log.write(
    `dataset: ${result.rows} rows (${framings.length} framings) from ${runs.length} runs; sessions per class ${JSON.stringify(perClass)} -> ${out}\n`,
  );
  return result;
}

export function registerDatasetCommand(program: Command): void {
  const dataset = program.command('dataset').description('training data for the session classifier');
  dataset
    .command('export')
    .description("sessionize the lab runs, compute features, label by each run's labels.json, write a CSV")
    .option('--runs <dir>', 'folder of lab runs (each with capture.pcap and labels.json)', '.lab/runs')
    .option('--out <file>', 'CSV to write (a .meta.json is written beside it)', 'model/data/dataset.csv')
    .option(
      '--framings <list>',
      `link framings to write each session in, comma-separated (${Object.keys(FRAMINGS).join(', ')})`,
      (v: string) => v.split(',').map((x) => x.trim()),
    )
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
