// Turns an uploaded capture (pcap or pcapng, in memory) into per-session packet lists ready for the
// append script: no server is touched here, so this is the part the offline tools and tests share.
import {
  DecodedPacket,
  decodePacket,
  IPPROTO_TCP,
  SKIP_REASONS,
  type SkipReason,
  TCP_FIN,
  TCP_RST,
} from '@fleetcap/lib/packet/decode';
import {
  type CaptureTimeWindow,
  captureTimeWindow,
  inCaptureTimeWindow,
  TIME_OUT_OF_RANGE,
} from '@fleetcap/lib/pcap/capture-time';
import { CaptureParser, PcapFormatError } from '@fleetcap/lib/pcap/reader';
import { FlowTable } from '@fleetcap/lib/session/flow-table';
import { isCanonicalOrder, sessionKeyOf } from '@fleetcap/lib/session/key';
import { communityIdOfPacket, DEFAULT_COMMUNITY_ID_SEED } from '@fleetcap/lib/session-record/community-id';
import { DEFAULT_STORED_FRAME_BYTES, encodePacketRecordTail } from '@fleetcap/lib/session-store/layout';
import type { SessionAppend } from '@fleetcap/lib/session-store/writer';
import { SessionLimitError } from './upload-limits.ts';

/**
 * A record whose original length is below its captured length: no capture tool writes one (the wire cannot carry
 * fewer bytes than were captured), and its lengths would reach forecast as a payload longer than the packet.
 */
export const WIRE_BELOW_CAPTURED = 'wire-length-below-captured';

/**
 * A record whose original length is over MAX_WIRE_LENGTH: no link carries such a frame (a pcap's length field is 32
 * bits), and forecast refuses a session with it (its wireLength bound), so stored it would dead-letter the session.
 */
export const WIRE_OVER_MAX = 'wire-length-over-max';
/** The largest original length splitcap stores: forecast's bound on wireLength (apps/forecast/src/validate.ts). */
export const MAX_WIRE_LENGTH = 0x7fffffff;

/** Numbers per packet in BatchSession.connection (CONN_* offsets). */
export const CONN_FIELDS = 8;
export const CONN_TIME = 0;
/** Canonical direction (0 = endpoint a of the key to b). */
export const CONN_SIDE = 1;
export const CONN_IP_LENGTH = 2;
export const CONN_PAYLOAD = 3;
export const CONN_FLAGS = 4;
export const CONN_SEQ = 5;
export const CONN_ACK = 6;
export const CONN_WINDOW = 7;

/** One session of the batch, as the session store's append takes it, and its packet count. */
export interface BatchSession extends SessionAppend {
  /** IP protocol number (6 TCP, 17 UDP). */
  ipProtocol: number;
  /** What the connection record needs of each packet, CONN_FIELDS numbers per packet in batch order. */
  connection: number[];
}

export interface DecodedBatch {
  sessions: Map<string, BatchSession>;
  packetsRead: number;
  packetsSessionized: number;
  /** By the decoder's reasons, as the offline Sessionizer counts them. */
  skipped: Record<SkipReason, number>;
  /** Records skipped before decoding, splitcap's own reason (the offline Sessionizer keeps them): WIRE_BELOW_CAPTURED. */
  wireBelowCaptured: number;
  /** Records skipped before decoding: WIRE_OVER_MAX. */
  wireOverMax: number;
  truncatedAtEnd: number;
  /** The earliest and latest capture time of the packets skipped as 'time-out-of-range', for the log line. */
  timeOutOfRange?: { minSec: number; maxSec: number };
}

export class BatchFormatError extends Error {
  override name = 'BatchFormatError';
}

const PCAP_MAGICS = new Set([0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0x0a0d0d0a]);

/** True when the body starts like a pcap or pcapng file (any byte order, µs or ns). */
export function looksLikeCapture(body: Uint8Array): boolean {
  if (body.length < 4) return false;
  const be = ((body[0]! << 24) | (body[1]! << 16) | (body[2]! << 8) | body[3]!) >>> 0;
  return PCAP_MAGICS.has(be);
}

/**
 * `communityIdSeed`: the seed of each session's Community ID (FLEETCAP_COMMUNITY_ID_SEED); `storedFrameBytes`: how
 * much of each packet's captured frame is stored with it (FLEETCAP_STORED_FRAME_BYTES); `maxSessions`: more sessions
 * than this throw SessionLimitError (FLEETCAP_SPLITCAP_MAX_SESSIONS_PER_BATCH); `captureTimes`: packets captured
 * outside it are skipped as 'time-out-of-range', as the offline Sessionizer does; `keptPerSession`: only the first
 * this many packets of each session get a stored record (FLEETCAP_SESSION_MAX_PACKETS: no session keeps more, so the
 * records of later packets would only cost memory and Redis traffic; they still count and reach the connection record).
 */
export function decodeBatch(
  body: Buffer,
  communityIdSeed = DEFAULT_COMMUNITY_ID_SEED,
  storedFrameBytes = DEFAULT_STORED_FRAME_BYTES,
  maxSessions = Number.POSITIVE_INFINITY,
  captureTimes: CaptureTimeWindow = captureTimeWindow(),
  keptPerSession = Number.POSITIVE_INFINITY,
): DecodedBatch {
  if (!looksLikeCapture(body)) {
    const head = body.subarray(0, 4).toString('hex');
    throw new BatchFormatError(
      `body is not a pcap or pcapng file: it starts with 0x${head || '(empty)'}, expected a pcap magic (a1b2c3d4, a1b23c4d, either byte order) or a pcapng section header (0a0d0d0a)`,
    );
  }
  const parser = new CaptureParser();
  const decoded = new DecodedPacket();
  // Flows are found by their binary 5-tuple; the key text is built once per session, not per packet.
  const flows = new FlowTable();
  const byFlow: BatchSession[] = [];
  // Per flow: is the flow table's side "a" also endpoint a of the key text (the canonical direction 0)?
  const tableSideIsKeySide: boolean[] = [];
  const sessions = new Map<string, BatchSession>();
  const skipped = Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<SkipReason, number>;
  let wireBelowCaptured = 0;
  let wireOverMax = 0;
  let read = 0;
  let sessionized = 0;
  let timeOutOfRange: DecodedBatch['timeOutOfRange'];
  try {
    parser.push(body);
    parser.end();
    for (let p = parser.next(); p !== null; p = parser.next()) {
      read++;
      if (!inCaptureTimeWindow(captureTimes, p.tsSec)) {
        skipped[TIME_OUT_OF_RANGE]++;
        timeOutOfRange ??= { minSec: p.tsSec, maxSec: p.tsSec };
        timeOutOfRange.minSec = Math.min(timeOutOfRange.minSec, p.tsSec);
        timeOutOfRange.maxSec = Math.max(timeOutOfRange.maxSec, p.tsSec);
        continue;
      }
      if (p.origLen < p.data.length) {
        wireBelowCaptured++;
        continue;
      }
      if (p.origLen > MAX_WIRE_LENGTH) {
        wireOverMax++;
        continue;
      }
      const skip = decodePacket(p.linktype, p.data, decoded, p.origLen);
      if (skip !== null) {
        skipped[skip]++;
        continue;
      }
      const tsUs = p.tsSec * 1_000_000 + Math.floor(p.tsNsec / 1000);
      const flow = flows.lookup(decoded);
      let s: BatchSession;
      let forward: boolean;
      if (flow.created) {
        if (sessions.size >= maxSessions) throw new SessionLimitError(maxSessions, read);
        forward = isCanonicalOrder(decoded.src, decoded.sport, decoded.dst, decoded.dport);
        tableSideIsKeySide[flow.index] = flow.sideA === forward;
        const key = sessionKeyOf(decoded.proto, decoded.src, decoded.sport, decoded.dst, decoded.dport);
        s = {
          key,
          // Once per session and batch, from the raw address bytes; TCP and UDP always have one.
          communityId: communityIdOfPacket(decoded, communityIdSeed) ?? '',
          firstSide: forward ? 0 : 1,
          firstUs: tsUs,
          lastUs: tsUs,
          bytes: 0,
          closing: false,
          args: [],
          packets: 0,
          ipProtocol: decoded.ipProtocol,
          connection: [],
        };
        byFlow[flow.index] = s;
        sessions.set(key, s);
      } else {
        s = byFlow[flow.index]!;
        forward = tableSideIsKeySide[flow.index] ? flow.sideA : !flow.sideA;
      }
      if (s.packets < keptPerSession) {
        const ts = String(tsUs);
        const frame = p.data.length > storedFrameBytes ? p.data.subarray(0, storedFrameBytes) : p.data;
        s.args.push(
          ts,
          encodePacketRecordTail(
            forward ? 0 : 1,
            ts,
            p.origLen,
            decoded.payloadLength,
            decoded.tcpFlags,
            p.linktype,
            frame,
          ),
        );
      }
      if (tsUs < s.firstUs) s.firstUs = tsUs;
      if (tsUs > s.lastUs) s.lastUs = tsUs;
      s.bytes += p.origLen;
      if (decoded.tcpFlags & (TCP_FIN | TCP_RST)) s.closing = true;
      // The acknowledgement and window are read from the TCP header only when there is one.
      const tcp = decoded.ipProtocol === IPPROTO_TCP;
      s.connection.push(
        tsUs,
        forward ? 0 : 1,
        decoded.ipLength,
        decoded.payloadLength,
        decoded.tcpFlags,
        decoded.tcpSeq,
        tcp ? decoded.tcpAck : 0,
        tcp ? decoded.tcpWindow : 0,
      );
      s.packets++;
      sessionized++;
    }
  } catch (err) {
    if (err instanceof PcapFormatError) {
      throw new BatchFormatError(`capture is malformed after ${read} packets: ${err.message}`);
    }
    throw err;
  }
  return {
    sessions,
    packetsRead: read,
    packetsSessionized: sessionized,
    skipped,
    wireBelowCaptured,
    wireOverMax,
    truncatedAtEnd: parser.counters.truncatedAtEnd,
    ...(timeOutOfRange ? { timeOutOfRange } : {}),
  };
}
