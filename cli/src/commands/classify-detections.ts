// Detection-backed alerts offline: `fleetcap classify` runs the detectors of the online stage (lib/src/detectors,
// in memory, default thresholds) over the sessions it classified, with the model's labels as the worker publishes
// them, and a session that is evidence of a detection becomes an alert of the detection's class
// (lib/src/detectors/detection-alerts.ts), as the session-worker and the detector stage make it online.
//
// Each file is its own capture: two unrelated captures' sessions never add up to an incident (their addresses and
// times may collide), as `fleetcap detections` counts them one file at a time in its corpus test.
import { detectorSessionOfCaptured, OFFLINE_AGENT } from '@fleetcap/lib/detectors/captured-session';
import { type DetectorConfig, defaultDetectorConfig } from '@fleetcap/lib/detectors/config';
import type { Detection } from '@fleetcap/lib/detectors/detection';
import { type AlertOutcome, alertOutcome, DetectionIndex } from '@fleetcap/lib/detectors/detection-alerts';
import type { DetectorSession } from '@fleetcap/lib/detectors/detector-session';
import { DetectorEngine } from '@fleetcap/lib/detectors/engine';
import type { Session } from '@fleetcap/lib/session/sessionizer';
import type { SessionRecords } from '@fleetcap/lib/session-record/session-records';

/** The detector's view of a classified session (captured-session.ts), with the model's verdict. */
export function detectorSessionOf(
  s: Session,
  records: SessionRecords,
  verdict: { label: string; score: number },
  agent = OFFLINE_AGENT,
): DetectorSession | null {
  return detectorSessionOfCaptured(s, records.get(s), s.packetList, agent, verdict);
}

export interface FileDetectionAlerts {
  /** Per session, in the file's order: the model's alert combined with the detection it is evidence of. */
  outcomes: AlertOutcome[];
  detections: Detection[];
}

/** The detectors over one file's classified sessions, and every session's alert with its reason. */
export function detectionAlertsOfFile(
  sessions: readonly Session[],
  records: SessionRecords,
  verdicts: ReadonlyArray<{ label: string; score: number }>,
  modelAlerts: ReadonlyArray<{ alert: boolean }>,
  config: DetectorConfig = defaultDetectorConfig(),
): FileDetectionAlerts {
  const views = sessions.map((s, i) => detectorSessionOf(s, records, verdicts[i]!));
  const engine = new DetectorEngine(config);
  const inTimeOrder = views.filter((v): v is DetectorSession => v !== null).sort((a, b) => a.firstUs - b.firstUs);
  for (const v of inTimeOrder) engine.process(v);
  const detections = engine.detections();
  const index = new DetectionIndex(detections, config);
  const outcomes = views.map((v, i) =>
    alertOutcome({ alert: modelAlerts[i]!.alert, label: verdicts[i]!.label }, v ? index.backingOf(v) : null),
  );
  return { outcomes, detections };
}

/** Model-only outcomes (`--no-detections`). */
export function modelAlertOutcomes(
  verdicts: ReadonlyArray<{ label: string }>,
  modelAlerts: ReadonlyArray<{ alert: boolean }>,
): AlertOutcome[] {
  return verdicts.map((v, i) => alertOutcome({ alert: modelAlerts[i]!.alert, label: v.label }, null));
}
