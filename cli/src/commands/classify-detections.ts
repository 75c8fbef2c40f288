// Detection-backed alerts offline: `fleetcap classify` runs the detectors of the online stage (lib/src/detectors,
// in memory, default thresholds) over the sessions it classified, with the model's labels as the worker publishes
// them, and a session that is evidence of a detection becomes an alert of the detection's class
// (lib/src/detectors/detection-alerts.ts), as the session-worker and the detector stage make it online.
//
// Each file is its own capture: two unrelated captures' sessions never add up to an incident (their addresses and
// times may collide), as `fleetcap detections` counts them one file at a time in its corpus test.
import { type AuthPacket, authAttempts } from '@fleetcap/lib/detectors/auth-attempts';
import { type DetectorConfig, defaultDetectorConfig } from '@fleetcap/lib/detectors/config';
import type { Detection } from '@fleetcap/lib/detectors/detection';
import { type AlertOutcome, alertOutcome, DetectionIndex } from '@fleetcap/lib/detectors/detection-alerts';
import type { DetectorSession } from '@fleetcap/lib/detectors/detector-session';
import { DetectorEngine } from '@fleetcap/lib/detectors/engine';
import { CONTENT_BYTES_PER_PACKET } from '@fleetcap/lib/features/content';
import { SESSION_MAX_PACKETS } from '@fleetcap/lib/features/features';
import { FROM_INITIATOR, type Session } from '@fleetcap/lib/session/sessionizer';
import type { SessionRecords } from '@fleetcap/lib/session-record/session-records';

/** The agent offline sessions are attributed to, as `fleetcap detections` does. */
export const OFFLINE_AGENT = 'offline';

/**
 * The detector's view of a classified session: flags and payload per side over its first SESSION_MAX_PACKETS
 * packets (what the pipeline keeps), with the model's verdict. Null without a Community ID (not TCP/UDP).
 */
export function detectorSessionOf(
  s: Session,
  records: SessionRecords,
  verdict: { label: string; score: number },
  agent = OFFLINE_AGENT,
): DetectorSession | null {
  const record = records.get(s);
  if (!record?.communityId || (s.proto !== 'tcp' && s.proto !== 'udp')) return null;
  let srcFlags = 0;
  let dstFlags = 0;
  let srcPayloadBytes = 0;
  let dstPayloadBytes = 0;
  const kept = s.packetList.slice(0, SESSION_MAX_PACKETS);
  for (const p of kept) {
    if (p.direction === FROM_INITIATOR) {
      srcFlags |= p.tcpFlags;
      srcPayloadBytes += p.payloadLength;
    } else {
      dstFlags |= p.tcpFlags;
      dstPayloadBytes += p.payloadLength;
    }
  }
  return {
    agent,
    communityId: record.communityId,
    proto: s.proto,
    src: s.src,
    sport: s.sport,
    dst: s.dst,
    dport: s.dport,
    firstUs: s.firstSec * 1e6 + Math.floor(s.firstNsec / 1000),
    lastUs: s.lastSec * 1e6 + Math.floor(s.lastNsec / 1000),
    packets: s.packets,
    bytes: s.bytes,
    packetsFromSrc: s.packetsFromInitiator,
    srcFlags,
    dstFlags,
    srcPayloadBytes,
    dstPayloadBytes,
    ...authAttemptsOf(s, kept),
    connState: record.first.connState,
    label: verdict.label,
    score: verdict.score,
  };
}

/** The login attempts the brute-force detector counts, read as `fleetcap detections` reads them (auth-attempts.ts). */
function authAttemptsOf(s: Session, kept: Session['packetList']): { authAttempts?: number } {
  const packets: AuthPacket[] = kept.map((p) => ({
    direction: p.direction === FROM_INITIATOR ? 0 : 1,
    payloadLength: p.payloadLength,
    tcpFlags: p.tcpFlags,
    payload: p.payload?.subarray(0, CONTENT_BYTES_PER_PACKET),
  }));
  const attempts = authAttempts(s.proto as 'tcp' | 'udp', s.sport, s.dport, packets);
  return attempts > 0 ? { authAttempts: attempts } : {};
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
