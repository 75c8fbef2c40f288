// Sessions of the session store (what the session-worker loads from Redis) as application-metadata input: each
// stored packet's frame is decoded again, with the link type it was uploaded with, for its payload and TCP
// sequence number. The same AppSession as the offline path (from-session.ts), so the CLI and the workers read
// one session alike.
import { DecodedPacket, decodePacket } from '../packet/decode.ts';
import type { LoadedSession } from '../session-store/reader.ts';
import { appMetadataOf } from './detect.ts';
import type { AppMetadata, AppPacket, AppSession } from './types.ts';

const EMPTY = new Uint8Array(0);

/** How many of a session's stored packets had no frame, or one that does not decode to the session's transport. */
export interface StoredFrameProblems {
  noFrame: number;
  undecodable: number;
}

export function appSessionOfStored(
  session: LoadedSession,
  problems: StoredFrameProblems = { noFrame: 0, undecodable: 0 },
): AppSession {
  const decoded = new DecodedPacket();
  const packets: AppPacket[] = session.packets.map((p) => {
    const packet: AppPacket = {
      direction: p.direction,
      tcpFlags: p.tcpFlags,
      payload: EMPTY,
      payloadLength: p.payloadLength,
    };
    if (p.frame.length === 0 || p.linktype < 0) {
      problems.noFrame++;
      return packet;
    }
    if (decodePacket(p.linktype, p.frame, decoded, p.wireLength) !== null || decoded.proto !== session.proto) {
      problems.undecodable++;
      return packet;
    }
    packet.payload = p.frame.subarray(decoded.payloadAt, decoded.payloadEnd);
    if (session.proto === 'tcp') packet.tcpSeq = decoded.tcpSeq;
    return packet;
  });
  return {
    proto: session.proto,
    initiatorPort: session.client.port,
    responderPort: session.server.port,
    packets,
    morePackets: session.packetsSeen > session.packets.length,
  };
}

export function storedSessionMetadata(session: LoadedSession): AppMetadata {
  return appMetadataOf(appSessionOfStored(session));
}
