// Follows every flow of a capture the way Zeek's connection table does, one ConnRecord per connection: TCP and UDP
// by their 5-tuple, ICMP by its type/counterpart "ports", any other IP protocol by its addresses. A flow whose
// connection ended (ConnRecord.endsBefore) starts a new connection with its next packet. Used by the offline
// command and the conformance tests; the pipeline keeps the same records per session occurrence.
import {
  type DecodedPacket,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  type SkipReason,
} from '../packet/decode.ts';
import { ipHeaderChecksumOk, transportChecksum } from './checksum.ts';
import { communityIdOfPacket, icmpPorts } from './community-id.ts';
import { type ConnPacket, ConnRecord, type ConnRecordOptions, icmpPayloadLength } from './conn-state.ts';

export interface ConnPacketOptions {
  /** Verify IP and transport checksums as Zeek does without `-C` (default false: offloaded captures fail them). */
  verifyChecksums?: boolean;
}

/**
 * The ConnPacket of a decoded packet: TCP/UDP (decodePacket returned null) or an 'other-l4' skip. `fromInitiator`
 * is relative to the record the caller adds it to.
 */
export function connPacketOf(
  packet: DecodedPacket,
  timeUs: number,
  fromInitiator: boolean,
  options: ConnPacketOptions = {},
  /** An object to fill instead of a new one (the per-packet path allocates nothing). */
  into?: ConnPacket,
): ConnPacket {
  const protocol = packet.ipProtocol;
  const result: ConnPacket = into ?? { timeUs, fromInitiator, ipLength: 0, payloadLength: 0 };
  result.timeUs = timeUs;
  result.fromInitiator = fromInitiator;
  result.ipLength = packet.ipLength;
  result.payloadLength = 0;
  result.tcpFlags = undefined;
  result.checksumOk = undefined;
  if (protocol === IPPROTO_TCP) {
    result.tcpFlags = packet.tcpFlags;
    result.seq = packet.tcpSeq;
    result.ack = packet.tcpAck;
    result.window = packet.tcpWindow;
    result.payloadLength = packet.payloadLength;
  } else if (protocol === IPPROTO_UDP) {
    result.payloadLength = packet.payloadLength;
  } else if (protocol === IPPROTO_ICMP || protocol === IPPROTO_ICMPV6) {
    result.payloadLength = icmpPayloadLength(packet.transportLength);
  }
  if (options.verifyChecksums && transportChecksum(packet) === 'bad') result.checksumOk = false;
  return result;
}

/** The endpoints and "ports" Zeek's connection table keys a packet by. */
interface FlowIdentity {
  key: string;
  sport: number;
  dport: number;
}

function flowIdentity(packet: DecodedPacket): FlowIdentity | null {
  const protocol = packet.ipProtocol;
  let sport = 0;
  let dport = 0;
  let ordered = true;
  if (protocol === IPPROTO_TCP || protocol === IPPROTO_UDP) {
    sport = packet.sport;
    dport = packet.dport;
  } else if (protocol === IPPROTO_ICMP || protocol === IPPROTO_ICMPV6) {
    if (packet.icmpType < 0) return null;
    const ports = icmpPorts(protocol, packet.icmpType, packet.icmpCode);
    sport = ports.sport;
    dport = ports.dport;
    // A one-way message is keyed in the order it was sent: the same message back is another connection.
    ordered = !ports.oneWay;
  }
  const a = `${packet.src}|${sport}`;
  const b = `${packet.dst}|${dport}`;
  const key = !ordered || a <= b ? `${protocol}|${a}|${b}` : `${protocol}|${b}|${a}`;
  return { key, sport, dport };
}

export interface TrackedConnection {
  protocol: number;
  /** The sender of the connection's first packet and its port ("initiator"), and the other endpoint. */
  initiator: string;
  initiatorPort: number;
  responder: string;
  responderPort: number;
  communityId: string | null;
  record: ConnRecord;
}

/** Zeek's originator and responder of a tracked connection. */
export function originatorOf(connection: TrackedConnection) {
  const flipped = connection.record.originatorIsResponder;
  return {
    origH: flipped ? connection.responder : connection.initiator,
    origP: flipped ? connection.responderPort : connection.initiatorPort,
    respH: flipped ? connection.initiator : connection.responder,
    respP: flipped ? connection.initiatorPort : connection.responderPort,
  };
}

export interface ConnTrackerOptions extends ConnRecordOptions, ConnPacketOptions {
  /** Community ID seed (default 0). */
  seed?: number;
}

export class ConnTracker {
  /** Every connection, in the order of its first packet; ended ones stay here. */
  readonly connections: TrackedConnection[] = [];
  private readonly open = new Map<string, TrackedConnection>();

  constructor(private readonly options: ConnTrackerOptions = {}) {}

  /**
   * Adds a decoded packet (`skip` is what decodePacket returned: null or 'other-l4' are followed, other skips are
   * not). Returns its connection, or null when the packet is not followed.
   */
  add(packet: DecodedPacket, skip: SkipReason | null, timeUs: number): TrackedConnection | null {
    if (skip !== null && skip !== 'other-l4') return null;
    if (this.options.verifyChecksums && !ipHeaderChecksumOk(packet)) return null;
    const identity = flowIdentity(packet);
    if (!identity) return null;
    let connection = this.open.get(identity.key);
    const fromInitiator = connection
      ? packet.src === connection.initiator && identity.sport === connection.initiatorPort
      : true;
    const conn = connPacketOf(packet, timeUs, fromInitiator, this.options);
    if (connection && !connection.record.endsBefore(conn)) {
      connection.record.add(conn);
      return connection;
    }
    conn.fromInitiator = true;
    connection = {
      protocol: packet.ipProtocol,
      initiator: packet.src,
      initiatorPort: identity.sport,
      responder: packet.dst,
      responderPort: identity.dport,
      communityId: communityIdOfPacket(packet, this.options.seed),
      record: ConnRecord.start(packet.ipProtocol, identity.sport, identity.dport, conn, {
        ...this.options,
        toBroadcast: packet.dst === '255.255.255.255',
      }),
    };
    this.open.set(identity.key, connection);
    this.connections.push(connection);
    return connection;
  }
}
