// Offline sessions (the Sessionizer of lib/src/session) as application-metadata input. The sessionizer must keep
// packets and payloads: new Sessionizer({ maxPacketsKept: SESSION_MAX_PACKETS, payloadBytesKept: PAYLOAD_BYTES_KEPT }).
import type { Session, SessionPacket } from '../session/sessionizer.ts';
import { appMetadataOf } from './detect.ts';
import { MAX_STREAM_BYTES } from './tcp-stream.ts';
import type { AppMetadata, AppPacket, AppSession } from './types.ts';

/** Payload bytes per session and direction worth keeping: what the parsers read at most. */
export const PAYLOAD_BYTES_KEPT = MAX_STREAM_BYTES;

const EMPTY = new Uint8Array(0);

function hasPayloads(packets: readonly SessionPacket[]): packets is readonly (SessionPacket & AppPacket)[] {
  for (const p of packets) if (p.payload === undefined) return false;
  return true;
}

export function appSessionOf(session: Session): AppSession {
  // The sessionizer's packets are AppPackets once each has its payload (a UDP packet's tcpSeq, 0, is never read):
  // used as they are rather than copied, 24 objects per session less.
  const list = session.packetList;
  const packets: readonly AppPacket[] = hasPayloads(list)
    ? list
    : list.map((p) => {
        const packet: AppPacket = {
          direction: p.direction,
          tcpFlags: p.tcpFlags,
          payload: p.payload ?? EMPTY,
          payloadLength: p.payloadLength,
        };
        if (session.proto === 'tcp' && p.tcpSeq !== undefined) packet.tcpSeq = p.tcpSeq;
        return packet;
      });
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
  private readonly done = new Map<Session, AppMetadata>();

  constructor(private readonly maxPacketsKept: number) {}

  added(session: Session | null): void {
    if (session !== null && session.packets === this.maxPacketsKept + 1) this.compute(session);
  }

  metadataOf(session: Session): AppMetadata {
    return this.done.get(session) ?? this.compute(session);
  }

  private compute(session: Session): AppMetadata {
    const metadata = sessionMetadata(session);
    this.done.set(session, metadata);
    session.dropPayloads();
    return metadata;
  }
}
