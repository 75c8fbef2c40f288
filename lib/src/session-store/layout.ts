// How a session lives in Redis. A session is one agent's view of a conversation (one per vantage point), so its
// keys are named by agent and session key together, A/K (agentSessionKey in lib/src/session/key.ts, e.g.
// `host-1/tcp/10.0.0.1/443/10.0.0.2/51000`), and all keys of one session share the `{A/K}` hash tag: they sit in
// one slot of a Redis Cluster and one Lua script may touch them all. Two agents' sessions of one conversation
// share no key, so one agent's uploads (a RST, packets over the cap) never change another agent's session.
// (fc is the default prefix)
//   fc:s:{A/K}:p  sorted set of packets, score = capture time in µs, member = packet record (below)
//   fc:s:{A/K}:m  hash (fields: META): agent, Community ID, occurrence, initiator side, first/last µs and bytes of
//                 every packet seen, packets (kept), overflow (seen beyond the cap), scheduling flags
//   fc:s:{A/K}:b  hash: batch id -> scheduling reasons decided for it (makes a retried batch a no-op)
//   fc:s:{A/K}:d  done marker, set with a TTL once the verdict is stored; the session is not reopened before it
//                 expires (while the connection record below lives, the sweeper keeps it alive)
//   fc:s:{A/K}:c  hash (fields: RECORD): the connection record (Zeek conn_state/history inputs and counters) of the
//                 occurrence, updated by every packet of the connection, before and after the verdict, until the
//                 connection ends and its row is completed
//   fc:receipt:{A}:<batch id>  a batch fully stored and published: a retry is answered at once as a duplicate
// The Lua scripts beside this file (append-session-5.lua, finish-session-4.lua, record-connection-3.lua,
// complete-record-2.lua, load-session-3.lua) spell the same names.
// Keys of the layout before agent-scoped sessions (fc:s:{K}:…, no agent) are never read; they expire by their TTL.
import { agentSessionKey } from '../session/key.ts';
import { FROM_INITIATOR, TO_INITIATOR } from '../session/sessionizer.ts';

export interface SessionKeys {
  packets: string;
  meta: string;
  batches: string;
  done: string;
  /** The connection record (RECORD fields). */
  record: string;
}

/** A session of the store: an agent's view of the conversation of a session key (the 5-tuple key text). */
export interface StoredSessionName {
  agent: string;
  key: string;
}

/**
 * The keys of a session. `prefix` (FLEETCAP_REDIS_PREFIX, default "fc") lets several pipelines, or tests, share one
 * Redis. Throws SessionKeyError for an agent id that is not one.
 */
export function sessionKeys(session: StoredSessionName, prefix = 'fc'): SessionKeys {
  const base = `${prefix}:s:{${agentSessionKey(session.agent, session.key)}}`;
  return { packets: `${base}:p`, meta: `${base}:m`, batches: `${base}:b`, done: `${base}:d`, record: `${base}:c` };
}

/** A batch's receipt; the agent is the hash tag, so one agent's receipts share a Cluster slot. */
export function receiptKey(agent: string, batchId: string, prefix = 'fc'): string {
  return `${prefix}:receipt:{${agent}}:${batchId}`;
}

/**
 * The packets of an agent's acknowledged batches dropped in one time bucket, per reason (a hash: reason → packets),
 * written with the batch's receipt (same hash slot); splitcap copies it into MariaDB's packet_drop.
 */
export function dropCountKey(agent: string, bucketStartSec: number, prefix = 'fc'): string {
  return `${prefix}:drops:{${agent}}:${bucketStartSec}`;
}

/** The set of drop hashes not yet copied into MariaDB for good (their bucket may still grow). */
export function dropIndexKey(prefix = 'fc'): string {
  return `${prefix}:drops:index`;
}

/** The agent and bucket of a dropCountKey, or null. */
export function parseDropCountKey(key: string, prefix = 'fc'): { agent: string; bucketStartSec: number } | null {
  const head = `${prefix}:drops:{`;
  if (!key.startsWith(head)) return null;
  const close = key.lastIndexOf('}:');
  if (close < head.length) return null;
  const bucketStartSec = Number(key.slice(close + 2));
  if (!Number.isSafeInteger(bucketStartSec)) return null;
  return { agent: key.slice(head.length, close), bucketStartSec };
}

/** The fields of the meta hash (fc:s:{A/K}:m), all written by the append script. */
export const META = {
  /** Agent id of the session (also in its key). */
  agent: 'agent',
  /** Community ID v1 of the conversation (lib/src/session-record/community-id.ts), with splitcap's seed. */
  communityId: 'community_id',
  /** Canonical side (0 = endpoint a of the key) that sent the first packet: the client. */
  initiator: 'initiator',
  /** µs capture time of the occurrence's first stored packet: names the occurrence. */
  occurrence: 'occurrence',
  /** Earliest and latest capture time in µs of every packet seen. */
  first: 'first',
  last: 'last',
  /** Wire bytes of every packet seen. */
  bytes: 'bytes',
  /** Packets kept in the sorted set (at most the cap). */
  packets: 'packets',
  /** Packets seen beyond the cap (counted, not kept). */
  overflow: 'overflow',
  /** '1' once the delay message was decided. */
  schedDelay: 'sched_delay',
  /** 'full' or 'closed' once the immediate message was decided. */
  schedNow: 'sched_now',
  /** '1' once the session-worker loaded the occurrence for its verdict (load-session-3.lua): it stores no more. */
  loaded: 'loaded',
} as const;

export type MetaField = (typeof META)[keyof typeof META];

/** The fields of the connection record hash (fc:s:{A/K}:c), written by record-connection-3.lua. */
export const RECORD = {
  /** Compare-and-set version: every write increments it; a writer that read another version reads again. */
  version: 'v',
  /** ConnRecord.serialize() of lib/src/session-record/conn-state.ts. */
  record: 'rec',
  /** The occurrence (meta `occurrence`) the record belongs to. */
  occurrence: 'occurrence',
  /** Canonical side (0 = endpoint a of the key) of the record's initiator, the sender of its first packet. */
  initiator: 'initiator',
  communityId: 'community_id',
  /** Wall-clock ms (splitcap's) of the latest update: the sweeper measures idleness from it. */
  seenMs: 'seen_ms',
  /** '1' once a packet started another connection (Zeek's rules): the record takes no more packets. */
  ended: 'ended',
  /** '1' while the sweeper completes the row: packets are stragglers, the record takes no more. */
  completing: 'completing',
  /** The latest 16 batch ids added, comma-separated: a retried batch is not added twice. */
  batches: 'batches',
} as const;

/** Direction of a packet relative to the session's initiator (what the feature code reads). */
export const FROM_CLIENT = FROM_INITIATOR;
export const FROM_SERVER = TO_INITIATOR;

/**
 * One stored packet: what the feature code needs, the captured frame (payloads for application metadata and
 * content features, the packets of an alert's pcap), and a sequence number so identical packets stay distinct.
 * Stored as the binary member "seq:dir:tsUs:wire:payload:flags:linktype:" followed by the frame's bytes: splitcap
 * writes everything after the sequence number (encodePacketRecordTail), the append script prefixes the number.
 * The frame is binary and last, so no separator inside it matters; it is the packet as uploaded, cut at
 * FLEETCAP_STORED_FRAME_BYTES (0 stores none).
 * As stored, `direction` is canonical (0 = endpoint a to b of the key), because the initiator of a session
 * is only known once its first packet is stored; `toClientDirection` turns it into FROM_CLIENT/FROM_SERVER
 * with the meta hash's `initiator` side.
 */
export interface PacketRecord {
  seq: number;
  direction: typeof FROM_CLIENT | typeof FROM_SERVER;
  /** Capture time, µs since the epoch. */
  tsUs: number;
  /** Length on the wire. */
  wireLength: number;
  /** Transport payload length. */
  payloadLength: number;
  /** TCP flags byte, 0 for UDP. */
  tcpFlags: number;
  /** Link type of the upload the packet came in (pcap LINKTYPE_*); -1 for a record stored without one. */
  linktype: number;
  /** The captured bytes from the link-layer header on, at most FLEETCAP_STORED_FRAME_BYTES; empty if none. */
  frame: Buffer;
}

/**
 * Bytes of each packet's captured frame the store keeps (FLEETCAP_STORED_FRAME_BYTES). 2048 holds every frame of
 * a 1500-byte MTU whole (with VLAN tags to spare), so a session's pcap is its packets as captured; it cuts only the
 * super-frames of a host capture with offloads on (GRO, up to 64 KB), which would otherwise make one session cost
 * up to 1.5 MB of Redis. What is cut keeps its wire length, as a snapshot length does.
 */
export const DEFAULT_STORED_FRAME_BYTES = 2048;

/** Fields before the frame in a member; a record of the layout before frames has the first six only. */
const HEADER_FIELDS = 7;
const OLD_FIELDS = 6;
const COLON = 0x3a;
const NO_FRAME = Buffer.alloc(0);

/**
 * The member after the sequence number: "dir:tsUs:wire:payload:flags:linktype:" and the frame. `direction` is
 * canonical. `tsUs` is given as text because the caller already has it so (it is also the packet's score).
 * `frame` is copied, so the caller's buffer (the upload) may be reused.
 */
export function encodePacketRecordTail(
  direction: 0 | 1,
  tsUs: string,
  wireLength: number,
  payloadLength: number,
  tcpFlags: number,
  linktype: number,
  frame: Uint8Array = NO_FRAME,
): Buffer {
  const head = `${direction}:${tsUs}:${wireLength}:${payloadLength}:${tcpFlags}:${linktype}:`;
  const out = Buffer.allocUnsafe(head.length + frame.length);
  out.write(head, 0, 'latin1');
  out.set(frame, head.length);
  return out;
}

export function toClientDirection(record: PacketRecord, initiatorSide: 0 | 1): PacketRecord {
  return { ...record, direction: record.direction === initiatorSide ? FROM_CLIENT : FROM_SERVER };
}

export class PacketRecordError extends Error {
  override name = 'PacketRecordError';
}

function describe(member: Buffer): string {
  const shown = member.subarray(0, 60).toString('latin1');
  return `${JSON.stringify(shown)}${member.length > 60 ? ` (${member.length} bytes)` : ''}`;
}

/**
 * Reads a member as Redis returns it (a Buffer: the frame is binary). A text member of the layout before frames
 * (six fields) is read with no frame, so sessions stored by an older splitcap during an upgrade still classify.
 */
export function decodePacketRecord(member: Buffer | string): PacketRecord {
  const bytes = typeof member === 'string' ? Buffer.from(member, 'latin1') : member;
  const fields: number[] = [];
  let from = 0;
  let frameAt = -1;
  while (fields.length < HEADER_FIELDS) {
    const colon = bytes.indexOf(COLON, from);
    const end = colon === -1 ? bytes.length : colon;
    const text = bytes.toString('latin1', from, end);
    fields.push(text === '' ? Number.NaN : Number(text));
    if (colon === -1) break;
    from = colon + 1;
    if (fields.length === HEADER_FIELDS) frameAt = from;
  }
  const old = frameAt === -1 && fields.length === OLD_FIELDS;
  if (frameAt === -1 && !old) {
    throw new PacketRecordError(
      `packet record ${describe(bytes)}: expected "seq:dir:tsUs:wire:payload:flags:linktype:" and the frame, found ${fields.length} fields`,
    );
  }
  const linktypeValid = old || (Number.isSafeInteger(fields[6]) && fields[6]! >= 0);
  if (
    fields.slice(0, 6).some((v) => !Number.isSafeInteger(v) || v < 0) ||
    (fields[1] !== 0 && fields[1] !== 1) ||
    !linktypeValid
  ) {
    throw new PacketRecordError(
      `packet record ${describe(bytes)}: fields must be non-negative integers, direction 0 or 1`,
    );
  }
  return {
    seq: fields[0]!,
    direction: fields[1] as 0 | 1,
    tsUs: fields[2]!,
    wireLength: fields[3]!,
    payloadLength: fields[4]!,
    tcpFlags: fields[5]!,
    linktype: old ? -1 : fields[6]!,
    frame: old ? NO_FRAME : bytes.subarray(frameAt),
  };
}
