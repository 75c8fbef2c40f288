// A connection's record in Zeek's terms (conn.log): `conn_state`, `history`, packets and IP bytes per direction and
// `duration`, kept by a small counter state that is updated packet by packet from every packet of the connection and
// serialises to a short string (the pipeline keeps it in Redis between batches).
//
// The rules are Zeek's (scripts/base/protocols/conn/main.zeek for conn_state and the history letters; its TCP
// analyzer for the endpoint state machine), reimplemented on our decoded packets:
// - Originator: the sender of the first packet, unless that packet is not a plain SYN (TCP) or is UDP and its source
//   port is a likely server port while its destination port is not ("^" in the history); a SYN answered by a SYN-ACK
//   seen first flips too.
// - History: s SYN, h SYN-ACK, a pure ACK, d data, f FIN, r RST, i FIN+RST, q SYN with FIN or RST, c bad checksum,
//   t retransmission, w zero window; upper case from the originator. a, d, i, q once per direction; s, h, f, r again
//   when their sequence number differs from the last one of that kind; c, t, w at the 1st, 10th, 100th … time.
// - End of a connection (then the next packet of the same flow starts a new one): 5 s after both sides closed or one
//   reset, 5 s after an unanswered SYN, idle for 5 min (TCP) or 1 min (UDP, ICMP, others), or a new SYN on a closed
//   TCP connection. These are Zeek's defaults; the pipeline uses the same ends so that one row is one conn.log line.
// Not reproduced: content gaps ('g', they need stream reassembly), Zeek's protocol analyzers (which can add 'x' or
// change timers), fragments reassembled (we see first fragments only) and tunnels (we see the outer flow).
import {
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
} from '../packet/decode.ts';
import { type LikelyServerPorts, ZEEK_DNS_UDP_PORTS, ZEEK_LIKELY_SERVER_PORTS } from './likely-server-ports.ts';

export const ZEEK_CONN_STATES = [
  'S0',
  'S1',
  'SF',
  'REJ',
  'S2',
  'S3',
  'RSTO',
  'RSTR',
  'RSTOS0',
  'RSTRH',
  'SH',
  'SHR',
  'OTH',
] as const;
export type ZeekConnState = (typeof ZEEK_CONN_STATES)[number];

/** Zeek's TCP endpoint states (plus "active" for UDP/ICMP, stored as ESTABLISHED). */
const INACTIVE = 0;
const SYN_SENT = 1;
const SYN_ACK_SENT = 2;
const PARTIAL = 3;
const ESTABLISHED = 4;
const CLOSED = 5;
const RESET = 6;

const US = 1_000_000;
/** Zeek's tcp_attempt_delay, tcp_close_delay, tcp_SYN_timeout, tcp_connection_linger: 5 s each. */
const TCP_ATTEMPT_DELAY_US = 5 * US;
const TCP_CLOSE_DELAY_US = 5 * US;
const TCP_SYN_TIMEOUT_US = 5 * US;
const TCP_CONNECTION_LINGER_US = 5 * US;
/** Zeek's tcp_session_timer: how often a TCP connection that might be over is looked at again. */
const TCP_SESSION_TIMER_US = 6 * US;
/** Zeek's tcp_inactivity_timeout, udp_inactivity_timeout, icmp_inactivity_timeout (and unknown protocols). */
export const TCP_INACTIVITY_TIMEOUT_US = 300 * US;
export const UDP_INACTIVITY_TIMEOUT_US = 60 * US;
export const OTHER_INACTIVITY_TIMEOUT_US = 60 * US;

/** How long a connection may be quiet before it is over, per protocol (µs). */
export interface InactivityTimeouts {
  tcpUs: number;
  udpUs: number;
  otherUs: number;
}

export const ZEEK_INACTIVITY_TIMEOUTS: InactivityTimeouts = {
  tcpUs: TCP_INACTIVITY_TIMEOUT_US,
  udpUs: UDP_INACTIVITY_TIMEOUT_US,
  otherUs: OTHER_INACTIVITY_TIMEOUT_US,
};
/** Zeek's dns_session_timeout: its DNS analyzer looks every 10 s and drops a connection quiet for 9 s of them. */
const DNS_SESSION_TIMEOUT_US = 10 * US;
const DNS_QUIET_US = 9 * US;
/** Sequence jumps larger than this in a SYN or RST are not trusted (Zeek's TOO_LARGE_SEQ_DELTA). */
const TOO_LARGE_SEQ_DELTA = 1_048_576;
/** Bounds the state: Zeek's history is unbounded, ours stops growing here (only a pathological flow gets there). */
export const MAX_HISTORY_LENGTH = 255;
const TWO_32 = 0x1_0000_0000;

// hist_seen bits, as Zeek numbers them; the responder's are shifted left by 16.
const HIST_SYN = 0x1;
const HIST_FIN = 0x2;
const HIST_RST = 0x4;
const HIST_FIN_RST = 0x8;
const HIST_DATA = 0x10;
const HIST_ACK = 0x20;
const HIST_MULTI_FLAG = 0x40;

/** What the record needs of one packet. */
export interface ConnPacket {
  /** Capture time, µs since the epoch. */
  timeUs: number;
  /** Sent by the endpoint that sent the record's first packet. */
  fromInitiator: boolean;
  /** IP packet length from its header (what Zeek's orig_ip_bytes sums). */
  ipLength: number;
  /** Transport payload length (TCP/UDP), or the ICMP message length; 0 for other protocols. */
  payloadLength: number;
  /** TCP only: flags byte, sequence and acknowledgement numbers, window field. */
  tcpFlags?: number;
  seq?: number;
  ack?: number;
  window?: number;
  /** False when the transport checksum was verified and is wrong; true or absent otherwise. */
  checksumOk?: boolean;
}

export interface ConnRecordOptions {
  likelyServerPorts?: LikelyServerPorts;
  /** Where the record's numbers are kept (default: a store of its own). */
  store?: ConnStore;
}

export interface ConnStartOptions extends ConnRecordOptions {
  /** The first packet went to 255.255.255.255: Zeek then keeps its sender as the originator. */
  toBroadcast?: boolean;
}

function seqDelta(a: number, b: number): number {
  return (a - b) | 0;
}

/**
 * One endpoint's state, a view of ENDPOINT_SLOTS numbers of a ConnStore (see there why not fields of its own). The
 * fields are Zeek's TCP endpoint's; `size` is for UDP/ICMP: payload bytes sent, -1 before any packet (Zeek's
 * request_len/reply_len).
 */
class Endpoint {
  constructor(
    private readonly store: ConnStore,
    /** Set by the record that uses the view (ConnStore.initiatorView). */
    public at: number,
  ) {}

  get state(): number {
    return this.store.values[this.at + 0]!;
  }
  set state(value: number) {
    this.store.values[this.at + 0] = value;
  }

  get prevState(): number {
    return this.store.values[this.at + 1]!;
  }
  set prevState(value: number) {
    this.store.values[this.at + 1] = value;
  }

  get startSeq(): number {
    return this.store.values[this.at + 2]!;
  }
  set startSeq(value: number) {
    this.store.values[this.at + 2] = value;
  }

  get lastSeq(): number {
    return this.store.values[this.at + 3]!;
  }
  set lastSeq(value: number) {
    this.store.values[this.at + 3] = value;
  }

  get ackSeq(): number {
    return this.store.values[this.at + 4]!;
  }
  set ackSeq(value: number) {
    this.store.values[this.at + 4] = value;
  }

  get seqWraps(): number {
    return this.store.values[this.at + 5]!;
  }
  set seqWraps(value: number) {
    this.store.values[this.at + 5] = value;
  }

  get ackWraps(): number {
    return this.store.values[this.at + 6]!;
  }
  set ackWraps(value: number) {
    this.store.values[this.at + 6] = value;
  }

  get histLastSyn(): number {
    return this.store.values[this.at + 7]!;
  }
  set histLastSyn(value: number) {
    this.store.values[this.at + 7] = value;
  }

  get histLastFin(): number {
    return this.store.values[this.at + 8]!;
  }
  set histLastFin(value: number) {
    this.store.values[this.at + 8] = value;
  }

  get histLastRst(): number {
    return this.store.values[this.at + 9]!;
  }
  set histLastRst(value: number) {
    this.store.values[this.at + 9] = value;
  }

  get finCount(): number {
    return this.store.values[this.at + 10]!;
  }
  set finCount(value: number) {
    this.store.values[this.at + 10] = value;
  }

  get didClose(): boolean {
    return this.store.values[this.at + 11] === 1;
  }
  set didClose(value: boolean) {
    this.store.values[this.at + 11] = value ? 1 : 0;
  }

  get checksumErrors(): number {
    return this.store.values[this.at + 12]!;
  }
  set checksumErrors(value: number) {
    this.store.values[this.at + 12] = value;
  }

  get retransmissions(): number {
    return this.store.values[this.at + 13]!;
  }
  set retransmissions(value: number) {
    this.store.values[this.at + 13] = value;
  }

  get zeroWindows(): number {
    return this.store.values[this.at + 14]!;
  }
  set zeroWindows(value: number) {
    this.store.values[this.at + 14] = value;
  }

  get packets(): number {
    return this.store.values[this.at + 15]!;
  }
  set packets(value: number) {
    this.store.values[this.at + 15] = value;
  }

  get ipBytes(): number {
    return this.store.values[this.at + 16]!;
  }
  set ipBytes(value: number) {
    this.store.values[this.at + 16] = value;
  }

  get size(): number {
    return this.store.values[this.at + 17]!;
  }
  set size(value: number) {
    this.store.values[this.at + 17] = value;
  }

  setState(state: number): void {
    if (state === this.state) return;
    this.prevState = this.state;
    this.state = state;
  }

  updateLastSeq(seq: number): void {
    if (seq < this.lastSeq && seqDelta(seq, this.lastSeq) > 0) this.seqWraps++;
    this.lastSeq = seq;
  }

  updateAckSeq(seq: number): void {
    if (seq < this.ackSeq && seqDelta(seq, this.ackSeq) > 0) this.ackWraps++;
    this.ackSeq = seq;
  }

  initSeqs(start: number, last: number): void {
    this.startSeq = start >>> 0;
    this.ackSeq = start >>> 0;
    this.lastSeq = last >>> 0;
  }

  /** Set by relative(): the last position asked for lay before the start. */
  underflow = false;

  /** Position of `seq` relative to the start (Zeek's get_relative_seq); sets `underflow`. */
  relative(seq: number, last: number, wrapsIn: number): number {
    let wraps = wrapsIn;
    const delta = seqDelta(seq, last);
    if (delta < 0) {
      if (wraps > 0 && seq > last) wraps--;
    } else if (delta > 0 && seq < last) {
      wraps++;
    }
    if (wraps === 0) {
      const rel = seqDelta(seq, this.startSeq);
      this.underflow = rel < 0;
      return rel;
    }
    this.underflow = false;
    return wraps * TWO_32 + seq - this.startSeq;
  }

  /** Payload bytes by sequence numbers (Zeek's TCP endpoint Size). */
  tcpSize(peer: Endpoint): number {
    const ack64 = this.ackWraps * TWO_32 + this.ackSeq;
    const noDataAcked = ack64 === this.startSeq || ack64 === this.startSeq + 1;
    if (this.prevState === SYN_SENT && this.state === RESET && peer.state === INACTIVE && !noDataAcked) return 0;
    const last64 = this.seqWraps * TWO_32 + this.lastSeq;
    let size = Math.max(last64, ack64) - this.startSeq;
    if (size !== 0) size--;
    if (this.finCount > 0 && size !== 0) size--;
    return size;
  }
}

/** Letters Zeek adds at the 1st, 10th, 100th … occurrence: true when `count` (after the increment) is one of those. */
function isScaledStep(count: number): boolean {
  if (count < 1) return false;
  let threshold = 1;
  while (threshold < count) threshold *= 10;
  return threshold === count;
}

const ENDPOINT_FIELDS = [
  'state',
  'prevState',
  'startSeq',
  'lastSeq',
  'ackSeq',
  'seqWraps',
  'ackWraps',
  'histLastSyn',
  'histLastFin',
  'histLastRst',
  'finCount',
  'checksumErrors',
  'retransmissions',
  'zeroWindows',
  'packets',
  'ipBytes',
  'size',
] as const;

const RECORD_FIELDS = [
  'protocol',
  'initiatorPort',
  'responderPort',
  'startUs',
  'lastUs',
  'lastPacketUs',
  'attemptAtUs',
  'closeAtUs',
  'histSeen',
  'dnsTimer',
] as const;

/** Slots of a record in its ConnStore: its RECORD_FIELDS, then the initiator's and the responder's numbers. */
const ENDPOINT_SLOTS = 18;
const ENDPOINT_SIZE_SLOT = 17;
const INITIATOR_AT = 10;
const RESPONDER_AT = INITIATOR_AT + ENDPOINT_SLOTS;
const RECORD_SLOTS = RESPONDER_AT + ENDPOINT_SLOTS;

/** Slots of ENDPOINT_FIELDS (and didClose) in an endpoint, and of RECORD_FIELDS in a record, for direct reads. */
const STATE_SLOT = 0;
const START_SEQ_SLOT = 2;
const LAST_SEQ_SLOT = 3;
const ACK_SEQ_SLOT = 4;
const SEQ_WRAPS_SLOT = 5;
const ACK_WRAPS_SLOT = 6;
const DID_CLOSE_SLOT = 11;
const RETRANSMISSIONS_SLOT = 13;
const ZERO_WINDOWS_SLOT = 14;
const PACKETS_SLOT = 15;
const IP_BYTES_SLOT = 16;
const PROTOCOL_SLOT = 0;
const LAST_US_SLOT = 4;
const ATTEMPT_AT_US_SLOT = 6;
const CLOSE_AT_US_SLOT = 7;
const HIST_SEEN_SLOT = 8;
const DNS_TIMER_SLOT = 9;

/** Serialisation format version, first field of serialize(). */
const FORMAT = 1;

/**
 * The record of one connection. `initiator` is the endpoint that sent the first packet, `responder` the other;
 * Zeek's originator is one of them (`originatorIsResponder` after a flip).
 */
/**
 * Where the numbers of connection records live: RECORD_SLOTS per record in one Float64Array. A record of objects
 * (the record, two endpoints and a boxed number for each field holding a double) was over 800 bytes of heap per
 * session that the garbage collector copied and marked for as long as the session lived; offline, one store holds
 * every record of a capture (SessionRecords), and a record made alone (ConnRecord.start, deserialize) gets a store
 * of its own.
 */
export class ConnStore {
  values: Float64Array;
  private used = 0;
  /**
   * The endpoint views of the record being worked on: a record points them at its slots whenever it reads them
   * (ConnRecord.initiator), so that no record holds two view objects of its own. Safe because a record's methods
   * never call another record's in between.
   */
  readonly initiatorView = new Endpoint(this, 0);
  readonly responderView = new Endpoint(this, 0);

  constructor(records = 64) {
    this.values = new Float64Array(RECORD_SLOTS * Math.max(1, records));
  }

  /** The first slot of a new record's numbers, every one 0 but the endpoints' `size` (-1). */
  allocate(): number {
    if (this.used + RECORD_SLOTS > this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    const at = this.used;
    this.used += RECORD_SLOTS;
    this.values[at + INITIATOR_AT + ENDPOINT_SIZE_SLOT] = -1;
    this.values[at + RESPONDER_AT + ENDPOINT_SIZE_SLOT] = -1;
    return at;
  }
}

/**
 * The record of one connection. `initiator` is the endpoint that sent the first packet, `responder` the other;
 * Zeek's originator is one of them (`originatorIsResponder` after a flip). Its numbers are slots of a ConnStore.
 */
export class ConnRecord {
  get protocol(): number {
    return this.store.values[this.at + 0]!;
  }
  set protocol(value: number) {
    this.store.values[this.at + 0] = value;
  }

  /** Ports of the initiator and the responder (ICMP: the mapped type/code), for the originator heuristics. */
  get initiatorPort(): number {
    return this.store.values[this.at + 1]!;
  }
  set initiatorPort(value: number) {
    this.store.values[this.at + 1] = value;
  }

  get responderPort(): number {
    return this.store.values[this.at + 2]!;
  }
  set responderPort(value: number) {
    this.store.values[this.at + 2] = value;
  }

  get startUs(): number {
    return this.store.values[this.at + 3]!;
  }
  set startUs(value: number) {
    this.store.values[this.at + 3] = value;
  }

  /** Zeek's last_time: duration = lastUs - startUs (TCP stops it once both sides closed). */
  get lastUs(): number {
    return this.store.values[this.at + 4]!;
  }
  set lastUs(value: number) {
    this.store.values[this.at + 4] = value;
  }

  /** Time of the latest packet, for the timers. */
  get lastPacketUs(): number {
    return this.store.values[this.at + 5]!;
  }
  set lastPacketUs(value: number) {
    this.store.values[this.at + 5] = value;
  }

  /** TCP: when an unanswered SYN gives up (0: no such timer). */
  get attemptAtUs(): number {
    return this.store.values[this.at + 6]!;
  }
  set attemptAtUs(value: number) {
    this.store.values[this.at + 6] = value;
  }

  /** TCP: when a closed or reset connection is removed (0: not yet). */
  get closeAtUs(): number {
    return this.store.values[this.at + 7]!;
  }
  set closeAtUs(value: number) {
    this.store.values[this.at + 7] = value;
  }

  get histSeen(): number {
    return this.store.values[this.at + 8]!;
  }
  set histSeen(value: number) {
    this.store.values[this.at + 8] = value;
  }

  /** 1 when Zeek's DNS analyzer times the connection out (UDP on a DNS port). */
  get dnsTimer(): number {
    return this.store.values[this.at + 9]!;
  }
  set dnsTimer(value: number) {
    this.store.values[this.at + 9] = value;
  }

  history = '';
  originatorIsResponder = false;
  private readonly store: ConnStore;
  private readonly at: number;
  private likelyServerPorts: LikelyServerPorts;

  private constructor(options: ConnStartOptions) {
    this.likelyServerPorts = options.likelyServerPorts ?? ZEEK_LIKELY_SERVER_PORTS;
    this.store = options.store ?? new ConnStore(1);
    this.at = this.store.allocate();
  }

  private get initiator(): Endpoint {
    const view = this.store.initiatorView;
    view.at = this.at + INITIATOR_AT;
    return view;
  }

  private get responder(): Endpoint {
    const view = this.store.responderView;
    view.at = this.at + RESPONDER_AT;
    return view;
  }

  /**
   * A new record from the first packet of a connection (`packet.fromInitiator` must be true): its sender is the
   * initiator, `initiatorPort`/`responderPort` its source and destination port (0 for protocols without ports).
   */
  static start(
    protocol: number,
    initiatorPort: number,
    responderPort: number,
    packet: ConnPacket,
    options: ConnStartOptions = {},
  ): ConnRecord {
    const record = new ConnRecord(options);
    record.protocol = protocol;
    record.initiatorPort = initiatorPort;
    record.responderPort = responderPort;
    record.startUs = record.lastUs = record.lastPacketUs = packet.timeUs;
    if (protocol === IPPROTO_UDP && (ZEEK_DNS_UDP_PORTS.has(initiatorPort) || ZEEK_DNS_UDP_PORTS.has(responderPort))) {
      record.dnsTimer = 1;
    }
    if (!options.toBroadcast && record.wantsFlip(packet)) record.flip();
    record.add(packet);
    return record;
  }

  private isLikelyServerPort(port: number): boolean {
    if (this.protocol === IPPROTO_TCP) return this.likelyServerPorts.tcp.has(port);
    if (this.protocol === IPPROTO_UDP) return this.likelyServerPorts.udp.has(port);
    return false;
  }

  /** Zeek's choice of roles at a connection's first packet. */
  private wantsFlip(packet: ConnPacket): boolean {
    const src = this.initiatorPort;
    const dst = this.responderPort;
    if (this.protocol === IPPROTO_TCP) {
      const flags = packet.tcpFlags ?? 0;
      const partial = (flags & TCP_SYN) === 0 || (flags & TCP_ACK) !== 0;
      if (!partial || !this.isLikelyServerPort(src)) return false;
      if (this.isLikelyServerPort(dst)) return (flags & TCP_SYN) === 0 && src < dst;
      return true;
    }
    if (this.protocol === IPPROTO_UDP) return this.isLikelyServerPort(src) && !this.isLikelyServerPort(dst);
    return false;
  }

  private flip(): void {
    this.originatorIsResponder = !this.originatorIsResponder;
    this.addHistory('^');
  }

  private get orig(): Endpoint {
    return this.originatorIsResponder ? this.responder : this.initiator;
  }

  private get resp(): Endpoint {
    return this.originatorIsResponder ? this.initiator : this.responder;
  }

  private isOrig(endpoint: Endpoint): boolean {
    return endpoint === this.orig;
  }

  private addHistory(letter: string): void {
    if (this.history.length < MAX_HISTORY_LENGTH) this.history += letter;
  }

  /** Adds `letter` (upper case: the originator's) unless its bit was seen; true when it had been seen. */
  private checkHistory(endpoint: Endpoint, mask: number, letter: string): boolean {
    const orig = this.isOrig(endpoint);
    const bit = orig ? mask : mask << 16;
    if ((this.histSeen & bit) !== 0) return true;
    this.histSeen |= bit;
    this.addHistory(orig ? letter : letter.toLowerCase());
    return false;
  }

  private addEndpointHistory(endpoint: Endpoint, letter: string): void {
    this.addHistory(this.isOrig(endpoint) ? letter : letter.toLowerCase());
  }

  private inactivityTimeoutUs(timeouts: InactivityTimeouts): number {
    if (this.protocol === IPPROTO_TCP) return timeouts.tcpUs;
    if (this.protocol === IPPROTO_UDP) return timeouts.udpUs;
    return timeouts.otherUs;
  }

  /**
   * True when the connection is over by `timeUs` with no further packet: idle too long, or a TCP close/attempt timer
   * has run out. The pipeline completes the row then. `timeouts`: the idle limits (Zeek's by default).
   */
  expiredBy(timeUs: number, timeouts: InactivityTimeouts = ZEEK_INACTIVITY_TIMEOUTS): boolean {
    if (timeUs >= this.lastUs + this.inactivityTimeoutUs(timeouts)) return true;
    if (this.dnsTimer === 1) return timeUs >= this.dnsRemovalUs();
    if (this.protocol !== IPPROTO_TCP) return false;
    // A complete close replaces the TCP timers by the removal 5 s later.
    if (this.closeAtUs > 0) return timeUs >= this.closeAtUs;
    if (this.attemptAtUs > 0 && timeUs >= this.attemptAtUs) {
      const o = this.orig.state;
      if ((o === SYN_SENT || o === SYN_ACK_SENT) && this.resp.state === INACTIVE) return true;
    }
    return this.expireTimerFires(timeUs);
  }

  /** When the DNS analyzer's check (every 10 s from the start) first finds the connection quiet for 9 s. */
  private dnsRemovalUs(): number {
    const elapsed = this.lastPacketUs - this.startUs;
    const firstCheck = this.startUs + (Math.floor(elapsed / DNS_SESSION_TIMEOUT_US) + 1) * DNS_SESSION_TIMEOUT_US;
    return firstCheck - this.lastUs >= DNS_QUIET_US ? firstCheck : firstCheck + DNS_SESSION_TIMEOUT_US;
  }

  /**
   * Zeek looks at a TCP connection 5 s after its start and every 6 s after that; it drops it when it has been quiet
   * for 5 s and one side closed while the other closed, reset or never spoke (or neither ever spoke).
   */
  private expireTimerFires(timeUs: number): boolean {
    // The common case, a packet soon after the last one, decides nothing.
    if (timeUs <= this.lastUs + TCP_CONNECTION_LINGER_US) return false;
    const o = this.orig;
    const r = this.resp;
    const oneClosed = o.didClose || r.didClose;
    const over =
      (oneClosed &&
        ((o.didClose && r.didClose) ||
          o.state === RESET ||
          r.state === RESET ||
          o.state === INACTIVE ||
          r.state === INACTIVE)) ||
      (o.state === INACTIVE && r.state === INACTIVE);
    if (!over) return false;
    const quietFrom = this.lastUs + TCP_CONNECTION_LINGER_US;
    // The first check after both the latest packet and the end of the linger period.
    const after = Math.max(quietFrom, this.lastPacketUs);
    const first = this.startUs + TCP_SYN_TIMEOUT_US;
    const tick =
      after < first ? first : first + Math.floor((after - first) / TCP_SESSION_TIMER_US + 1) * TCP_SESSION_TIMER_US;
    return timeUs >= tick;
  }

  /**
   * True when `packet` does not belong to this connection but starts a new one on the same flow: the connection is
   * over by the packet's time (expiredBy) or the packet is a SYN that reuses a closed TCP connection.
   */
  endsBefore(packet: ConnPacket): boolean {
    const t = packet.timeUs;
    // The common cases, decided without the timers (expiredBy would find none run out): a TCP packet other than a
    // SYN within the linger time of the last one with no close or attempt timer due, a UDP packet of a connection
    // Zeek's DNS analyzer does not time within the inactivity timeout.
    // The attempt timer stays set once a connection is answered, but only gives up on one whose responder never
    // spoke: a packet of an answered connection past it was sent to expiredBy (a quarter of a large capture's).
    const v = this.store.values;
    const at = this.at;
    const protocol = v[at + PROTOCOL_SLOT];
    if (protocol === IPPROTO_TCP) {
      const attemptAtUs = v[at + ATTEMPT_AT_US_SLOT]!;
      if (
        ((packet.tcpFlags ?? 0) & TCP_SYN) === 0 &&
        v[at + CLOSE_AT_US_SLOT] === 0 &&
        t <= v[at + LAST_US_SLOT]! + TCP_CONNECTION_LINGER_US &&
        (attemptAtUs === 0 ||
          t < attemptAtUs ||
          v[at + (this.originatorIsResponder ? INITIATOR_AT : RESPONDER_AT) + STATE_SLOT] !== INACTIVE)
      ) {
        return false;
      }
    } else if (
      protocol === IPPROTO_UDP &&
      v[at + DNS_TIMER_SLOT] === 0 &&
      t < v[at + LAST_US_SLOT]! + UDP_INACTIVITY_TIMEOUT_US
    ) {
      return false;
    }
    if (this.expiredBy(t)) return true;
    return this.protocol === IPPROTO_TCP && this.isReuse(packet);
  }

  private isReuse(packet: ConnPacket): boolean {
    const flags = packet.tcpFlags ?? 0;
    if ((flags & TCP_SYN) === 0) return false;
    let connOrig = this.orig;
    if ((flags & TCP_ACK) !== 0) {
      if (this.orig.state !== INACTIVE) return false;
      connOrig = this.resp;
    }
    if (this.orig.didClose || this.resp.didClose) return true;
    const seq = (packet.seq ?? 0) >>> 0;
    if (seq === connOrig.startSeq) return false;
    // A SYN arriving after the SYN-ACK it caused (two capture interfaces): not a new connection.
    if ((flags & TCP_ACK) === 0 && connOrig.state === SYN_ACK_SENT && this.resp.state === INACTIVE) {
      if (seq === this.resp.startSeq) return false;
    }
    return true;
  }

  /** Adds a packet of this connection (call endsBefore first). */
  add(packet: ConnPacket): void {
    if (this.protocol === IPPROTO_TCP) {
      const flags = packet.tcpFlags ?? 0;
      const from = this.at + (packet.fromInitiator ? INITIATOR_AT : RESPONDER_AT);
      if (
        (flags & (TCP_SYN | TCP_FIN | TCP_RST)) === 0 &&
        packet.checksumOk !== false &&
        this.store.values[from + STATE_SLOT] !== INACTIVE
      ) {
        this.addTcpSegment(packet.fromInitiator, packet, flags);
        this.lastPacketUs = packet.timeUs;
        return;
      }
    }
    const endpoint = packet.fromInitiator ? this.initiator : this.responder;
    const peer = packet.fromInitiator ? this.responder : this.initiator;
    if (this.protocol === IPPROTO_TCP) this.addTcp(endpoint, peer, packet);
    else if (this.protocol === IPPROTO_UDP) this.addUdp(endpoint, packet);
    else this.addOther(endpoint, packet);
    this.lastPacketUs = packet.timeUs;
  }

  private count(endpoint: Endpoint, packet: ConnPacket): void {
    endpoint.packets++;
    endpoint.ipBytes += packet.ipLength;
  }

  private addUdp(endpoint: Endpoint, packet: ConnPacket): void {
    if (packet.checksumOk === false) {
      endpoint.checksumErrors++;
      if (isScaledStep(endpoint.checksumErrors)) this.addEndpointHistory(endpoint, 'C');
      return;
    }
    this.count(endpoint, packet);
    this.lastUs = packet.timeUs;
    this.checkHistory(endpoint, HIST_DATA, 'D');
    endpoint.size = Math.max(endpoint.size, 0) + packet.payloadLength;
    endpoint.state = ESTABLISHED;
  }

  private addOther(endpoint: Endpoint, packet: ConnPacket): void {
    if (packet.checksumOk === false) return;
    this.lastUs = packet.timeUs;
    this.count(endpoint, packet);
    endpoint.size = Math.max(endpoint.size, 0) + packet.payloadLength;
    endpoint.state = ESTABLISHED;
  }

  private addTcp(endpoint: Endpoint, peer: Endpoint, packet: ConnPacket): void {
    if (packet.checksumOk === false) {
      endpoint.checksumErrors++;
      if (isScaledStep(endpoint.checksumErrors)) this.addEndpointHistory(endpoint, 'C');
      return;
    }
    const flags = packet.tcpFlags ?? 0;
    const syn = (flags & TCP_SYN) !== 0;
    const fin = (flags & TCP_FIN) !== 0;
    const rst = (flags & TCP_RST) !== 0;
    const ackFlag = (flags & TCP_ACK) !== 0;
    const baseSeq = (packet.seq ?? 0) >>> 0;
    const ackSeq = (packet.ack ?? 0) >>> 0;
    const len = packet.payloadLength;
    const segmentLength = len + (syn ? 1 : 0) + (fin ? 1 : 0) - (rst ? len : 0);
    const seqOnePast = (baseSeq + segmentLength) >>> 0;
    const t = packet.timeUs;

    this.initEndpoint(endpoint, syn, baseSeq, seqOnePast);
    const relSeq = endpoint.relative(baseSeq, endpoint.lastSeq, endpoint.seqWraps);
    this.updateHistory(endpoint, flags, relSeq, len);
    if (packet.window === 0 && !rst && peer.state !== CLOSED && endpoint.state !== RESET) {
      endpoint.zeroWindows++;
      if (isScaledStep(endpoint.zeroWindows)) this.addEndpointHistory(endpoint, 'W');
    }
    if (!this.orig.didClose || !this.resp.didClose) this.lastUs = t;
    if (fin) endpoint.finCount++;
    if (ackFlag) {
      if (peer.state === INACTIVE) {
        peer.initSeqs(ackSeq - 1, ackSeq - 1);
      } else {
        peer.relative(ackSeq, peer.ackSeq, peer.ackWraps);
        if (!peer.underflow && !rst) {
          const deltaAck = seqDelta(ackSeq, peer.ackSeq);
          if (!(ackSeq === 0 && deltaAck > TOO_LARGE_SEQ_DELTA) && deltaAck > 0) peer.updateAckSeq(ackSeq);
        }
      }
    }
    this.updateLastSeq(endpoint, seqOnePast, syn, fin, rst, len);
    const close = this.updateStateMachine(endpoint, peer, packet, syn, fin, rst, ackFlag, baseSeq, len);
    if (close) this.connectionClosed(endpoint, peer);
    this.count(endpoint, packet);
  }

  /**
   * addTcp of the common packet, an ACK or data without SYN, FIN or RST from an endpoint that has spoken before
   * (most packets of a capture): what addTcp does for it, without the steps that such a packet leaves unchanged
   * (initEndpoint, its own relative sequence number, which only S, F and R letters read, and the state machine).
   * Written on the store's slots directly rather than through the endpoint views: addTcp's size used up the
   * optimiser's inlining budget, so each view accessor of the per-packet path was a call.
   */
  private addTcpSegment(fromInitiator: boolean, packet: ConnPacket, flags: number): void {
    const v = this.store.values;
    const at = this.at;
    const e = at + (fromInitiator ? INITIATOR_AT : RESPONDER_AT);
    const p = at + (fromInitiator ? RESPONDER_AT : INITIATOR_AT);
    const isOrig = fromInitiator !== this.originatorIsResponder;
    const len = packet.payloadLength;
    const historyMask = len > 0 ? HIST_DATA : (flags & TCP_ACK) !== 0 ? HIST_ACK : 0;
    if (historyMask !== 0) {
      const bit = isOrig ? historyMask : historyMask << 16;
      const seen = v[at + HIST_SEEN_SLOT]!;
      if ((seen & bit) === 0) {
        v[at + HIST_SEEN_SLOT] = seen | bit;
        this.addHistory(historyMask === HIST_DATA ? (isOrig ? 'D' : 'd') : isOrig ? 'A' : 'a');
      }
    }
    if (packet.window === 0 && v[p + STATE_SLOT] !== CLOSED && v[e + STATE_SLOT] !== RESET) {
      const zeroWindows = ++v[e + ZERO_WINDOWS_SLOT]!;
      if (isScaledStep(zeroWindows)) this.addHistory(isOrig ? 'W' : 'w');
    }
    if (v[at + INITIATOR_AT + DID_CLOSE_SLOT] !== 1 || v[at + RESPONDER_AT + DID_CLOSE_SLOT] !== 1) {
      v[at + LAST_US_SLOT] = packet.timeUs;
    }
    if ((flags & TCP_ACK) !== 0) {
      const ackSeq = (packet.ack ?? 0) >>> 0;
      if (v[p + STATE_SLOT] === INACTIVE) {
        const start = (ackSeq - 1) >>> 0;
        v[p + START_SEQ_SLOT] = start;
        v[p + ACK_SEQ_SLOT] = start;
        v[p + LAST_SEQ_SLOT] = start;
      } else {
        // Endpoint.relative(ackSeq, peer.ackSeq, peer.ackWraps) for its underflow alone.
        const last = v[p + ACK_SEQ_SLOT]!;
        let wraps = v[p + ACK_WRAPS_SLOT]!;
        const delta = seqDelta(ackSeq, last);
        if (delta < 0) {
          if (wraps > 0 && ackSeq > last) wraps--;
        } else if (delta > 0 && ackSeq < last) {
          wraps++;
        }
        const underflow = wraps === 0 && seqDelta(ackSeq, v[p + START_SEQ_SLOT]!) < 0;
        if (!underflow && !(ackSeq === 0 && delta > TOO_LARGE_SEQ_DELTA) && delta > 0) {
          // Endpoint.updateAckSeq.
          if (ackSeq < last) v[p + ACK_WRAPS_SLOT]!++;
          v[p + ACK_SEQ_SLOT] = ackSeq;
        }
      }
    }
    // updateLastSeq without SYN, FIN or RST.
    if (v[e + STATE_SLOT] !== RESET) {
      const seqOnePast = (((packet.seq ?? 0) >>> 0) + len) >>> 0;
      const lastSeq = v[e + LAST_SEQ_SLOT]!;
      if (seqDelta(seqOnePast, lastSeq) > 0) {
        if (seqOnePast < lastSeq) v[e + SEQ_WRAPS_SLOT]!++;
        v[e + LAST_SEQ_SLOT] = seqOnePast;
      } else if (len > 0) {
        const retransmissions = ++v[e + RETRANSMISSIONS_SLOT]!;
        if (isScaledStep(retransmissions)) this.addHistory(isOrig ? 'T' : 't');
      }
    }
    v[e + PACKETS_SLOT]!++;
    v[e + IP_BYTES_SLOT] = v[e + IP_BYTES_SLOT]! + packet.ipLength;
  }

  private initEndpoint(endpoint: Endpoint, syn: boolean, firstSeq: number, lastSeq: number): void {
    switch (endpoint.state) {
      case INACTIVE:
        // A partial connection numbers its bytes as if a SYN had been seen.
        if (syn) endpoint.initSeqs(firstSeq, lastSeq);
        else endpoint.initSeqs(firstSeq - 1, firstSeq);
        break;
      case SYN_SENT:
      case SYN_ACK_SENT:
        if (syn && firstSeq !== endpoint.startSeq) endpoint.initSeqs(firstSeq, lastSeq);
        break;
      case ESTABLISHED:
      case PARTIAL:
        if (syn) endpoint.initSeqs(firstSeq, lastSeq);
        break;
      case RESET:
        if (syn && endpoint.prevState === INACTIVE) endpoint.initSeqs(firstSeq, lastSeq);
        break;
    }
  }

  private updateHistory(endpoint: Endpoint, flags: number, relSeq: number, len: number): void {
    const syn = (flags & TCP_SYN) !== 0;
    const fin = (flags & TCP_FIN) !== 0;
    const rst = (flags & TCP_RST) !== 0;
    const controls = (syn ? 1 : 0) + (fin ? 1 : 0) + (rst ? 1 : 0);
    if (controls > 1) {
      if (fin && rst) this.checkHistory(endpoint, HIST_FIN_RST, 'I');
      else this.checkHistory(endpoint, HIST_MULTI_FLAG, 'Q');
    } else if (syn) {
      const letter = (flags & TCP_ACK) !== 0 ? 'H' : 'S';
      if (this.checkHistory(endpoint, HIST_SYN, letter) && relSeq !== endpoint.histLastSyn) {
        this.addEndpointHistory(endpoint, letter);
      }
      endpoint.histLastSyn = relSeq;
    } else if (fin) {
      // A FIN's sequence number is the one after its data.
      if (this.checkHistory(endpoint, HIST_FIN, 'F') && relSeq + len !== endpoint.histLastFin) {
        this.addEndpointHistory(endpoint, 'F');
      }
      endpoint.histLastFin = relSeq + len;
    } else if (rst) {
      if (this.checkHistory(endpoint, HIST_RST, 'R') && relSeq !== endpoint.histLastRst) {
        this.addEndpointHistory(endpoint, 'R');
      }
      endpoint.histLastRst = relSeq;
    } else if (len > 0) {
      this.checkHistory(endpoint, HIST_DATA, 'D');
    } else if ((flags & TCP_ACK) !== 0) {
      this.checkHistory(endpoint, HIST_ACK, 'A');
    }
  }

  private updateLastSeq(endpoint: Endpoint, lastSeq: number, syn: boolean, fin: boolean, rst: boolean, len: number) {
    const delta = seqDelta(lastSeq, endpoint.lastSeq);
    if ((syn || rst) && (delta > TOO_LARGE_SEQ_DELTA || delta < -TOO_LARGE_SEQ_DELTA)) return;
    if (fin && endpoint.lastSeq === (endpoint.startSeq + 1) >>> 0) {
      endpoint.updateLastSeq(lastSeq);
    } else if (endpoint.state === RESET) {
      // Sequence numbers after a RST are not trusted.
    } else if (delta > 0) {
      endpoint.updateLastSeq(lastSeq);
    } else if (len > 0) {
      endpoint.retransmissions++;
      if (isScaledStep(endpoint.retransmissions)) this.addEndpointHistory(endpoint, 'T');
    }
  }

  /** Zeek's TCP endpoint state machine; returns whether the packet closes the sender's side. */
  private updateStateMachine(
    endpoint: Endpoint,
    peer: Endpoint,
    packet: ConnPacket,
    syn: boolean,
    fin: boolean,
    rst: boolean,
    ackFlag: boolean,
    baseSeq: number,
    len: number,
  ): boolean {
    let close = false;
    const isOrig = this.isOrig(endpoint);
    switch (endpoint.state) {
      case INACTIVE: {
        if (syn) {
          if (isOrig) {
            endpoint.setState(ackFlag ? SYN_ACK_SENT : SYN_SENT);
            if (this.attemptAtUs === 0) this.attemptAtUs = packet.timeUs + TCP_ATTEMPT_DELAY_US;
          } else {
            if (!ackFlag && peer.state === SYN_ACK_SENT && baseSeq === endpoint.startSeq) {
              // The SYN came after the SYN-ACK it caused: the roles were the wrong way round.
              this.flip();
              peer.setState(ESTABLISHED);
            }
            if (peer.state === SYN_SENT) peer.setState(ESTABLISHED);
            endpoint.setState(ESTABLISHED);
          }
        }
        if (fin) {
          endpoint.setState(CLOSED);
          close = true;
        }
        if (rst) {
          endpoint.setState(RESET);
          close = true;
        }
        if (endpoint.state === INACTIVE) {
          if (!isOrig && len === 0 && this.orig.state === SYN_SENT) {
            // An ACK of a SYN before the SYN-ACK: not yet a partial connection.
          } else if (ackFlag && peer.state === ESTABLISHED) {
            endpoint.setState(ESTABLISHED);
          } else {
            endpoint.setState(PARTIAL);
          }
        }
        break;
      }
      case SYN_SENT:
      case SYN_ACK_SENT:
        if (fin) {
          endpoint.setState(CLOSED);
          close = true;
        }
        if (rst) {
          endpoint.setState(RESET);
          close = true;
        }
        break;
      case ESTABLISHED:
      case PARTIAL:
        if (syn && endpoint.state === PARTIAL && peer.state === INACTIVE && !ackFlag) endpoint.setState(SYN_SENT);
        if (fin && !rst) {
          endpoint.setState(CLOSED);
          // A FIN answered by a RST and then a FIN from this side was a normal close after all.
          if (peer.state === RESET && peer.prevState === CLOSED) peer.setState(CLOSED);
          close = true;
        }
        if (rst) {
          endpoint.setState(RESET);
          close = true;
        }
        break;
      case CLOSED:
        if (rst && peer.state !== CLOSED) {
          endpoint.setState(RESET);
          if (!endpoint.didClose) close = true;
        }
        break;
      default:
        break;
    }
    return close;
  }

  private connectionClosed(endpoint: Endpoint, peer: Endpoint): void {
    if (endpoint.didClose) return;
    endpoint.didClose = true;
    const complete = endpoint.state === RESET || peer.didClose || peer.state === INACTIVE;
    if (complete && this.closeAtUs === 0) this.closeAtUs = this.lastUs + TCP_CLOSE_DELAY_US;
  }

  /** Zeek's conn_state. */
  get connState(): ZeekConnState {
    const o = this.orig;
    const r = this.resp;
    if (this.protocol === IPPROTO_TCP) {
      const oInactive = o.state === INACTIVE || o.state === PARTIAL;
      const rInactive = r.state === INACTIVE || r.state === PARTIAL;
      if (r.state === RESET) {
        if (
          o.state === SYN_SENT ||
          o.state === SYN_ACK_SENT ||
          (o.state === RESET && o.tcpSize(r) === 0 && r.tcpSize(o) === 0)
        ) {
          return 'REJ';
        }
        return oInactive ? 'RSTRH' : 'RSTR';
      }
      if (o.state === RESET) {
        if (rInactive) return /^\^?S[^HAFGIQ]*R/.test(this.history) ? 'RSTOS0' : 'OTH';
        return 'RSTO';
      }
      if (r.state === CLOSED && o.state === CLOSED) return 'SF';
      if (o.state === CLOSED) return rInactive ? 'SH' : 'S2';
      if (r.state === CLOSED) return oInactive ? 'SHR' : 'S3';
      if (o.state === SYN_SENT && r.state === INACTIVE) return 'S0';
      if (o.state === ESTABLISHED && r.state === ESTABLISHED) return 'S1';
      return 'OTH';
    }
    if (this.protocol === IPPROTO_UDP) {
      const oActive = o.size >= 0;
      const rActive = r.size >= 0;
      if (oActive) return rActive ? 'SF' : 'S0';
      return rActive ? 'SHR' : 'OTH';
    }
    return 'OTH';
  }

  get origPkts(): number {
    return this.orig.packets;
  }

  get respPkts(): number {
    return this.resp.packets;
  }

  get origIpBytes(): number {
    return this.orig.ipBytes;
  }

  get respIpBytes(): number {
    return this.resp.ipBytes;
  }

  /** Payload bytes of the originator and responder as Zeek counts them (TCP: by sequence numbers). */
  get origBytes(): number {
    return this.protocol === IPPROTO_TCP ? this.orig.tcpSize(this.resp) : Math.max(0, this.orig.size);
  }

  get respBytes(): number {
    return this.protocol === IPPROTO_TCP ? this.resp.tcpSize(this.orig) : Math.max(0, this.resp.size);
  }

  /** Seconds from the first packet to Zeek's last time (TCP: trailing packets after both FINs do not count). */
  get duration(): number {
    return (this.lastUs - this.startUs) / US;
  }

  /** A compact text form: numbers in base 36 separated by ".", the history last. */
  serialize(): string {
    const numbers: number[] = [FORMAT, this.originatorIsResponder ? 1 : 0];
    for (const field of RECORD_FIELDS) numbers.push(this[field]);
    for (const endpoint of [this.initiator, this.responder]) {
      for (const field of ENDPOINT_FIELDS) numbers.push(endpoint[field]);
      numbers.push(endpoint.didClose ? 1 : 0);
    }
    return `${numbers.map((n) => n.toString(36)).join('.')}|${this.history}`;
  }

  static deserialize(text: string, options: ConnRecordOptions = {}): ConnRecord {
    const bar = text.indexOf('|');
    if (bar < 0) throw new Error('not a serialised connection record: no "|"');
    const numbers = text
      .slice(0, bar)
      .split('.')
      .map((part) => Number.parseInt(part, 36));
    const expected = 2 + RECORD_FIELDS.length + 2 * (ENDPOINT_FIELDS.length + 1);
    if (numbers.length !== expected || numbers.some((n) => !Number.isFinite(n))) {
      throw new Error(`not a serialised connection record: ${numbers.length} fields, expected ${expected}`);
    }
    if (numbers[0] !== FORMAT) throw new Error(`connection record format ${numbers[0]}, expected ${FORMAT}`);
    const record = new ConnRecord(options);
    let i = 1;
    record.originatorIsResponder = numbers[i++] === 1;
    for (const field of RECORD_FIELDS) record[field] = numbers[i++]!;
    for (const endpoint of [record.initiator, record.responder]) {
      for (const field of ENDPOINT_FIELDS) endpoint[field] = numbers[i++]!;
      endpoint.didClose = numbers[i++] === 1;
    }
    record.history = text.slice(bar + 1);
    return record;
  }
}

/** The ICMP message length (what Zeek counts as ICMP payload: the message past its 8-byte header). */
export function icmpPayloadLength(transportLength: number): number {
  return Math.max(0, transportLength - 8);
}

export const ICMP_PROTOCOLS: ReadonlySet<number> = new Set([IPPROTO_ICMP, IPPROTO_ICMPV6]);
