// `fleetcap classify [--json] FILE...`: the verdict of every session of capture files, offline, with the same
// sessionizer (first SESSION_MAX_PACKETS packets of a session, as splitcap stores them), feature code and model
// that forecast serves. No servers. With --json, one line per session with the fields of `fleetcap sessions
// --json` plus label, score, alert and unknown (the card's alert policy, lib/src/features/alert-policy.ts), then a
// summary line per file.
import { resolve } from 'node:path';
import { Classifier, ModelContractError, type Verdict } from '@fleetcap/lib/classifier/model';
import type { Detection } from '@fleetcap/lib/detectors/detection';
import type { AlertOutcome } from '@fleetcap/lib/detectors/detection-alerts';
import {
  type AlertDecision,
  type AlertPolicy,
  AlertPolicyError,
  alertPolicyOf,
  decideAlert,
} from '@fleetcap/lib/features/alert-policy';
import { sessionizeCapture } from '@fleetcap/lib/features/capture';
import { extractFeatures, FEATURE_COUNT } from '@fleetcap/lib/features/features';
import { featureSessionOf } from '@fleetcap/lib/features/from-session';
import type { Session } from '@fleetcap/lib/session/sessionizer';
import { type SessionRecords, sessionRecordFields } from '@fleetcap/lib/session-record/session-records';
import type { Command } from 'commander';
import { detectionAlertsOfFile, modelAlertOutcomes } from './classify-detections.ts';
import {
  captureFiles,
  commandLineBytes,
  FileListError,
  rerunWithFileList,
  SAFE_COMMAND_LINE_BYTES,
} from './file-list.ts';

export const EXIT_ALL_READ = 0;
export const EXIT_SOME_UNREADABLE = 2;
export const EXIT_MODEL_REFUSED = 3;
/** No file given, or the --files-from list could not be read. */
export const EXIT_USAGE = 64;

/** Sessions per model run: bounds the feature tensor of a huge capture. */
const CHUNK = 4096;

const DEFAULT_MODEL = new URL('../../../model/model.onnx', import.meta.url).pathname;

export interface ClassifyOptions {
  json?: boolean;
  model?: string;
  card?: string;
  /** A file listing more capture files, one a line; `-` is stdin. */
  filesFrom?: string;
  /** false (`--no-detections`): the model's alerts only, no detectors over the sessions. */
  detections?: boolean;
}

interface Output {
  write(text: string): unknown;
}

export interface ClassifiedFile {
  file: string;
  sessions: Session[];
  records: SessionRecords;
  verdicts: Verdict[];
  error?: string;
}

/** The alert decision of a verdict, from its per-class scores (rounded to 1e-6 by the classifier). */
export function alertOf(v: Verdict, classes: readonly string[], policy: AlertPolicy): AlertDecision {
  return decideAlert(
    classes.map((c) => v.scores[c] ?? 0),
    classes,
    policy,
  );
}

/** Sessionizes one file and classifies its sessions, CHUNK sessions per model run. */
export async function classifyFile(classifier: Classifier, file: string): Promise<ClassifiedFile> {
  const captured = await sessionizeCapture(file);
  const verdicts: Verdict[] = [];
  const features = new Float32Array(CHUNK * FEATURE_COUNT);
  for (let i = 0; i < captured.sessions.length; i += CHUNK) {
    const chunk = captured.sessions.slice(i, i + CHUNK);
    chunk.forEach((s, k) => {
      extractFeatures(featureSessionOf(s), features, k * FEATURE_COUNT);
    });
    verdicts.push(
      ...(await classifier.classifyFeatures(features.subarray(0, chunk.length * FEATURE_COUNT), chunk.length)),
    );
  }
  const result: ClassifiedFile = { file, sessions: captured.sessions, records: captured.records, verdicts };
  if (captured.error) result.error = captured.error;
  return result;
}

function sessionLine(
  file: string,
  s: Session,
  v: Verdict,
  records: SessionRecords,
  d: AlertDecision,
  a: AlertOutcome,
): string {
  const record = records.get(s);
  return JSON.stringify({
    type: 'session',
    file,
    proto: s.proto,
    src: s.src,
    sport: s.sport,
    dst: s.dst,
    dport: s.dport,
    packets: s.packets,
    bytes: s.bytes,
    first: s.first,
    last: s.last,
    packetsFromSrc: s.packetsFromInitiator,
    bytesFromSrc: s.bytesFromInitiator,
    key: s.key,
    ...(record ? sessionRecordFields(record) : {}),
    label: v.label,
    score: v.score,
    alert: a.alert,
    unknown: d.unknown,
    alertReason: a.alertReason,
    alertLabel: a.alertLabel,
    detectionId: a.detectionId,
  });
}

function detectionLine(d: Detection): string {
  const iso = (us: number) => new Date(us / 1000).toISOString();
  return JSON.stringify({ type: 'detection', ...d, firstSeen: iso(d.firstSeenUs), lastSeen: iso(d.lastSeenUs) });
}

function labelCounts(verdicts: Verdict[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of verdicts) counts[v.label] = (counts[v.label] ?? 0) + 1;
  return counts;
}

function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function alertCounts(
  decisions: AlertDecision[],
  outcomes: AlertOutcome[],
): {
  alerts: number;
  unknown: number;
  alertsByLabel: Record<string, number>;
  alertsByReason: Record<string, number>;
} {
  const alertsByLabel: Record<string, number> = {};
  const alertsByReason: Record<string, number> = {};
  let alerts = 0;
  let unknown = 0;
  for (const [i, d] of decisions.entries()) {
    if (d.unknown) unknown++;
    const a = outcomes[i]!;
    if (!a.alert) continue;
    alerts++;
    alertsByLabel[a.alertLabel!] = (alertsByLabel[a.alertLabel!] ?? 0) + 1;
    alertsByReason[a.alertReason!] = (alertsByReason[a.alertReason!] ?? 0) + 1;
  }
  return { alerts, unknown, alertsByLabel, alertsByReason };
}

/** The alert column: ALERT for the model's own, with the class and detector when a detection makes it one. */
function alertCell(a: AlertOutcome, d: AlertDecision, detections: Map<string, Detection>): string {
  if (!a.alert) return d.unknown ? 'unknown' : '';
  if (a.detectionId === null) return 'ALERT';
  const detector = detections.get(a.detectionId)?.detector ?? 'detection';
  return `ALERT ${a.alertLabel} (${a.alertReason === 'model+detection' ? `model, ${detector}` : detector})`;
}

function tableLines(
  r: ClassifiedFile,
  decisions: AlertDecision[],
  outcomes: AlertOutcome[],
  detections: Detection[],
  modelVersion: string,
): string[] {
  const byId = new Map(detections.map((d) => [d.id, d]));
  const header = ['proto', 'src', 'dst', 'packets', 'bytes', 'first', 'duration', 'label', 'score', 'alert'];
  const rows = r.sessions.map((s, i) => [
    s.proto,
    endpoint(s.src, s.sport),
    endpoint(s.dst, s.dport),
    String(s.packets),
    String(s.bytes),
    Number.isFinite(s.first) ? new Date(s.first * 1000).toISOString() : String(s.first),
    (s.last - s.first).toFixed(6),
    r.verdicts[i]!.label,
    r.verdicts[i]!.score.toFixed(3),
    alertCell(outcomes[i]!, decisions[i]!, byId),
  ]);
  // A loop, not Math.max(...): a file of a million sessions would overflow the call stack with a spread.
  const widths = header.map((h, i) => {
    let width = h.length;
    for (const row of rows) width = Math.max(width, row[i]!.length);
    return width;
  });
  const numeric = new Set([3, 4, 6, 8]);
  const format = (cells: string[]) =>
    cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  const counts = Object.entries(labelCounts(r.verdicts))
    .sort((a, b) => b[1] - a[1])
    .map(([label, n]) => `${label} ${n}`)
    .join(', ');
  const a = alertCounts(decisions, outcomes);
  const entries = (counts: Record<string, number>) =>
    Object.entries(counts)
      .sort((x, y) => y[1] - x[1])
      .map(([label, n]) => `${label} ${n}`)
      .join(', ');
  const alerts = entries(a.alertsByLabel);
  const reasons = a.alerts > 0 ? `; by ${entries(a.alertsByReason)}` : '';
  return [
    `== ${r.file}: ${r.sessions.length} sessions, model ${modelVersion}`,
    format(header),
    ...rows.map(format),
    `verdicts: ${counts || 'none'}`,
    ...detections.map(
      (d) =>
        `detection ${d.detector} ${d.source ?? `${d.distinctSources} sources`} -> ${d.target}: ${d.sessions} sessions (${d.id})`,
    ),
    `alerts: ${a.alerts}${alerts ? ` (${alerts})` : ''}${reasons}${a.unknown ? `; unknown: ${a.unknown}` : ''}`,
    '',
  ];
}

export async function runClassify(
  files: string[],
  options: ClassifyOptions,
  out: Output = process.stdout,
  err: Output = process.stderr,
): Promise<number> {
  let classifier: Classifier;
  try {
    classifier = await Classifier.load({
      modelPath: resolve(options.model ?? process.env.FLEETCAP_MODEL_PATH ?? DEFAULT_MODEL),
      ...(options.card ? { cardPath: resolve(options.card) } : {}),
    });
  } catch (cause) {
    if (cause instanceof ModelContractError) {
      err.write(`fleetcap classify: ${cause.message}\n`);
      return EXIT_MODEL_REFUSED;
    }
    throw cause;
  }
  let policy: AlertPolicy;
  try {
    policy = alertPolicyOf(classifier.card, `the model card of ${classifier.version}`);
  } catch (cause) {
    await classifier.release();
    if (cause instanceof AlertPolicyError) {
      err.write(`fleetcap classify: ${cause.message}\n`);
      return EXIT_MODEL_REFUSED;
    }
    throw cause;
  }
  if (classifier.card.alertPolicy === undefined) {
    err.write(
      `fleetcap classify: note: model ${classifier.version} has no alertPolicy in its card: every non-benign label counts as an alert\n`,
    );
  }
  if (classifier.card.placeholder) {
    err.write(`fleetcap classify: note: model ${classifier.version} is a PLACEHOLDER (see model/MODEL_CARD.md)\n`);
  }
  let exitCode = EXIT_ALL_READ;
  try {
    for (const file of files) {
      const r = await classifyFile(classifier, file);
      if (r.error) {
        exitCode = EXIT_SOME_UNREADABLE;
        err.write(`fleetcap classify: ${file}: ${r.error}\n`);
      }
      const decisions = r.verdicts.map((v) => alertOf(v, classifier.classes, policy));
      const { outcomes, detections } =
        options.detections === false
          ? { outcomes: modelAlertOutcomes(r.verdicts, decisions), detections: [] }
          : detectionAlertsOfFile(r.sessions, r.records, r.verdicts, decisions);
      if (options.json) {
        const lines = r.sessions.map((s, i) =>
          sessionLine(file, s, r.verdicts[i]!, r.records, decisions[i]!, outcomes[i]!),
        );
        for (const d of detections) lines.push(detectionLine(d));
        const a = alertCounts(decisions, outcomes);
        lines.push(
          JSON.stringify({
            type: 'summary',
            file,
            sessions: r.sessions.length,
            modelVersion: classifier.version,
            labels: labelCounts(r.verdicts),
            alerts: a.alerts,
            alertsByLabel: a.alertsByLabel,
            alertsByReason: a.alertsByReason,
            detections: detections.length,
            unknown: a.unknown,
            ...(r.error ? { error: r.error } : {}),
          }),
        );
        out.write(`${lines.join('\n')}\n`);
      } else {
        out.write(`${tableLines(r, decisions, outcomes, detections, classifier.version).join('\n')}\n`);
      }
    }
  } finally {
    await classifier.release();
  }
  return exitCode;
}

export function registerClassifyCommand(program: Command): void {
  program
    .command('classify')
    .description("each session's verdict from the session classifier (offline: same features and model as forecast)")
    .option(
      '--json',
      'one JSON object per line per session (the fields of `sessions --json` plus label, score, alert, unknown and the alert reason), one per detection, a summary per file',
    )
    .option('--model <file>', 'ONNX model (default $FLEETCAP_MODEL_PATH or model/model.onnx)')
    .option('--card <file>', 'model card (default: <model>-card.json beside the model)')
    .option('--files-from <file>', 'more capture files, one path a line (- reads the list from stdin)')
    .option(
      '--no-detections',
      "the model's alerts only: no detectors over each file's sessions (their evidence is an alert of their class)",
    )
    .argument('[files...]', 'capture files (pcap or pcapng)')
    .action(async (args: string[], options: ClassifyOptions) => {
      let files: string[];
      try {
        files = await captureFiles(args, options.filesFrom);
      } catch (cause) {
        if (!(cause instanceof FileListError)) throw cause;
        process.stderr.write(`fleetcap classify: ${cause.message}\n`);
        process.exitCode = EXIT_USAGE;
        return;
      }
      // onnxruntime crashes on a long command line (file-list.ts): run again with a short one.
      if (commandLineBytes() > SAFE_COMMAND_LINE_BYTES) {
        const rerun = [
          ...(options.json ? ['--json'] : []),
          ...(options.model ? ['--model', resolve(options.model)] : []),
          ...(options.card ? ['--card', resolve(options.card)] : []),
          ...(options.detections === false ? ['--no-detections'] : []),
        ];
        process.exitCode = await rerunWithFileList('classify', rerun, files);
        return;
      }
      process.exitCode = await runClassify(files, options);
    });
}
