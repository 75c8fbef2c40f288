// The detector's view of a session sessionized from a capture (`fleetcap detections FILE...`, `fleetcap classify`):
// one builder, so both commands give the detectors the same sessions (flags, payload bytes and login attempts over
// the packets the pipeline keeps), as the worker's detectorSessionOfLoaded does online (verdict-event.ts).
import { CONTENT_BYTES_PER_PACKET } from '../features/content.ts';
import { SESSION_MAX_PACKETS } from '../features/features.ts';
import { FROM_INITIATOR, type Session } from '../session/sessionizer.ts';
import type { SessionRecord } from '../session-record/session-records.ts';
import { type AuthPacket, authAttempts, credentialFingerprints } from './auth-attempts.ts';
import type { DetectorSession } from './detector-session.ts';

/** The agent offline sessions are attributed to. */
export const OFFLINE_AGENT = 'offline';

/** One packet of a session as the sessionizer saw it; direction FROM_INITIATOR (0) or TO_INITIATOR (1). */
export interface CapturedPacket {
  direction: number;
  tcpFlags: number;
  payloadLength: number;
  /** The captured payload (only its first CONTENT_BYTES_PER_PACKET bytes are read). */
  payload?: Uint8Array;
}

/**
 * The detector session of `s`: flags and payload per side over its first SESSION_MAX_PACKETS packets (what the
 * pipeline keeps), the login attempts they show, the model's verdict when given. Null without a Community ID.
 */
export function detectorSessionOfCaptured(
  s: Session,
  record: SessionRecord | undefined,
  packets: readonly CapturedPacket[],
  agent: string = OFFLINE_AGENT,
  verdict?: { label: string; score: number },
): DetectorSession | null {
  if (!record?.communityId) return null;
  let srcFlags = 0;
  let dstFlags = 0;
  let srcPayloadBytes = 0;
  let dstPayloadBytes = 0;
  const kept = packets.length > SESSION_MAX_PACKETS ? packets.slice(0, SESSION_MAX_PACKETS) : packets;
  const auth: AuthPacket[] = [];
  for (const p of kept) {
    const fromSrc = p.direction === FROM_INITIATOR;
    if (fromSrc) {
      srcFlags |= p.tcpFlags;
      srcPayloadBytes += p.payloadLength;
    } else {
      dstFlags |= p.tcpFlags;
      dstPayloadBytes += p.payloadLength;
    }
    auth.push({
      direction: fromSrc ? 0 : 1,
      payloadLength: p.payloadLength,
      tcpFlags: p.tcpFlags,
      payload: p.payload && p.payload.length > 0 ? p.payload.subarray(0, CONTENT_BYTES_PER_PACKET) : undefined,
    });
  }
  const attempts = authAttempts(s.proto, s.sport, s.dport, auth, Math.max(s.packets, auth.length));
  const credentials = s.proto === 'tcp' ? credentialFingerprints(auth) : [];
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
    ...(attempts > 0 ? { authAttempts: attempts } : {}),
    ...(credentials.length > 0 ? { credentials } : {}),
    connState: record.first.connState,
    ...(verdict ? { label: verdict.label, score: verdict.score } : {}),
  };
}
