// `fleetcap dataset export --runs .lab/runs [--captures DIR]... --out model/data/dataset.csv`: the training data of
// the classifier. Every lab run (a folder with capture.pcap and labels.json, see lab/run.sh) and every capture file
// under a --captures folder go through the project's own reader and Sessionizer (first SESSION_MAX_PACKETS packets
// of a session, as splitcap stores them) and the feature code that forecast serves with. A lab session is labelled
// by its run's rules; a session of a real capture is benign unless the capture label file (model/capture-labels.json)
// says otherwise for its file.
//
// One CSV row per session: META_COLUMNS, then the FEATURE_NAMES columns. `source` is "lab" or the name of the
// --captures folder (e.g. "zeek"), `file` the capture's path inside it (for a lab run, "<run>/capture.pcap"); a
// real capture's run_id is "<source>/<file>" and its scenario its source, so that whatever groups by run groups a
// capture by file. `max_packets` is SESSION_MAX_PACKETS on the normal rows; with --cuts, each session is also
// written from only its first k packets (original framing), as a pipeline that classifies early would see it.
// A <out>.meta.json beside it records the feature version, the runs, the capture files and the sessions per class.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
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
import type { Session } from '@fleetcap/lib/session/sessionizer';
import type { Command } from 'commander';
import { CaptureLabeler, readCaptureLabels } from './capture-labels.ts';

interface Output {
  write(text: string): unknown;
}

/** The columns before the features. model/train.py also reads the older CSVs that end at framing. */
export const META_COLUMNS = ['run_id', 'scenario', 'seed', 'label', 'framing', 'source', 'file', 'max_packets'];

export const LAB_SOURCE = 'lab';

/** Files under a --captures folder that are read as captures. */
const CAPTURE_FILE = /\.(pcap|pcapng|cap)$/i;

export interface DatasetExportOptions {
  runs: string;
  out: string;
  /** Link framings to write each lab session in (default all of FRAMINGS); see FRAMINGS. */
  framings?: string[];
  /** Folders of real captures (e.g. ../shared/pcaps/zeek): every capture file under each, recursively. */
  captures?: string[];
  /** The labels of the few capture files that are not benign (model/capture-labels.json). */
  captureLabels?: string;
  /** Also write each session cut to its first k packets, for each k here (each < SESSION_MAX_PACKETS). */
  cuts?: number[];
}

/**
 * Every lab capture is Ethernet, so every wire length carries its 14-byte header. Captures elsewhere may be Linux
 * cooked (16 bytes) or raw IP (none), so besides the original the export can write each session as if captured
 * with that framing: the same packets with every wire length moved by the difference. Training uses all framings;
 * held-out scores are reported on the original and on each framing separately. The features themselves do not
 * change: this only keeps a model from learning "54 bytes" where the behaviour is "a SYN without options".
 * Real captures come in many framings already and are written in their original one only.
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

export interface CaptureFileSummary {
  file: string;
  sessions: number;
  excluded: number;
  perClass: Record<string, number>;
  /** True when the capture label file has an entry for this file. */
  labelled?: true;
  error?: string;
}

export interface CaptureSourceSummary {
  source: string;
  dir: string;
  sessions: number;
  excluded: number;
  perClass: Record<string, number>;
  /** Files with an error (sessions up to the error are kept). */
  unreadable: number;
  files: CaptureFileSummary[];
}

export interface DatasetSummary {
  featureVersion: number;
  featureNames: readonly string[];
  columns: string[];
  maxPackets: number;
  windowUs: number;
  framings: string[];
  cuts: number[];
  /** Rows (sessions x framings, plus the cut rows). */
  rows: number;
  /** Sessions per class (each counted once, whatever the framings and cuts). */
  perClass: Record<string, number>;
  /** Sessions per source ("lab" and each captures folder) and class. */
  perSource: Record<string, Record<string, number>>;
  runs: RunSummary[];
  skippedRuns: Array<{ runId: string; reason: string }>;
  captures: CaptureSourceSummary[];
  captureLabels: string | null;
  /** Entries of the capture label file that matched no capture read: a typo or a moved file. */
  unmatchedCaptureLabels: string[];
}

/** The session with every wire length moved by `delta` bytes (never below the payload). */
export function reframed(session: FeatureSession, delta: number): FeatureSession {
  if (delta === 0) return session;
  return {
    ...session,
    packets: session.packets.map((p) => ({ ...p, wireLength: Math.max(p.payloadLength, p.wireLength + delta) })),
  };
}

/** The session as it looks when only its first `packets` packets have arrived. */
export function cutShort(session: FeatureSession, packets: number): FeatureSession {
  return { ...session, packets: session.packets.slice(0, packets) };
}

/** Shortest text that reads back as the same float32. */
function cell(v: number): string {
  return String(Number(v.toPrecision(9)));
}

/** A CSV cell for a path: quoted only when it needs to be. */
function textCell(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
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

/** Capture files under dir, recursively, as paths relative to dir with '/' separators, sorted. */
export function listCaptureFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (CAPTURE_FILE.test(name)) out.push(relative(dir, path).split('\\').join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

function parseCuts(cuts: number[]): number[] {
  for (const k of cuts)
    if (!Number.isInteger(k) || k < 1 || k >= SESSION_MAX_PACKETS)
      throw new Error(`a cut is a packet count from 1 to ${SESSION_MAX_PACKETS - 1}, not ${k}`);
  return [...new Set(cuts)].sort((a, b) => a - b);
}

/** Writes the rows of the sessions of one capture: the lab's or a real one. */
class RowWriter {
  readonly lines: string[] = [META_COLUMNS.concat(FEATURE_NAMES).join(',')];
  private readonly row = new Float32Array(FEATURE_COUNT);

  constructor(
    private readonly framings: string[],
    private readonly cuts: number[],
  ) {}

  session(
    meta: { runId: string; scenario: string; seed: number; label: string; source: string; file: string },
    s: Session,
    framings = this.framings,
  ): void {
    const original = featureSessionOf(s);
    const prefix = [meta.runId, meta.scenario, String(meta.seed), meta.label].map(textCell);
    const place = [meta.source, meta.file].map(textCell);
    const write = (framing: string, session: FeatureSession, maxPackets: number) => {
      extractFeatures(session, this.row);
      const cells = [...prefix, framing, ...place, String(maxPackets)];
      for (let i = 0; i < FEATURE_COUNT; i++) cells.push(cell(this.row[i]!));
      this.lines.push(cells.join(','));
    };
    for (const framing of framings) write(framing, reframed(original, FRAMINGS[framing]!), SESSION_MAX_PACKETS);
    for (const k of this.cuts) write('original', cutShort(original, k), k);
  }
}

function count(perClass: Record<string, number>, label: string): void {
  perClass[label] = (perClass[label] ?? 0) + 1;
}

function countBySource(perSource: Record<string, Record<string, number>>, source: string, label: string): void {
  const perClass = perSource[source] ?? {};
  perSource[source] = perClass;
  count(perClass, label);
}

export async function exportDataset(
  options: DatasetExportOptions,
  log: Output = process.stderr,
): Promise<DatasetSummary> {
  const framings = options.framings ?? Object.keys(FRAMINGS);
  for (const f of framings)
    if (!(f in FRAMINGS)) throw new Error(`unknown framing ${f}: use ${Object.keys(FRAMINGS).join(', ')}`);
  const cuts = parseCuts(options.cuts ?? []);
  const captureDirs = (options.captures ?? []).map((d) => resolve(d));
  const sources = captureDirs.map((d) => basename(d));
  for (const [i, s] of sources.entries()) {
    if (s === LAB_SOURCE) throw new Error(`a captures folder cannot be named "${LAB_SOURCE}": ${captureDirs[i]}`);
    if (sources.indexOf(s) !== i) throw new Error(`two captures folders are named "${s}": name each source once`);
  }
  const writer = new RowWriter(framings, cuts);
  const perClass: Record<string, number> = {};
  const perSource: Record<string, Record<string, number>> = {};

  const runsDir = resolve(options.runs);
  const haveRuns = existsSync(runsDir);
  if (!haveRuns && captureDirs.length === 0) throw new Error(`${options.runs}: no such folder`);
  if (!haveRuns) log.write(`dataset: ${options.runs}: no such folder, no lab runs in this export\n`);
  const { complete, skipped } = haveRuns ? listRuns(runsDir) : { complete: [], skipped: [] };
  const runs: RunSummary[] = [];
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
    const meta = {
      runId,
      scenario: labels.scenario,
      seed: labels.seed,
      source: LAB_SOURCE,
      file: `${runId}/capture.pcap`,
    };
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
      writer.session({ ...meta, label }, session);
      summary.sessions++;
      count(summary.perClass, label);
      count(perClass, label);
      countBySource(perSource, LAB_SOURCE, label);
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

  const captureLabeler = options.captureLabels
    ? new CaptureLabeler(readCaptureLabels(options.captureLabels))
    : new CaptureLabeler();
  const seen = new Set<string>();
  const captures: CaptureSourceSummary[] = [];
  for (const [i, dir] of captureDirs.entries()) {
    const source = sources[i]!;
    const summary: CaptureSourceSummary = {
      source,
      dir,
      sessions: 0,
      excluded: 0,
      perClass: {},
      unreadable: 0,
      files: [],
    };
    for (const file of listCaptureFiles(dir)) {
      const key = `${source}/${file}`;
      seen.add(key);
      const captured = await sessionizeCapture(join(dir, file));
      const fileSummary: CaptureFileSummary = { file, sessions: 0, excluded: 0, perClass: {} };
      if (captureLabeler.has(key)) fileSummary.labelled = true;
      if (captured.error) {
        fileSummary.error = captured.error;
        summary.unreadable++;
      }
      const meta = { runId: key, scenario: source, seed: 0, source, file };
      for (const session of captured.sessions) {
        const label = captureLabeler.labelOf(key, session);
        if (label === EXCLUDE_CLASS) {
          fileSummary.excluded++;
          continue;
        }
        writer.session({ ...meta, label }, session, ['original']);
        fileSummary.sessions++;
        count(fileSummary.perClass, label);
        count(summary.perClass, label);
        count(perClass, label);
        countBySource(perSource, source, label);
      }
      summary.sessions += fileSummary.sessions;
      summary.excluded += fileSummary.excluded;
      summary.files.push(fileSummary);
    }
    captures.push(summary);
    log.write(
      `dataset: captures ${source} (${dir}): ${summary.files.length} files, ${summary.sessions} sessions ${JSON.stringify(summary.perClass)}` +
        (summary.excluded ? `, ${summary.excluded} excluded` : '') +
        (summary.unreadable ? `, ${summary.unreadable} files with a read error` : '') +
        '\n',
    );
  }
  const unmatched = captureLabeler.unmatched(new Set(sources), seen);
  for (const key of unmatched) log.write(`dataset: WARNING: capture label entry ${key} matches no capture file\n`);

  const out = resolve(options.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${writer.lines.join('\n')}\n`);
  const result: DatasetSummary = {
    featureVersion: FEATURE_VERSION,
    featureNames: FEATURE_NAMES,
    columns: META_COLUMNS,
    maxPackets: SESSION_MAX_PACKETS,
    windowUs: FEATURE_WINDOW_US,
    framings,
    cuts,
    rows: writer.lines.length - 1,
    perClass,
    perSource,
    runs,
    skippedRuns: skipped,
    captures,
    captureLabels: options.captureLabels ? resolve(options.captureLabels) : null,
    unmatchedCaptureLabels: unmatched,
  };
  writeFileSync(`${out.replace(/\.csv$/, '')}.meta.json`, `${JSON.stringify(result, null, 2)}\n`);
  log.write(
    `dataset: ${result.rows} rows (${framings.length} framings${cuts.length ? `, cuts ${cuts.join('/')}` : ''}) from ${runs.length} runs and ${captures.reduce((n, c) => n + c.files.length, 0)} capture files; sessions per class ${JSON.stringify(perClass)} -> ${out}\n`,
  );
  return result;
}

const list = (v: string, previous: string[] = []) => previous.concat(v.split(',').map((x) => x.trim()));

export function registerDatasetCommand(program: Command): void {
  const dataset = program.command('dataset').description('training data for the session classifier');
  dataset
    .command('export')
    .description(
      "sessionize the lab runs (labelled by each run's labels.json) and real captures (benign unless the capture label file says otherwise), compute features, write a CSV",
    )
    .option('--runs <dir>', 'folder of lab runs (each with capture.pcap and labels.json)', '.lab/runs')
    .option(
      '--captures <dir>',
      "folder of real captures, read recursively (repeatable); the folder name is the rows' source",
      (v: string, previous: string[] = []) => previous.concat(v),
    )
    .option(
      '--capture-labels <file>',
      'labels of the capture files that are not benign (e.g. model/capture-labels.json)',
    )
    .option(
      '--framings <list>',
      `link framings to write each lab session in, comma-separated (${Object.keys(FRAMINGS).join(', ')})`,
      (v: string) => v.split(',').map((x) => x.trim()),
    )
    .option(
      '--cuts <list>',
      'also write each session from only its first k packets, for each k (e.g. 4,8,16)',
      (v: string, p?: string[]) => list(v, p),
    )
    .option('--out <file>', 'CSV to write (a .meta.json is written beside it)', 'model/data/dataset.csv')
    .action(async (options: Omit<DatasetExportOptions, 'cuts'> & { cuts?: string[] }) => {
      const missing = [options.runs, ...(options.captures ?? [])].filter((d) => !existsSync(d));
      if (missing.includes(options.runs) && !options.captures?.length) {
        process.stderr.write(
          `fleetcap dataset export: ${options.runs}: no such folder (run the lab first: bash lab/run.sh ...)\n`,
        );
        process.exitCode = 2;
        return;
      }
      const missingCaptures = missing.filter((d) => d !== options.runs);
      if (missingCaptures.length) {
        process.stderr.write(`fleetcap dataset export: ${missingCaptures.join(', ')}: no such folder\n`);
        process.exitCode = 2;
        return;
      }
      const { cuts, ...rest } = options;
      const summary = await exportDataset({ ...rest, ...(cuts ? { cuts: cuts.map(Number) } : {}) });
      if (summary.rows === 0) process.exitCode = 1;
    });
}
