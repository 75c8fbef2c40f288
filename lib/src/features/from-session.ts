// Offline sessions (the Sessionizer of lib/src/session) as feature input, the same way splitcap stores them:
// the initiator is the client, times become µs as splitcap computes them, and the sessionizer must keep at
// least SESSION_MAX_PACKETS packets per session (new Sessionizer({ maxPacketsKept: SESSION_MAX_PACKETS })).
import type { Session } from '../session/sessionizer.ts';
import type { FeaturePacket, FeatureSession } from './features.ts';

/** The capture time in µs as splitcap's batch decoder computes it. */
export function captureTimeUs(tsSec: number, tsNsec: number): number {
  return tsSec * 1_000_000 + Math.floor(tsNsec / 1000);
}

export function featureSessionOf(session: Session): FeatureSession {
  const packets: FeaturePacket[] = session.packetList.map((p) => ({
    direction: p.direction,
    tsUs: captureTimeUs(p.tsSec, p.tsNsec),
    wireLength: p.length,
    payloadLength: p.payloadLength,
    tcpFlags: p.tcpFlags,
    payload: p.payload,
  }));
  return { proto: session.proto, clientPort: session.sport, serverPort: session.dport, packets };
}
