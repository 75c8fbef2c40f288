// The record of each 5-tuple session of the sessionizer (lib/src/session): its Community ID and the Zeek-style
// record of its connection, fed with every packet of the session. A session whose 5-tuple Zeek would split into
// several connections (a new SYN after a close, an idle gap) keeps the record of its first connection and counts
// the connections, so that a session line still describes the session's own start.
import type { DecodedPacket } from '../packet/decode.ts';
import type { Session } from '../session/sessionizer.ts';
import { communityIdOfPacket, DEFAULT_COMMUNITY_ID_SEED } from './community-id.ts';
import type { ConnPacket } from './conn-state.ts';
import { ConnRecord } from './conn-state.ts';
import { connPacketOf } from './conn-tracker.ts';

export interface SessionRecord {
  communityId: string | null;
  /** The record of the session's first connection. */
  first: ConnRecord;
  /** Connections Zeek would log for this 5-tuple (1 unless it was reused or went idle). */
  connections: number;
}

interface Current {
  record: ConnRecord;
  /** The current connection's initiator is the session's src. */
  initiatorIsSrc: boolean;
}

export class SessionRecords {
  private readonly records = new Map<Session, SessionRecord>();
  private readonly current = new Map<Session, Current>();
  /** Reused for every packet: the records copy what they keep. */
  private readonly packet: ConnPacket = { timeUs: 0, fromInitiator: true, ipLength: 0, payloadLength: 0 };

  constructor(private readonly seed = DEFAULT_COMMUNITY_ID_SEED) {}

  /** Adds the packet just added to `session` (`decoded` is the sessionizer's decode of it). */
  add(session: Session, decoded: DecodedPacket, timeUs: number): void {
    const fromSrc = decoded.sport === session.sport && decoded.src === session.src;
    const current = this.current.get(session);
    if (current) {
      const packet = connPacketOf(decoded, timeUs, fromSrc === current.initiatorIsSrc, {}, this.packet);
      if (!current.record.endsBefore(packet)) {
        current.record.add(packet);
        return;
      }
      this.records.get(session)!.connections++;
      packet.fromInitiator = true;
      current.record = this.start(decoded, packet);
      current.initiatorIsSrc = fromSrc;
      return;
    }
    const packet = connPacketOf(decoded, timeUs, true, {}, this.packet);
    const record = this.start(decoded, packet);
    this.records.set(session, { communityId: communityIdOfPacket(decoded, this.seed), first: record, connections: 1 });
    this.current.set(session, { record, initiatorIsSrc: fromSrc });
  }

  private start(decoded: DecodedPacket, packet: ConnPacket): ConnRecord {
    return ConnRecord.start(decoded.ipProtocol, decoded.sport, decoded.dport, packet, {
      toBroadcast: decoded.dst === '255.255.255.255',
    });
  }

  get(session: Session): SessionRecord | undefined {
    return this.records.get(session);
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
