// Offline sessions (the Sessionizer of lib/src/session) as application-metadata input. The sessionizer must keep
// packets and payloads: new Sessionizer({ maxPacketsKept: SESSION_MAX_PACKETS, payloadBytesKept: PAYLOAD_BYTES_KEPT }).
import { NO_KEPT_PACKET, type Session } from '../session/sessionizer.ts';
import { appMetadataOf } from './detect.ts';
import { MAX_STREAM_BYTES } from './tcp-stream.ts';
import type { AppMetadata, AppPacket, AppSession } from './types.ts';

/** Payload bytes per session and direction worth keeping: what the parsers read at most. */
export const PAYLOAD_BYTES_KEPT = MAX_STREAM_BYTES;

const EMPTY = new Uint8Array(0);

export function appSessionOf(session: Session): AppSession {
  // Read from the sessionizer's kept-packet columns: only the fields the parsers read, in objects that die young.
  const packets: AppPacket[] = [];
  const kept = session.kept;
  const tcp = session.proto === 'tcp';
  if (kept !== null) {
    for (let k = session.firstKept; k !== NO_KEPT_PACKET; k = kept.next[k]!) {
      const direction = kept.direction[k] as 0 | 1;
      const payload = kept.payloadOf(k) ?? EMPTY;
      // One literal per protocol, so that each keeps one shape (UDP has no sequence number).
      const packet: AppPacket = tcp
        ? {
            direction,
            tcpFlags: kept.tcpFlags[k]!,
            tcpSeq: kept.tcpSeq[k]!,
            payload,
            payloadLength: kept.payloadLength[k]!,
          }
        : { direction, tcpFlags: kept.tcpFlags[k]!, payload, payloadLength: kept.payloadLength[k]! };
      packets.push(packet);
    }
  }
  return {
    proto: session.proto,
    initiatorPort: session.sport,
    responderPort: session.dport,
    packets,
    morePackets: session.packets > session.packetsKept,
  };
}

export function sessionMetadata(session: Session): AppMetadata {
  return appMetadataOf(appSessionOf(session));
}

/**
 * Metadata of the sessions of a sessionizer as packets arrive, holding payloads no longer than needed: a session's
 * stored packets are final once it has one packet more than the store keeps, so its metadata is computed then and
 * its payloads are freed; the others are computed when asked for. Call `added` with what every add returned.
 */
export class SessionMetadataCollector {
  /** By Session.ordinal: one sessionizer's sessions. */
  private readonly done: (AppMetadata | undefined)[] = [];

  constructor(private readonly maxPacketsKept: number) {}

  added(session: Session | null): void {
    if (session !== null && session.packets === this.maxPacketsKept + 1) this.compute(session);
  }

  metadataOf(session: Session): AppMetadata {
    return this.done[session.ordinal] ?? this.compute(session);
  }

  private compute(session: Session): AppMetadata {
    const metadata = sessionMetadata(session);
    // Grown in order (sessions finish in any order), so that the array never turns sparse.
    while (this.done.length <= session.ordinal) this.done.push(undefined);
    this.done[session.ordinal] = metadata;
    session.dropPayloads();
    return metadata;
  }
}
