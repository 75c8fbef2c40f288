// The bytes one side of a TCP session sent, in sequence order, from the stored packets: what every TCP parser
// reads. Simple and safe rather than complete: the stream is the contiguous prefix from the first byte, a segment
// already covered (a retransmission) adds only what it has beyond, the first copy of a byte wins (as most IDSs do),
// and the first hole (a segment not stored, or cut by the snapshot length) ends the stream.
import { type AppPacket, type AppSession, FROM_INITIATOR, TO_INITIATOR } from './types.ts';

const TCP_SYN = 0x02;
const TCP_ACK = 0x10;

/** Enough for any parser here (a ClientHello, request headers, a KEXINIT); bounds the work per session. */
export const MAX_STREAM_BYTES = 64 * 1024;

/** Why the stream's bytes end where they do. */
export type StreamEnd =
  /** The stored packets hold nothing more from this side. */
  | 'end'
  /** A segment is missing: the bytes after it are known but not contiguous. */
  | 'gap'
  /** A segment was stored cut (snapshot length or the store's payload budget). */
  | 'snapped'
  /** MAX_STREAM_BYTES reached. */
  | 'limit';

export interface DirectionStream {
  bytes: Uint8Array;
  ends: StreamEnd;
  /** A retransmission carried other bytes than the first copy (kept the first). */
  inconsistentOverlap: boolean;
}

const EMPTY = new Uint8Array(0);

/** The side that opened the connection: the sender of a SYN, else of a SYN-ACK's peer, else the initiator. */
export function clientDirection(session: AppSession): 0 | 1 {
  if (session.proto !== 'tcp') return FROM_INITIATOR;
  for (const p of session.packets) {
    if ((p.tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN) return p.direction;
    if ((p.tcpFlags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)) return p.direction === 0 ? TO_INITIATOR : 0;
  }
  return FROM_INITIATOR;
}

interface Segment {
  offset: number;
  payload: Uint8Array;
  wireLength: number;
  order: number;
}

/**
 * The stream of one direction of a TCP session. With `into` (at least `maxBytes` long) the bytes are written there
 * instead of a new array: a caller that is done with the stream before its next call (appMetadataOf) reuses one
 * buffer for every session, which spares an ArrayBuffer per direction and the garbage collections they cause.
 */
export function reassemble(
  packets: readonly AppPacket[],
  direction: 0 | 1,
  maxBytes = MAX_STREAM_BYTES,
  into?: Uint8Array,
): DirectionStream {
  let dataPackets = 0;
  let withoutSeq = false;
  let syn: AppPacket | undefined;
  for (const p of packets) {
    if (p.direction !== direction) continue;
    if (syn === undefined && (p.tcpFlags & TCP_SYN) !== 0) syn = p;
    if (p.payloadLength > 0 || p.payload.length > 0) {
      dataPackets++;
      if (p.tcpSeq === undefined) withoutSeq = true;
    }
  }
  if (dataPackets === 0) return { bytes: EMPTY, ends: 'end', inconsistentOverlap: false };
  const segments = withoutSeq ? byArrival(packets, direction) : bySequence(packets, direction, syn);
  if (!inOrder(segments)) segments.sort((a, b) => a.offset - b.offset || a.order - b.order);

  const length = Math.min(maxBytes, totalCaptured(segments));
  const out = into !== undefined && into.length >= length ? into.subarray(0, length) : new Uint8Array(length);
  let have = 0;
  let ends: StreamEnd = 'end';
  let snapped = false;
  let inconsistentOverlap = false;
  for (const s of segments) {
    if (s.offset > have) {
      ends = snapped ? 'snapped' : 'gap';
      break;
    }
    const end = s.offset + s.payload.length;
    const overlap = Math.min(end, have) - s.offset;
    // A 1-byte overlap is what keep-alive probes carry (a garbage byte at the last sequence number).
    // Compared natively: a retransmitted full segment is over a thousand bytes, which a loop in JavaScript walked
    // one by one, mostly before the compiler had optimised it (a one-shot command).
    if (overlap > 1 && !inconsistentOverlap) {
      const before = out.subarray(s.offset, s.offset + overlap);
      if (Buffer.compare(before, s.payload.subarray(0, overlap)) !== 0) inconsistentOverlap = true;
    }
    if (end >= have) snapped = s.payload.length < s.wireLength;
    if (end > have) {
      const want = end - have;
      const take = Math.min(want, out.length - have);
      out.set(s.payload.subarray(have - s.offset, have - s.offset + take), have);
      have += take;
      if (take < want) {
        ends = 'limit';
        break;
      }
    }
    if (have >= maxBytes) {
      ends = 'limit';
      break;
    }
  }
  if (ends === 'end' && snapped) ends = 'snapped';
  return { bytes: have === out.length ? out : out.subarray(0, have), ends, inconsistentOverlap };
}

function isData(p: AppPacket): boolean {
  return p.payloadLength > 0 || p.payload.length > 0;
}

function inOrder(segments: Segment[]): boolean {
  for (let i = 1; i < segments.length; i++) if (segments[i - 1]!.offset > segments[i]!.offset) return false;
  return true;
}

/** No sequence numbers: arrival order is all there is. */
function byArrival(packets: readonly AppPacket[], direction: 0 | 1): Segment[] {
  const segments: Segment[] = [];
  let at = 0;
  for (const p of packets) {
    if (p.direction !== direction || !isData(p)) continue;
    segments.push({ offset: at, payload: p.payload, wireLength: p.payloadLength, order: segments.length });
    at += p.payloadLength;
  }
  return segments;
}

function totalCaptured(segments: Segment[]): number {
  let sum = 0;
  for (const s of segments) sum += s.payload.length;
  return sum;
}

/** Where a segment's data starts in sequence space (a SYN's data starts one after its sequence number). */
function dataSeq(p: AppPacket): number {
  return (p.tcpSeq! + (p.tcpFlags & TCP_SYN ? 1 : 0)) >>> 0;
}

/**
 * Segment offsets from the sequence numbers: relative to the SYN's (its data starts one after it), or without a
 * SYN to the earliest sequence number among the data segments (modulo 2^32, so wrap-around is harmless).
 */
function bySequence(packets: readonly AppPacket[], direction: 0 | 1, syn: AppPacket | undefined): Segment[] {
  let base: number;
  if (syn) base = dataSeq(syn);
  else {
    let first = -1;
    let lowest = 0;
    for (const p of packets) {
      if (p.direction !== direction || !isData(p)) continue;
      if (first < 0) first = dataSeq(p);
      lowest = Math.min(lowest, (dataSeq(p) - first) | 0);
    }
    base = (first + lowest) >>> 0;
  }
  const segments: Segment[] = [];
  let order = 0;
  for (const p of packets) {
    if (p.direction !== direction || !isData(p)) continue;
    const offset = (dataSeq(p) - base) >>> 0;
    // Before the stream's start (data before the SYN, a wild sequence number): not part of this stream.
    if (offset < 0x80000000) segments.push({ offset, payload: p.payload, wireLength: p.payloadLength, order });
    order++;
  }
  return segments;
}
