// The packets of every alert are kept: a batch's verdict rows and the stored packets of its alerted sessions are
// written in one transaction, the packets keyed by their verdict row (alert_packet, migration 005). A redelivered
// message after a crash finds both committed or neither; a row that was already there (the other worker of a
// duplicate message, or an earlier attempt) gets its packets with INSERT IGNORE on (verdict_id, packet_index), so
// nothing is stored twice or lost. Whether a row is an alert is the stored row's `alert`, not this attempt's answer,
// so that the packets always follow the row an analyst reads. Redis is freed after the commit, as before.
import { occurrenceDay } from '@fleetcap/lib/db/partition-days';
import type { LoadedSession } from '@fleetcap/lib/session-store/reader';
import type { Pool, PoolConnection } from 'mysql2/promise';
import { insertVerdicts, type VerdictRow } from './verdict-writer.ts';

export interface AlertPacketRow {
  verdictId: number;
  index: number;
  /** The verdict row's day (sql/016): the packets live in the partition of their verdict's day. */
  occurrenceDay: number;
  tsUs: number;
  wireLength: number;
  linktype: number;
  frame: Buffer;
}

/**
 * Frame bytes per multi-row INSERT of packets: well under MariaDB's max_allowed_packet (16 MiB by default), which
 * one statement may not exceed; a session holds at most 24 × FLEETCAP_STORED_FRAME_BYTES (256 KiB) = 6 MiB.
 */
export const MAX_INSERT_FRAME_BYTES = 4 * 1024 * 1024;

export interface StoredBatch {
  /** Verdict rows inserted (fewer than given when some were already stored). */
  inserted: number;
  /** Alerted sessions whose packets this transaction holds (new or already there). */
  alertSessions: number;
  /** Packet rows inserted. */
  packetsInserted: number;
  /** Alerted sessions stored without packets, because their packets carry no frame (stored before frames). */
  withoutFrames: number;
}

/** The session's stored packets as rows of its verdict; null when they carry no frame to write (linktype -1). */
export function alertPacketRows(verdictId: number, session: LoadedSession): AlertPacketRow[] | null {
  if (session.packets.some((p) => p.linktype < 0)) return null;
  // In capture-time order, packets of one time in the order they were stored (the sorted set orders those by member
  // text, where "10:" comes before "9:").
  const ordered = [...session.packets].sort((a, b) => a.tsUs - b.tsUs || a.seq - b.seq);
  const day = occurrenceDay(session.occurrence, session.firstUs);
  return ordered.map((p, index) => ({
    verdictId,
    index,
    occurrenceDay: day,
    tsUs: p.tsUs,
    wireLength: p.wireLength,
    linktype: p.linktype,
    frame: p.frame,
  }));
}

/** Rows in groups of at most maxBytes of frames (a group holds at least one row). */
export function chunkByFrameBytes(rows: AlertPacketRow[], maxBytes = MAX_INSERT_FRAME_BYTES): AlertPacketRow[][] {
  const chunks: AlertPacketRow[][] = [];
  let current: AlertPacketRow[] = [];
  let bytes = 0;
  for (const r of rows) {
    if (current.length > 0 && bytes + r.frame.length > maxBytes) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(r);
    bytes += r.frame.length;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

const naturalKey = (agent: string, key: string, occurrence: number | string) =>
  `${agent}\u0000${key}\u0000${occurrence}`;

/**
 * The ids of the stored rows of these sessions that are alerts. Each row is found by its whole unique key, day
 * included (sql/016: one partition, one index lookup); whether it is an alert is checked on the row found, not in
 * the WHERE, where it would lead MariaDB to an index on alert that scans every alert of the agent.
 */
async function alertedRowIds(conn: PoolConnection, rows: VerdictRow[]): Promise<Map<string, number>> {
  const tuples = rows.map(() => '(?,?,?,?)').join(',');
  const [found] = await conn.query(
    `SELECT id, agent_id, session_key, occurrence, alert FROM session_verdict FORCE INDEX (uq_agent_session_occurrence)
     WHERE (agent_id, session_key, occurrence, occurrence_day) IN (${tuples})`,
    rows.flatMap((r) => [
      r.session.agent,
      r.session.message.key,
      r.session.occurrence,
      occurrenceDay(r.session.occurrence, r.session.firstUs),
    ]),
  );
  const ids = new Map<string, number>();
  for (const r of found as Array<{
    id: number;
    agent_id: string;
    session_key: string;
    occurrence: number | string;
    alert: number;
  }>)
    if (Number(r.alert) === 1) ids.set(naturalKey(r.agent_id, r.session_key, r.occurrence), Number(r.id));
  return ids;
}

async function insertPackets(conn: PoolConnection, rows: AlertPacketRow[]): Promise<number> {
  let inserted = 0;
  for (const chunk of chunkByFrameBytes(rows)) {
    const [result] = await conn.query(
      `INSERT IGNORE INTO alert_packet (verdict_id, packet_index, occurrence_day, ts_us, wire_length, linktype, frame) VALUES ${chunk
        .map(() => '(?,?,?,?,?,?,?)')
        .join(',')}`,
      chunk.flatMap((r) => [r.verdictId, r.index, r.occurrenceDay, r.tsUs, r.wireLength, r.linktype, r.frame]),
    );
    inserted += (result as { affectedRows: number }).affectedRows;
  }
  return inserted;
}

/** The verdict rows, and the packets of those that are alerts, in one transaction. */
export async function storeVerdictsWithAlertPackets(pool: Pool, rows: VerdictRow[]): Promise<StoredBatch> {
  const out: StoredBatch = { inserted: 0, alertSessions: 0, packetsInserted: 0, withoutFrames: 0 };
  if (rows.length === 0) return out;
  const conn = await pool.getConnection();
  try {
    await conn.beginTransaction();
    out.inserted = await insertVerdicts(conn, rows);
    const alerted = rows.filter((r) => r.alert);
    if (alerted.length > 0) {
      const ids = await alertedRowIds(conn, alerted);
      const packets: AlertPacketRow[] = [];
      for (const r of alerted) {
        const id = ids.get(naturalKey(r.session.agent, r.session.message.key, r.session.occurrence));
        if (id === undefined) continue; // stored earlier as no alert (another model): no packets for it
        const own = alertPacketRows(id, r.session);
        if (own === null) {
          out.withoutFrames++;
          continue;
        }
        out.alertSessions++;
        packets.push(...own);
      }
      out.packetsInserted = await insertPackets(conn, packets);
    }
    await conn.commit();
    return out;
  } catch (err) {
    await conn.rollback().catch(() => {});
    throw err;
  } finally {
    conn.release();
  }
}
