// Detection-backed alerts: a session that is evidence of a detection is an alert of the detection's class, even when
// the model did not alert it. A per-session model cannot see a brute force whose every session holds one failed login
// (zeek/ftp/bruteforce.pcap: 30 sessions, each USER/PASS/530), because a benign user mistyping a password makes the
// same session; only the count across sessions tells them apart, and that is what the detectors count.
//
// The model's label and score stay as they are; the verdict gains why it is an alert (alert_reason: the model, a
// detection, or both), the class it is alerted as (alert_label) and the detection (detection_id = the incident id).
//
// Which sessions are evidence: those the detector's rule observes for the incident's subject (rules.ts) whose start
// lies within the incident (first to last seen). Offline the incidents are complete; online an incident still grows,
// so a session within a window of its last session counts (what the detector will add to it).
//
// Redis (prefix FLEETCAP_REDIS_PREFIX), written by the detector stage, read by the session-worker at verdict time:
//   <prefix>:det:{<detector>|<subject>}:alert  JSON {id, firstUs, lastUs, windowUs}: the subject's open incident, for
//                                               detectors whose incidents back alerts; TTL as the subject's keys.
//   <prefix>:det:{alert-config}                JSON of the detector settings the detector stage runs (the worker
//                                               applies the same rules to find a session's subjects).
// The first key shares the subject's hash tag (apps/detector/src/redis-detector.ts), so it sits in its Cluster slot.
import { z } from 'zod';
import { DETECTORS, type DetectorConfig, type DetectorName, type DetectorSettings } from './config.ts';
import type { Detection } from './detection.ts';
import type { DetectorSession } from './detector-session.ts';
import { observe } from './rules.ts';

/**
 * The class a detector's evidence sessions are alerted as (the model's class names), or null when its incidents do
 * not make alerts. Beaconing does not: a regular period is what C&C shows but also NTP, update checks, monitoring
 * probes and keep-alive polling, so its sessions are benign on their own far more often than not; the incident (a
 * detection row, a notification) is what an analyst looks at, and alerting every poll would fill alert_packet with
 * ordinary traffic.
 */
export const ALERT_LABEL_OF_DETECTOR: Readonly<Record<DetectorName, string | null>> = {
  horizontal_scan: 'portscan',
  vertical_scan: 'portscan',
  syn_flood: 'synflood',
  brute_force: 'bruteforce',
  beaconing: null,
};

/** Detectors whose incidents back alerts, in the order that picks one when a session is evidence of several. */
export const ALERTING_DETECTORS: readonly DetectorName[] = DETECTORS.filter((d) => ALERT_LABEL_OF_DETECTOR[d]);

export type AlertReason = 'model' | 'detection' | 'model+detection';
export const ALERT_REASONS: readonly AlertReason[] = ['model', 'detection', 'model+detection'];

/** The detection a session is evidence of. */
export interface DetectionBacking {
  detectionId: string;
  detector: DetectorName;
  alertLabel: string;
}

/** A verdict's alert with its reason: what the verdict row stores beside the model's label and score. */
export interface AlertOutcome {
  alert: boolean;
  alertReason: AlertReason | null;
  /** The class it is alerted as: the detection's when one backs it, else the model's label. */
  alertLabel: string | null;
  detectionId: string | null;
}

/** The model's alert decision combined with the detection (if any) the session is evidence of. */
export function alertOutcome(model: { alert: boolean; label: string }, backing: DetectionBacking | null): AlertOutcome {
  if (backing) {
    return {
      alert: true,
      alertReason: model.alert ? 'model+detection' : 'detection',
      alertLabel: backing.alertLabel,
      detectionId: backing.detectionId,
    };
  }
  if (model.alert) return { alert: true, alertReason: 'model', alertLabel: model.label, detectionId: null };
  return { alert: false, alertReason: null, alertLabel: null, detectionId: null };
}

/** An incident's span, as the rules need it to decide whether a session is its evidence. */
export interface IncidentSpan {
  id: string;
  firstUs: number;
  lastUs: number;
  windowUs: number;
}

/**
 * Whether a session that the incident's rule observes for its subject is its evidence. `open`: the incident may
 * still grow (online), so a session within a window of its last one counts, and a late one within a window before
 * its first (the detector adds both); closed (offline, every session seen): within first .. last.
 */
export function spanCovers(span: IncidentSpan, startUs: number, open: boolean): boolean {
  if (!open) return startUs >= span.firstUs && startUs <= span.lastUs;
  return startUs >= span.firstUs - span.windowUs && startUs <= span.lastUs + span.windowUs;
}

/**
 * The detection a session is evidence of, or null: for each alerting detector in order, the rule's subject of the
 * session, and the incident `find` knows for it that covers the session.
 */
export function backingOf(
  session: DetectorSession,
  config: DetectorConfig,
  find: (detector: DetectorName, subject: string) => readonly IncidentSpan[] | undefined,
  open: boolean,
): DetectionBacking | null {
  for (const detector of ALERTING_DETECTORS) {
    const settings = config[detector];
    if (!settings.enabled) continue;
    const o = observe(detector, session, settings);
    if (!o) continue;
    const span = find(detector, o.subject.key)?.find((s) => spanCovers(s, o.timeUs, open));
    if (span) return { detectionId: span.id, detector, alertLabel: ALERT_LABEL_OF_DETECTOR[detector]! };
  }
  return null;
}

export function spanOfDetection(d: Detection): IncidentSpan {
  return { id: d.id, firstUs: d.firstSeenUs, lastUs: d.lastSeenUs, windowUs: d.windowSeconds * 1e6 };
}

/** The incidents of a finished offline run, by detector and subject: which detection each session is evidence of. */
export class DetectionIndex {
  private readonly spans = new Map<string, IncidentSpan[]>();

  constructor(
    detections: readonly Detection[],
    private readonly config: DetectorConfig,
  ) {
    for (const d of detections) {
      if (!ALERT_LABEL_OF_DETECTOR[d.detector]) continue;
      const name = `${d.detector}|${d.subject}`;
      const list = this.spans.get(name) ?? [];
      list.push(spanOfDetection(d));
      this.spans.set(name, list);
    }
  }

  get size(): number {
    return this.spans.size;
  }

  backingOf(session: DetectorSession): DetectionBacking | null {
    if (this.spans.size === 0) return null;
    return backingOf(session, this.config, (detector, subject) => this.spans.get(`${detector}|${subject}`), false);
  }
}

// --- Redis layout (written by apps/detector, read by apps/session-worker) ---

export function activeIncidentKey(prefix: string, detector: DetectorName, subject: string): string {
  return `${prefix}:det:{${detector}|${subject}}:alert`;
}

export function alertConfigKey(prefix: string): string {
  return `${prefix}:det:{alert-config}`;
}

/** How long an active-incident key lives after its last update: as long as the subject's own keys. */
export function activeIncidentTtlSeconds(settings: DetectorSettings): number {
  return settings.windowSeconds * 2 + 60;
}

export function encodeActiveIncident(d: Detection): string {
  const s = spanOfDetection(d);
  return JSON.stringify({ id: s.id, firstUs: s.firstUs, lastUs: s.lastUs, windowUs: s.windowUs });
}

export class DetectionStateError extends Error {
  override name = 'DetectionStateError';
}

const us = z.number().int().min(0);
const activeIncident = z.object({ id: z.string().min(1).max(255), firstUs: us, lastUs: us, windowUs: us });

function parseJson(text: string, key: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new DetectionStateError(`${key} is not JSON: ${JSON.stringify(text.slice(0, 80))}`);
  }
}

function issueText(error: z.ZodError): string {
  const issue = error.issues[0]!;
  return `${issue.path.join('.') || 'value'}: ${issue.message}`;
}

/** An active-incident key's value; throws DetectionStateError naming the key and what is wrong. */
export function decodeActiveIncident(text: string, key: string): IncidentSpan {
  const parsed = activeIncident.safeParse(parseJson(text, key));
  if (!parsed.success) {
    throw new DetectionStateError(
      `${key} holds no active incident (${issueText(parsed.error)}): a detector of another version wrote it`,
    );
  }
  return parsed.data;
}

/** What the session-worker needs of each detector's settings to apply its rule (rules.ts). */
const ruleSettings = z.object({
  enabled: z.boolean(),
  ports: z.array(z.number().int()),
  labels: z.array(z.string()),
  maxSessionSeconds: z.number().min(0),
  windowSeconds: z.number().positive(),
});

export function encodeAlertConfig(config: DetectorConfig): string {
  return JSON.stringify(config);
}

/** The detector settings the detector stage published; throws DetectionStateError when it is not such a config. */
export function decodeAlertConfig(text: string, key: string): DetectorConfig {
  const json = parseJson(text, key) as Record<string, unknown>;
  const config = {} as DetectorConfig;
  for (const d of DETECTORS) {
    const parsed = ruleSettings.passthrough().safeParse(json?.[d]);
    if (!parsed.success) {
      throw new DetectionStateError(
        `${key} holds no detector settings for ${d} (${issueText(parsed.error)}): a detector of another version wrote it`,
      );
    }
    config[d] = parsed.data as unknown as DetectorSettings;
  }
  return config;
}
