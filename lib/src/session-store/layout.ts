// How a session lives in Redis. All keys of one session share the `{<session key>}` hash tag, so they
// sit in one slot of a Redis Cluster and one Lua script may touch them all.
// (fc is the default prefix)
//   fc:s:{K}:p  sorted set of packets, score = capture time in µs, member = packet record (below)
//   fc:s:{K}:m  hash: agent, occurrence, initiator side, first/last µs and bytes of every packet seen,
//               packets (kept), overflow (seen beyond the cap), scheduling flags
//   fc:s:{K}:b  hash: batch id -> scheduling reasons decided for it (makes a retried batch a no-op)
//   fc:s:{K}:d  done marker, set with a TTL once the verdict is stored; the session is not reopened before it expires
import { FROM_INITIATOR, TO_INITIATOR } from '../session/sessionizer.ts';

export interface SessionKeys {
  packets: string;
  meta: string;
  batches: string;
  done: string;
}

/** `prefix` (FLEETCAP_REDIS_PREFIX, default "fc") lets several pipelines, or tests, share one Redis. */
export function sessionKeys(sessionKey: string, prefix = 'fc'): SessionKeys {
  const base = `${prefix}:s:{${sessionKey}}`;
  return { packets: `${base}:p`, meta: `${base}:m`, batches: `${base}:b`, done: `${base}:d` };
}

/** Direction of a packet relative to the session's initiator (what the feature code reads). */
export const FROM_CLIENT = FROM_INITIATOR;
export const FROM_SERVER = TO_INITIATOR;

/**
 * One stored packet: what the feature code needs, and a sequence number so identical packets stay distinct.
 * Stored as the member text "seq:dir:tsUs:wire:payload:flags", written by splitcap's append script.
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
}

export function toClientDirection(record: PacketRecord, initiatorSide: 0 | 1): PacketRecord {
  return { ...record, direction: record.direction === initiatorSide ? FROM_CLIENT : FROM_SERVER };
}

export class PacketRecordError extends Error {
  override name = 'PacketRecordError';
}

export function decodePacketRecord(member: string): PacketRecord {
  const f = member.split(':');
  if (f.length !== 6)
    throw new PacketRecordError(`packet record ${JSON.stringify(member)}: expected 6 fields, found ${f.length}`);
  const n = f.map(Number);
  if (n.some((v) => !Number.isSafeInteger(v) || v < 0) || (n[1] !== 0 && n[1] !== 1)) {
    throw new PacketRecordError(
      `packet record ${JSON.stringify(member)}: fields must be non-negative integers, direction 0 or 1`,
    );
  }
  return {
    seq: n[0]!,
    direction: n[1] as 0 | 1,
    tsUs: n[2]!,
    wireLength: n[3]!,
    payloadLength: n[4]!,
    tcpFlags: n[5]!,
  };
}
