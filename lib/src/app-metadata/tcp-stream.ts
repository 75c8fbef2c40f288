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

/** The stream of one direction of a TCP session. */
export function reassemble(
  packets: readonly AppPacket[],
  direction: 0 | 1,
  maxBytes = MAX_STREAM_BYTES,
): DirectionStream {
  const mine = packets.filter((p) => p.direction === direction);
  const data = mine.filter((p) => p.payloadLength > 0 || p.payload.length > 0);
  if (data.length === 0) return { bytes: EMPTY, ends: 'end', inconsistentOverlap: false };
  const segments = data.every((p) => p.tcpSeq !== undefined)
    ? bySequence(mine, data)
    : data.map((p, order) => ({ offset: -1, payload: p.payload, wireLength: p.payloadLength, order }));
  if (segments[0]?.offset === -1) {
    // No sequence numbers: arrival order is all there is.
    let at = 0;
    for (const s of segments) {
      s.offset = at;
      at += s.wireLength;
    }
  }
  segments.sort((a, b) => a.offset - b.offset || a.order - b.order);

  const out = new Uint8Array(Math.min(maxBytes, totalCaptured(segments)));
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
    if (overlap > 1) {
      for (let i = 0; i < overlap; i++) {
        if (out[s.offset + i] !== s.payload[i]) {
          inconsistentOverlap = true;
          break;
        }
      }
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

function totalCaptured(segments: Segment[]): number {
  let sum = 0;
  for (const s of segments) sum += s.payload.length;
  return sum;
}

/**
 * Segment offsets from the sequence numbers: relative to the SYN's (its data starts one after it), or without a
 * SYN to the earliest sequence number among the data segments (modulo 2^32, so wrap-around is harmless).
 */
function bySequence(mine: readonly AppPacket[], data: readonly AppPacket[]): Segment[] {
  const dataSeq = (p: AppPacket) => ((p.tcpSeq! + (p.tcpFlags & TCP_SYN ? 1 : 0)) >>> 0) as number;
  const syn = mine.find((p) => p.tcpFlags & TCP_SYN);
  let base: number;
  if (syn) base = dataSeq(syn);
  else {
    const first = dataSeq(data[0]!);
    let lowest = 0;
    for (const p of data) lowest = Math.min(lowest, (dataSeq(p) - first) | 0);
    base = (first + lowest) >>> 0;
  }
  const segments: Segment[] = [];
  data.forEach((p, order) => {
    const offset = (dataSeq(p) - base) >>> 0;
    // Before the stream's start (data before the SYN, a wild sequence number): not part of this stream.
    if (offset >= 0x80000000) return;
    segments.push({ offset, payload: p.payload, wireLength: p.payloadLength, order });
  });
  return segments;
}
