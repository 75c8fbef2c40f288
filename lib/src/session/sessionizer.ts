// Offline sessionizing: groups the TCP/UDP packets of a capture into bidirectional sessions, counting what it
// could not sessionize by reason. The same key and direction rules as the ingest path (see key.ts).

import {
  DecodedPacket,
  decodePacket,
  SKIP_REASONS,
  type SkipReason,
  type TransportProtocol,
} from '../packet/decode.ts';
import {
  ANY_CAPTURE_TIME,
  type CaptureTimeWindow,
  inCaptureTimeWindow,
  TIME_OUT_OF_RANGE,
} from '../pcap/capture-time.ts';
import type { CapturedPacket, PacketRecord } from '../pcap/reader.ts';
import { FlowTable } from './flow-table.ts';
import { sessionKeyOf } from './key.ts';

/** Direction of a packet relative to the session's initiator (the sender of its first packet). */
export const FROM_INITIATOR = 0;
export const TO_INITIATOR = 1;
export type InitiatorDirection = typeof FROM_INITIATOR | typeof TO_INITIATOR;

export interface SessionPacket {
  direction: InitiatorDirection;
  tsSec: number;
  tsNsec: number;
  /** Original (wire) length. */
  length: number;
  tcpFlags: number;
  payloadLength: number;
  /** TCP sequence number (unsigned 32-bit); 0 for UDP. */
  tcpSeq?: number;
  /**
   * The captured transport payload (a copy), kept only with SessionizerOptions.payloadBytesKept: application
   * metadata reads it. Shorter than payloadLength when the snapshot cut the packet or the session's budget ran out.
   */
  payload?: Uint8Array;
}

/** Shared by every session that keeps no packet detail, so that those cost no array each. */
const NO_PACKETS: readonly SessionPacket[] = Object.freeze([]);
const EMPTY_PAYLOAD = new Uint8Array(0);
const PAYLOAD_CHUNK_BYTES = 256 * 1024;
/** Released chunks kept for reuse: enough for the bursts in which several sessions finish at once. */
const SPARE_CHUNKS = 16;
/** Payloads up to this long are copied byte by byte: cheaper than the typed-array view a native copy needs. */
const SHORT_PAYLOAD_BYTES = 64;
/** keptChunk values: no payload kept (none asked for, or dropped), or an empty one (the budget ran out). */
const NO_PAYLOAD = -2;
const EMPTY_PAYLOAD_KEPT = -1;
export const NO_KEPT_PACKET = -1;

/**
 * The kept packets of every session of one sessionizer, in columns indexed by the order they were kept, each
 * session's chained through `next`. An object and a payload view per kept packet (up to 24 per session) outlived
 * the young generation, so the collector copied them; numbers in typed arrays are not its work. Payloads are copied
 * into shared chunks; a chunk is released when no kept packet refers to it any more.
 */
export class KeptPackets {
  count = 0;
  direction = new Uint8Array(1024);
  tcpFlags = new Uint8Array(1024);
  tsSec = new Float64Array(1024);
  tsNsec = new Uint32Array(1024);
  length = new Float64Array(1024);
  payloadLength = new Uint32Array(1024);
  tcpSeq = new Uint32Array(1024);
  chunkOf = new Int32Array(1024);
  payloadAt = new Uint32Array(1024);
  payloadBytes = new Uint32Array(1024);
  next = new Int32Array(1024);
  readonly chunks: (Uint8Array | undefined)[] = [];
  /** Kept payloads in each chunk, to release it at 0. */
  readonly chunkUsers: number[] = [];
  /**
   * Released chunks, reused for the next ones: a fresh 256 KiB array is memory the allocator maps and the kernel
   * zeroes and faults in page by page, then unmaps when the collector frees it, and a large capture fills over a
   * thousand of them (its system time grew by half with the payloads kept).
   */
  private readonly spareChunks: Uint8Array[] = [];
  private chunk = -1;
  private chunkUsed = 0;

  add(): number {
    const k = this.count++;
    if (k === this.direction.length) this.grow();
    this.next[k] = NO_KEPT_PACKET;
    return k;
  }

  private grow(): void {
    const size = this.direction.length * 2;
    const grown = <T extends Uint8Array | Uint32Array | Int32Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(size);
      b.set(a);
      return b;
    };
    this.direction = grown(this.direction);
    this.tcpFlags = grown(this.tcpFlags);
    this.tsSec = grown(this.tsSec);
    this.tsNsec = grown(this.tsNsec);
    this.length = grown(this.length);
    this.payloadLength = grown(this.payloadLength);
    this.tcpSeq = grown(this.tcpSeq);
    this.chunkOf = grown(this.chunkOf);
    this.payloadAt = grown(this.payloadAt);
    this.payloadBytes = grown(this.payloadBytes);
    this.next = grown(this.next);
  }

  /** Copies bytes[from, from + length) as the payload of kept packet k. */
  keepPayload(k: number, bytes: Uint8Array, from: number, length: number): void {
    if (length <= 0) {
      this.chunkOf[k] = EMPTY_PAYLOAD_KEPT;
      return;
    }
    if (length > PAYLOAD_CHUNK_BYTES / 4) {
      this.chunkOf[k] = this.chunks.length;
      this.chunks.push(Uint8Array.prototype.slice.call(bytes, from, from + length));
      this.chunkUsers.push(1);
      this.payloadAt[k] = 0;
      this.payloadBytes[k] = length;
      return;
    }
    if (this.chunk < 0 || this.chunkUsed + length > PAYLOAD_CHUNK_BYTES) {
      if (this.chunk >= 0) this.release(this.chunk);
      this.chunk = this.chunks.length;
      this.chunks.push(this.spareChunks.pop() ?? new Uint8Array(PAYLOAD_CHUNK_BYTES));
      // The chunk being filled is not released while it is being filled.
      this.chunkUsers.push(1);
      this.chunkUsed = 0;
    }
    const chunk = this.chunks[this.chunk]!;
    const at = this.chunkUsed;
    if (length <= SHORT_PAYLOAD_BYTES) {
      for (let i = 0; i < length; i++) chunk[at + i] = bytes[from + i]!;
    } else {
      // A plain Uint8Array view and one native set: Buffer's copy validates its arguments in JavaScript before the
      // same set (its _copyActual was 3.5% of `fleetcap sessions --json`), and a Buffer subarray builds a Buffer.
      chunk.set(new Uint8Array(bytes.buffer, bytes.byteOffset + from, length), at);
    }
    this.chunkUsed = at + length;
    this.chunkOf[k] = this.chunk;
    this.chunkUsers[this.chunk]!++;
    this.payloadAt[k] = at;
    this.payloadBytes[k] = length;
  }

  payloadOf(k: number): Uint8Array | undefined {
    const c = this.chunkOf[k]!;
    if (c === NO_PAYLOAD) return undefined;
    if (c === EMPTY_PAYLOAD_KEPT) return EMPTY_PAYLOAD;
    const at = this.payloadAt[k]!;
    return this.chunks[c]!.subarray(at, at + this.payloadBytes[k]!);
  }

  dropPayloads(first: number): void {
    for (let k = first; k !== NO_KEPT_PACKET; k = this.next[k]!) {
      const c = this.chunkOf[k]!;
      this.chunkOf[k] = NO_PAYLOAD;
      if (c < 0) continue;
      this.release(c);
    }
  }

  /**
   * A payload view (payloadOf, packetsFrom) is valid until the session's payloads are dropped: the chunk it points
   * into is then reused once no kept payload refers to it.
   */
  private release(c: number): void {
    if (--this.chunkUsers[c]! !== 0) return;
    const chunk = this.chunks[c]!;
    this.chunks[c] = undefined;
    if (chunk.length === PAYLOAD_CHUNK_BYTES && this.spareChunks.length < SPARE_CHUNKS) this.spareChunks.push(chunk);
  }

  packetsFrom(first: number): SessionPacket[] {
    const list: SessionPacket[] = [];
    for (let k = first; k !== NO_KEPT_PACKET; k = this.next[k]!) {
      list.push({
        direction: this.direction[k] as InitiatorDirection,
        tsSec: this.tsSec[k]!,
        tsNsec: this.tsNsec[k]!,
        length: this.length[k]!,
        tcpFlags: this.tcpFlags[k]!,
        payloadLength: this.payloadLength[k]!,
        tcpSeq: this.tcpSeq[k]!,
        payload: this.payloadOf(k),
      });
    }
    return list;
  }
}

export class Session {
  packets = 0;
  /** Sum of the packets' original wire lengths, as tshark counts conversation bytes. */
  bytes = 0;
  packetsFromInitiator = 0;
  bytesFromInitiator = 0;
  firstSec = 0;
  firstNsec = 0;
  lastSec = 0;
  lastNsec = 0;
  /** OR of every TCP flags byte seen. */
  tcpFlagsSeen = 0;
  /** How many of its first packets the session keeps (Session.packetList). */
  packetsKept = 0;
  /** @internal Where the kept packets are, and the first and last of them there. */
  kept: KeptPackets | null = null;
  firstKept = NO_KEPT_PACKET;
  lastKept = NO_KEPT_PACKET;
  /** How many sessions its sessionizer had before it: an index for per-session state kept beside the session. */
  ordinal = 0;

  constructor(
    /** Text form of the bidirectional key (key.ts). */
    readonly key: string,
    readonly proto: TransportProtocol,
    /** The endpoint that sent the session's first packet. */
    readonly src: string,
    readonly sport: number,
    readonly dst: string,
    readonly dport: number,
  ) {}

  /**
   * The first packets in arrival order, up to the sessionizer's maxPacketsKept: made on each call from the
   * sessionizer's columns (changing them changes nothing kept).
   */
  get packetList(): readonly SessionPacket[] {
    return this.kept === null ? NO_PACKETS : this.kept.packetsFrom(this.firstKept);
  }

  /** Frees the kept packets' payloads (their payload reads undefined from then on). */
  dropPayloads(): void {
    this.kept?.dropPayloads(this.firstKept);
  }

  /** Capture time of the earliest packet, seconds since the epoch as a float. */
  get first(): number {
    return this.firstSec + this.firstNsec / 1e9;
  }

  /** Capture time of the latest packet, seconds since the epoch as a float. */
  get last(): number {
    return this.lastSec + this.lastNsec / 1e9;
  }

  get firstNs(): bigint {
    return BigInt(this.firstSec) * 1_000_000_000n + BigInt(this.firstNsec);
  }

  get lastNs(): bigint {
    return BigInt(this.lastSec) * 1_000_000_000n + BigInt(this.lastNsec);
  }
}

export interface DecodeCounters {
  /** Packets handed to the sessionizer. */
  read: number;
  /** Packets that were TCP or UDP and joined a session. */
  decoded: number;
  skipped: Record<SkipReason, number>;
  /** Skips of reason 'other-l4' by IP protocol number (1 ICMP, 58 ICMPv6, 47 GRE, …). */
  otherTransport: Record<number, number>;
}

export function emptyDecodeCounters(): DecodeCounters {
  const skipped = {} as Record<SkipReason, number>;
  for (const reason of SKIP_REASONS) skipped[reason] = 0;
  return { read: 0, decoded: 0, skipped, otherTransport: {} };
}

export interface SessionizerOptions {
  /** How many packets per session to keep in Session.packetList (counts go on past it). Default 0: none. */
  maxPacketsKept?: number;
  /**
   * Keep the payload bytes of the kept packets, at most this many per session and direction (a bound on memory
   * whatever the capture holds). Default 0: no payloads.
   */
  payloadBytesKept?: number;
  /**
   * Capture times accepted; a packet outside is skipped as 'time-out-of-range' (lib/src/pcap/capture-time.ts).
   * Default: ANY_CAPTURE_TIME (none). The offline commands pass captureTimeWindow(), the window splitcap applies.
   */
  captureTimes?: CaptureTimeWindow;
}

export class Sessionizer {
  /** Sessions by key, in the order their first packet arrived. */
  readonly sessions = new Map<string, Session>();
  readonly counters: DecodeCounters = emptyDecodeCounters();
  private readonly decoded = new DecodedPacket();
  private readonly maxPacketsKept: number;
  // The per-packet path finds the session through the binary flow table and builds no string; the text key is
  // made once per session.
  private readonly flows = new FlowTable();
  private readonly byFlow: Session[] = [];
  private readonly initiatorIsSideA: boolean[] = [];
  private readonly payloadBytesKept: number;
  private readonly captureTimes: CaptureTimeWindow;
  /** Payload bytes kept so far, two entries per flow (from / to the initiator). */
  private readonly payloadBudgetUsed: number[] = [];
  private readonly kept = new KeptPackets();

  constructor(options: SessionizerOptions = {}) {
    this.payloadBytesKept = options.payloadBytesKept ?? 0;
    this.maxPacketsKept = options.maxPacketsKept ?? 0;
    this.captureTimes = options.captureTimes ?? ANY_CAPTURE_TIME;
  }

  /** The decode of the packet added last (valid until the next add), for callers that read more of it. */
  get lastDecoded(): DecodedPacket {
    return this.decoded;
  }

  /** Whether the packet added last was sent by its session's initiator (valid until the next add). */
  lastFromInitiator = false;

  /** Adds one captured packet; returns its session, or null when it was skipped (and counted). */
  add(packet: CapturedPacket): Session | null {
    const data = packet.data;
    return this.addPacket(packet.linktype, data, 0, data.length, packet.origLen, packet.tsSec, packet.tsNsec);
  }

  /** Adds the packet of a reader's reused record (CaptureParser.nextRecord): the allocation-free path. */
  addRecord(record: PacketRecord): Session | null {
    const start = record.dataStart;
    return this.addPacket(
      record.linktype,
      record.buffer,
      start,
      start + record.caplen,
      record.origLen,
      record.tsSec,
      record.tsNsec,
    );
  }

  /** Adds the packet in bytes[start, end); returns its session, or null when it was skipped (and counted). */
  addPacket(
    linktype: number,
    bytes: Uint8Array,
    start: number,
    end: number,
    origLen: number,
    sec: number,
    nsec: number,
  ): Session | null {
    this.counters.read++;
    const d = this.decoded;
    const skip = inCaptureTimeWindow(this.captureTimes, sec)
      ? decodePacket(linktype, bytes, d, origLen, start, end)
      : TIME_OUT_OF_RANGE;
    if (skip !== null) {
      this.counters.skipped[skip]++;
      if (skip === 'other-l4') {
        this.counters.otherTransport[d.ipProtocol] = (this.counters.otherTransport[d.ipProtocol] ?? 0) + 1;
      }
      return null;
    }
    this.counters.decoded++;
    const flow = this.flows.lookup(d);
    let session: Session;
    if (flow.created) {
      const key = sessionKeyOf(d.proto, d.src, d.sport, d.dst, d.dport);
      session = new Session(key, d.proto, d.src, d.sport, d.dst, d.dport);
      session.firstSec = session.lastSec = sec;
      session.firstNsec = session.lastNsec = nsec;
      session.ordinal = this.byFlow.length;
      this.sessions.set(key, session);
      this.byFlow.push(session);
      this.initiatorIsSideA.push(flow.sideA);
    } else {
      session = this.byFlow[flow.index]!;
      if (sec < session.firstSec || (sec === session.firstSec && nsec < session.firstNsec)) {
        session.firstSec = sec;
        session.firstNsec = nsec;
      }
      if (sec > session.lastSec || (sec === session.lastSec && nsec > session.lastNsec)) {
        session.lastSec = sec;
        session.lastNsec = nsec;
      }
    }
    // A packet from an endpoint to itself is always side "a", hence always from the initiator.
    const fromInitiator = flow.sideA === this.initiatorIsSideA[flow.index];
    this.lastFromInitiator = fromInitiator;
    session.packets++;
    session.bytes += origLen;
    if (fromInitiator) {
      session.packetsFromInitiator++;
      session.bytesFromInitiator += origLen;
    }
    session.tcpFlagsSeen |= d.tcpFlags;
    if (session.packetsKept < this.maxPacketsKept) {
      const kept = this.kept;
      const k = kept.add();
      kept.direction[k] = fromInitiator ? FROM_INITIATOR : TO_INITIATOR;
      kept.tsSec[k] = sec;
      kept.tsNsec[k] = nsec;
      kept.length[k] = origLen;
      kept.tcpFlags[k] = d.tcpFlags;
      kept.payloadLength[k] = d.payloadLength;
      kept.tcpSeq[k] = d.tcpSeq;
      if (this.payloadBytesKept > 0) this.keepPayload(k, bytes, flow.index, fromInitiator);
      else kept.chunkOf[k] = NO_PAYLOAD;
      if (session.packetsKept === 0) {
        session.kept = kept;
        session.firstKept = k;
      } else kept.next[session.lastKept] = k;
      session.lastKept = k;
      session.packetsKept++;
    }
    return session;
  }

  /**
   * Keeps no more payload for `session` (its later kept packets get an empty one, as when its budget runs out) and
   * frees what it kept: for a reader that has read all it will of the session's payload.
   */
  stopKeepingPayloads(session: Session): void {
    // A session's ordinal is its flow's index (both count sessions in order of creation).
    const slot = 2 * session.ordinal;
    while (this.payloadBudgetUsed.length <= slot + 1) this.payloadBudgetUsed.push(0);
    this.payloadBudgetUsed[slot] = this.payloadBytesKept;
    this.payloadBudgetUsed[slot + 1] = this.payloadBytesKept;
    session.dropPayloads();
  }

  /**
   * A copy of the decoded packet's captured payload as kept packet k's (the reader reuses its buffer), within the
   * session's per-direction budget.
   */
  private keepPayload(k: number, bytes: Uint8Array, flowIndex: number, fromInitiator: boolean): void {
    const slot = 2 * flowIndex + (fromInitiator ? 0 : 1);
    // Grown two entries per flow in order, so that the array stays packed.
    while (this.payloadBudgetUsed.length <= slot) this.payloadBudgetUsed.push(0);
    const used = this.payloadBudgetUsed[slot]!;
    const d = this.decoded;
    const length = Math.min(d.payloadEnd - d.payloadAt, this.payloadBytesKept - used);
    if (length > 0) this.payloadBudgetUsed[slot] = used + length;
    this.kept.keepPayload(k, bytes, d.payloadAt, length);
  }
}
