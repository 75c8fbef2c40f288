// The record of each 5-tuple session of the sessionizer (lib/src/session): its Community ID and the Zeek-style
// record of its connection, fed with every packet of the session. A session whose 5-tuple Zeek would split into
// several connections (a new SYN after a close, an idle gap) keeps the record of its first connection and counts
// the connections, so that a session line still describes the session's own start.
import { type DecodedPacket, IPPROTO_TCP } from '../packet/decode.ts';
import type { Session } from '../session/sessionizer.ts';
import { communityIdOfPacket, DEFAULT_COMMUNITY_ID_SEED } from './community-id.ts';
import type { ConnPacket } from './conn-state.ts';
import { ConnRecord } from './conn-state.ts';

export interface SessionRecord {
  communityId: string | null;
  /** The record of the session's first connection. */
  first: ConnRecord;
  /** Connections Zeek would log for this 5-tuple (1 unless it was reused or went idle). */
  connections: number;
}

interface Tracked {
  record: SessionRecord;
  /** The record of the connection the session is in now. */
  current: ConnRecord;
  /** The current connection's initiator is the session's initiator (src). */
  initiatorIsSrc: boolean;
}

export class SessionRecords {
  /** By Session.ordinal (an array index per packet costs less than a Map lookup): one sessionizer's sessions. */
  private readonly tracked: (Tracked | undefined)[] = [];
  /**
   * Reused for every packet: the records copy what they keep. Every field holds a number from the start (the TCP
   * ones are not read for UDP), so that writing a sequence number above 2^31 stores it in place instead of
   * allocating a number object per packet, as a field that was once undefined would.
   */
  private readonly packet: ConnPacket = {
    timeUs: 0,
    fromInitiator: true,
    ipLength: 0,
    payloadLength: 0,
    tcpFlags: 0,
    seq: 0,
    ack: 0,
    window: 0,
  };

  constructor(private readonly seed = DEFAULT_COMMUNITY_ID_SEED) {}

  /**
   * Adds the packet just added to `session`: `decoded` is the sessionizer's decode of it, `fromSrc` whether the
   * session's initiator sent it (Sessionizer.lastFromInitiator).
   */
  add(session: Session, decoded: DecodedPacket, fromSrc: boolean, timeUs: number): void {
    const tracked = this.tracked[session.ordinal];
    if (tracked !== undefined) {
      const packet = this.packetOf(decoded, timeUs, fromSrc === tracked.initiatorIsSrc);
      if (!tracked.current.endsBefore(packet)) {
        tracked.current.add(packet);
        return;
      }
      tracked.record.connections++;
      packet.fromInitiator = true;
      tracked.current = this.start(decoded, packet);
      tracked.initiatorIsSrc = fromSrc;
      return;
    }
    const packet = this.packetOf(decoded, timeUs, true);
    const current = this.start(decoded, packet);
    const record = { communityId: communityIdOfPacket(decoded, this.seed), first: current, connections: 1 };
    this.tracked[session.ordinal] = { record, current, initiatorIsSrc: fromSrc };
  }

  /** What connPacketOf gives for a TCP or UDP packet without checksum verification, in the reused object. */
  private packetOf(decoded: DecodedPacket, timeUs: number, fromInitiator: boolean): ConnPacket {
    const packet = this.packet;
    packet.timeUs = timeUs;
    packet.fromInitiator = fromInitiator;
    packet.ipLength = decoded.ipLength;
    packet.payloadLength = decoded.payloadLength;
    if (decoded.ipProtocol === IPPROTO_TCP) {
      packet.tcpFlags = decoded.tcpFlags;
      packet.seq = decoded.tcpSeq;
      packet.ack = decoded.tcpAck;
      packet.window = decoded.tcpWindow;
    } else {
      packet.tcpFlags = 0;
    }
    return packet;
  }

  private start(decoded: DecodedPacket, packet: ConnPacket): ConnRecord {
    const toBroadcast = decoded.ipVersion === 4 && decoded.dst === '255.255.255.255';
    return ConnRecord.start(decoded.ipProtocol, decoded.sport, decoded.dport, packet, { toBroadcast });
  }

  get(session: Session): SessionRecord | undefined {
    return this.tracked[session.ordinal]?.record;
  }
}

/** The record's fields of a session line (`fleetcap sessions --json`, `fleetcap classify --json`), in that order. */
export function sessionRecordFields(r: SessionRecord) {
  const c = r.first;
  return {
    communityId: r.communityId,
    connState: c.connState,
    history: c.history,
    originator: c.originatorIsResponder ? 'dst' : 'src',
    origPkts: c.origPkts,
    origIpBytes: c.origIpBytes,
    respPkts: c.respPkts,
    respIpBytes: c.respIpBytes,
    duration: c.duration,
    zeekConnections: r.connections,
  };
}
