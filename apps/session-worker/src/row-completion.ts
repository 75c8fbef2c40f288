// Completes verdict rows with their connection's record once the connection is over (the sweeper decides when):
// Zeek's conn_state and history, packets and IP bytes per direction, duration, and when. The verdict row was written
// early (first packets, 5 s); this UPDATE makes it describe the whole connection, so one long SSH or download
// session is one row. A record only grows, so a completion never replaces one that counted more packets (a
// redelivered look, or two looks racing, write the same or a newer record).
import type { ConnRecord } from '@fleetcap/lib/session-record/conn-state';
import type { Pool } from 'mysql2/promise';

export interface RowCompletion {
  agent: string;
  key: string;
  occurrence: number;
  record: ConnRecord;
}

/** The record's columns of a row, in the UPDATE's order. */
export function completionValues(record: ConnRecord) {
  return {
    conn_state: record.connState,
    history: record.history,
    originator: record.originatorIsResponder ? 'server' : 'client',
    orig_pkts: record.origPkts,
    orig_ip_bytes: record.origIpBytes,
    resp_pkts: record.respPkts,
    resp_ip_bytes: record.respIpBytes,
    duration: record.duration,
  };
}

const SQL = `UPDATE session_verdict
SET conn_state = ?, history = ?, originator = ?, orig_pkts = ?, orig_ip_bytes = ?, resp_pkts = ?, resp_ip_bytes = ?,
    duration = ?, completed_at = CURRENT_TIMESTAMP(6)
WHERE agent_id = ? AND session_key = ? AND occurrence = ?
  AND (orig_pkts IS NULL OR orig_pkts + resp_pkts <= ?)`;

/** Per completion, whether a row took it (false: no such row, or it holds a record with more packets). */
export async function completeRows(pool: Pool, completions: RowCompletion[]): Promise<boolean[]> {
  // One statement per row, run side by side on the pool's connections.
  return Promise.all(
    completions.map(async (c) => {
      const v = completionValues(c.record);
      const [result] = await pool.query(SQL, [
        v.conn_state,
        v.history,
        v.originator,
        v.orig_pkts,
        v.orig_ip_bytes,
        v.resp_pkts,
        v.resp_ip_bytes,
        v.duration,
        c.agent,
        c.key,
        c.occurrence,
        v.orig_pkts + v.resp_pkts,
      ]);
      return (result as { affectedRows: number }).affectedRows > 0;
    }),
  );
}

const CLOSE_SQL = `UPDATE session_verdict SET completed_at = CURRENT_TIMESTAMP(6)
WHERE agent_id = ? AND session_key = ? AND occurrence = ? AND completed_at IS NULL`;

/**
 * Rows whose look found no record of their own occurrence: the record was completed and removed (a redelivered look:
 * the row is completed already, and this changes nothing), or it belongs to another occurrence (one that started
 * while the previous one's record still took the packets; found by the fault run). Such a row is closed with what
 * its verdict saw and no connection columns, instead of staying open for ever. Per row, whether it was open.
 */
export async function closeRowsWithoutRecord(
  pool: Pool,
  rows: Array<{ agent: string; key: string; occurrence: number }>,
): Promise<boolean[]> {
  return Promise.all(
    rows.map(async (r) => {
      const [result] = await pool.query(CLOSE_SQL, [r.agent, r.key, r.occurrence]);
      return (result as { affectedRows: number }).affectedRows > 0;
    }),
  );
}
