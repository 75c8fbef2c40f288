// `fleetcap detections [--json] [FILE...]`: with files, the online stage's detectors (lib/src/detectors) run offline
// over captures, sessionized as `fleetcap sessions` does; without files, the detection table's incidents (read with
// the reporting account).
import { basename, resolve } from 'node:path';
import { Classifier } from '@fleetcap/lib/classifier/model';
import { type CapturedPacket, detectorSessionOfCaptured } from '@fleetcap/lib/detectors/captured-session';
import { type DetectorConfig, defaultDetectorConfig } from '@fleetcap/lib/detectors/config';
import type { Detection } from '@fleetcap/lib/detectors/detection';
import type { DetectorSession } from '@fleetcap/lib/detectors/detector-session';
import { DetectorEngine } from '@fleetcap/lib/detectors/engine';
import { CONTENT_BYTES_PER_PACKET } from '@fleetcap/lib/features/content';
import { SESSION_MAX_PACKETS } from '@fleetcap/lib/features/features';
import { FROM_INITIATOR, type Session, TO_INITIATOR } from '@fleetcap/lib/session/sessionizer';
import type { Command } from 'commander';
import { classifyFile } from './classify.ts';
import { printAgents } from './report.ts';
import { EXIT_ALL_READ, EXIT_SOME_UNREADABLE, sessionizeFile } from './sessions.ts';

interface Output {
  write(text: string): unknown;
}

export interface DetectionsOptions {
  json?: boolean;
  /** Each file is the capture of its own agent (named by the file), as if the fleet had captured them. */
  agentPerFile?: boolean;
  agent?: string;
  /** Classify every session with the model first (brute force then also counts sessions labelled so). */
  classify?: boolean;
  model?: string;
}

const DEFAULT_MODEL = new URL('../../../model/model.onnx', import.meta.url).pathname;

export type Labels = Map<string, { label: string; score: number }>;

/** The model's shipped file, or `model` / FLEETCAP_MODEL_PATH. */
export async function loadClassifier(model?: string): Promise<Classifier> {
  return await Classifier.load({ modelPath: resolve(model ?? process.env.FLEETCAP_MODEL_PATH ?? DEFAULT_MODEL) });
}

/** The model's label of every session of `file`, by session key (what the worker gives each session online). */
export async function labelsOfFile(classifier: Classifier, file: string): Promise<Labels> {
  const classified = await classifyFile(classifier, file);
  return new Map(
    classified.sessions.map((s, i) => [
      s.key,
      { label: classified.verdicts[i]!.label, score: classified.verdicts[i]!.score },
    ]),
  );
}

export interface FileSessions {
  file: string;
  sessions: DetectorSession[];
  error?: string;
}

/** The detector input of every TCP/UDP session of one file. */
export async function detectorSessionsOfFile(file: string, agent: string, labels?: Labels): Promise<FileSessions> {
  const kept = new Map<Session, CapturedPacket[]>();
  const result = await sessionizeFile(file, {
    onPacket: (session, decoded, fromInitiator) => {
      if (session.packets > SESSION_MAX_PACKETS) return;
      let packets = kept.get(session);
      if (!packets) {
        packets = [];
        kept.set(session, packets);
      }
      const end = Math.min(decoded.payloadEnd, decoded.payloadAt + CONTENT_BYTES_PER_PACKET);
      packets.push({
        direction: fromInitiator ? FROM_INITIATOR : TO_INITIATOR,
        payloadLength: decoded.payloadLength,
        tcpFlags: decoded.tcpFlags,
        // A copy: the reader reuses its buffer (Buffer#slice would be a view of bytes the next chunk overwrites).
        payload:
          end > decoded.payloadAt ? Uint8Array.prototype.slice.call(decoded.bytes, decoded.payloadAt, end) : undefined,
      });
    },
  });
  const sessions: DetectorSession[] = [];
  for (const s of result.sessions) {
    const packets = kept.get(s);
    if (!packets) continue;
    const view = detectorSessionOfCaptured(s, result.records.get(s), packets, agent, labels?.get(s.key));
    if (view) sessions.push(view);
  }
  return result.error ? { file, sessions, error: result.error.message } : { file, sessions };
}

export interface OfflineResult {
  sessions: number;
  detections: Detection[];
  engine: DetectorEngine;
  errors: Array<{ file: string; error: string }>;
}

/** Every file's sessions through one engine, in time order (a fleet's captures of the same time interleave). */
export async function detectOffline(
  files: string[],
  options: DetectionsOptions = {},
  config: DetectorConfig = defaultDetectorConfig(),
): Promise<OfflineResult> {
  const all: DetectorSession[] = [];
  const errors: OfflineResult['errors'] = [];
  const classifier = options.classify ? await loadClassifier(options.model) : undefined;
  for (const file of files) {
    const agent = options.agentPerFile ? basename(file).replace(/[^A-Za-z0-9._-]/g, '_') : (options.agent ?? 'offline');
    const labels = classifier ? await labelsOfFile(classifier, file) : undefined;
    const r = await detectorSessionsOfFile(file, agent, labels);
    for (const s of r.sessions) all.push(s);
    if (r.error) errors.push({ file, error: r.error });
  }
  await classifier?.release();
  all.sort((a, b) => a.firstUs - b.firstUs);
  const engine = new DetectorEngine(config);
  for (const s of all) engine.process(s);
  return { sessions: all.length, detections: engine.detections(), engine, errors };
}

function iso(us: number): string {
  return new Date(us / 1000).toISOString();
}

function list(values: string[], distinct: number, shown = 6): string {
  const head = values.slice(0, shown).join(',');
  return distinct > shown ? `${head},… (${distinct})` : head;
}

export function detectionLine(d: Detection): string {
  const period = d.periodSeconds === null ? '' : ` period ${d.periodSeconds.toFixed(1)} s`;
  return (
    `${d.detector} source ${d.source ?? `${d.distinctSources} sources`} target ${d.target}: ` +
    `${d.peakCount} in ${d.windowSeconds} s (threshold ${d.threshold}), ${d.sessions} sessions, ` +
    `targets ${list(d.targets, d.distinctTargets)}, agents ${d.agents.join(',')}${period}, ` +
    `${iso(d.firstSeenUs)} .. ${iso(d.lastSeenUs)}`
  );
}

export function detectionJson(d: Detection): string {
  return JSON.stringify({ type: 'detection', ...d, firstSeen: iso(d.firstSeenUs), lastSeen: iso(d.lastSeenUs) });
}

export const detectionsSql = `SELECT detector, source_addr AS source, target, peak_count AS peak, threshold,
  window_seconds AS window_s, sessions, distinct_targets AS targets, distinct_sources AS sources, agents,
  first_seen, last_seen FROM report_detections ORDER BY last_seen DESC LIMIT 50`;

export async function runDetections(
  files: string[],
  options: DetectionsOptions,
  out: Output = process.stdout,
  err: Output = process.stderr,
): Promise<number> {
  const result = await detectOffline(files, options);
  for (const e of result.errors) err.write(`fleetcap detections: ${e.file}: ${e.error}\n`);
  const perTenThousand = result.sessions === 0 ? 0 : (result.detections.length * 10_000) / result.sessions;
  if (options.json) {
    for (const d of result.detections) out.write(`${detectionJson(d)}\n`);
    const c = result.engine.counters;
    out.write(
      `${JSON.stringify({
        type: 'summary',
        files: files.length,
        sessions: result.sessions,
        detections: result.detections.length,
        perTenThousandSessions: perTenThousand,
        subjectEvictions: c.subjectEvictions,
        memberEvictions: c.memberEvictions,
      })}\n`,
    );
  } else {
    for (const d of result.detections) out.write(`${detectionLine(d)}\n`);
    out.write(
      `${result.detections.length} detections in ${result.sessions} sessions of ${files.length} files` +
        ` (${perTenThousand.toFixed(2)} per 10,000 sessions)\n`,
    );
  }
  return result.errors.length > 0 ? EXIT_SOME_UNREADABLE : EXIT_ALL_READ;
}

export function registerDetectionsCommand(program: Command): void {
  program
    .command('detections')
    .description(
      'scans, SYN floods, brute force and beaconing: offline over capture files, or (no files) the detection table',
    )
    .option('--json', 'one JSON object per detection, then a {"type":"summary"} line')
    .option('--agent <id>', 'the agent the sessions are attributed to (default: offline)')
    .option('--classify', 'classify the sessions with the model first (brute force also counts sessions it labels so)')
    .option('--model <file>', 'the ONNX model for --classify (default: model/model.onnx)')
    .option('--agent-per-file', 'each file is another agent (named after the file), as a fleet would capture')
    .argument('[files...]', 'capture files (pcap or pcapng); none: list the detection table')
    .action(async (files: string[], options: DetectionsOptions) => {
      if (files.length === 0) {
        try {
          await printAgents(console.log, detectionsSql);
        } catch (error) {
          console.error(`fleetcap detections: ${(error as Error).message}`);
          process.exit(1);
        }
        return;
      }
      process.exitCode = await runDetections(files, options);
    });
}
