// The record of each 5-tuple session of the sessionizer (lib/src/session): its Community ID and the Zeek-style
// record of its connection, fed with every packet of the session. A session whose 5-tuple Zeek would split into
// several connections (a new SYN after a close, an idle gap) keeps the record of its first connection and counts
// the connections, so that a session line still describes the session's own start.
import { type DecodedPacket, IPPROTO_TCP } from '../packet/decode.ts';
import type { Session } from '../session/sessionizer.ts';
import { communityIdOfPacket, DEFAULT_COMMUNITY_ID_SEED } from './community-id.ts';
import type { ConnPacket } from './conn-state.ts';
import { ConnRecord, ConnStore } from './conn-state.ts';

export interface SessionRecord {
  communityId: string | null;
  /** The record of the session's first connection. */
  first: ConnRecord;
  /** Connections Zeek would log for this 5-tuple (1 unless it was reused or went idle). */
  connections: number;
}

export class SessionRecords {
  // By Session.ordinal (an array index per packet costs less than a Map lookup): one sessionizer's sessions. In
  // columns, with every record's numbers in one store: a few objects per session instead of a dozen.
  /** The record of the connection the session is in now. */
  private readonly current: (ConnRecord | undefined)[] = [];
  /** The record of the session's first connection. */
  private readonly firstRecord: (ConnRecord | undefined)[] = [];
  private readonly communityIds: (string | null)[] = [];
  /** Connections Zeek would log for the 5-tuple, and whether the current one's initiator is the session's src. */
  private connections = new Uint32Array(1024);
  private initiatorIsSrc = new Uint8Array(1024);
  private readonly store = new ConnStore(1024);
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
  /**
   * add() with the capture time as a reader gives it (seconds and nanoseconds, both small integers): a time in µs
   * handed from call to call is a double, which costs a heap number per packet wherever a call is not inlined.
   */
  addCaptured(session: Session, decoded: DecodedPacket, fromSrc: boolean, sec: number, nsec: number): void {
    this.packet.timeUs = sec * 1_000_000 + Math.floor(nsec / 1000);
    this.addTimed(session, decoded, fromSrc);
  }

  add(session: Session, decoded: DecodedPacket, fromSrc: boolean, timeUs: number): void {
    this.packet.timeUs = timeUs;
    this.addTimed(session, decoded, fromSrc);
  }

  /** add() of the packet whose time is already in the reused packet. */
  private addTimed(session: Session, decoded: DecodedPacket, fromSrc: boolean): void {
    const i = session.ordinal;
    const current = this.current[i];
    if (current !== undefined) {
      const packet = this.packetOf(decoded, fromSrc === (this.initiatorIsSrc[i] === 1));
      if (!current.endsBefore(packet)) {
        current.add(packet);
        return;
      }
      this.connections[i]!++;
      packet.fromInitiator = true;
      this.current[i] = this.start(decoded, packet);
      this.initiatorIsSrc[i] = fromSrc ? 1 : 0;
      return;
    }
    while (this.current.length <= i) this.grow();
    const record = this.start(decoded, this.packetOf(decoded, true));
    this.current[i] = record;
    this.firstRecord[i] = record;
    this.communityIds[i] = communityIdOfPacket(decoded, this.seed);
    this.connections[i] = 1;
    this.initiatorIsSrc[i] = fromSrc ? 1 : 0;
  }

  /** One more session's entries (sessions arrive in ordinal order, so this runs once per session). */
  private grow(): void {
    const i = this.current.length;
    if (i === this.connections.length) {
      const connections = new Uint32Array(i * 2);
      connections.set(this.connections);
      this.connections = connections;
      const initiatorIsSrc = new Uint8Array(i * 2);
      initiatorIsSrc.set(this.initiatorIsSrc);
      this.initiatorIsSrc = initiatorIsSrc;
    }
    this.current.push(undefined);
    this.firstRecord.push(undefined);
    this.communityIds.push(null);
  }

  /** What connPacketOf gives for a TCP or UDP packet without checksum verification, in the reused object. */
  private packetOf(decoded: DecodedPacket, fromInitiator: boolean): ConnPacket {
    const packet = this.packet;
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
    return ConnRecord.start(decoded.ipProtocol, decoded.sport, decoded.dport, packet, {
      toBroadcast,
      store: this.store,
    });
  }

  /** The session's record (a new object on each call). */
  get(session: Session): SessionRecord | undefined {
    const i = session.ordinal;
    const first = this.firstRecord[i];
    if (first === undefined) return undefined;
    return { communityId: this.communityIds[i]!, first, connections: this.connections[i]! };
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
