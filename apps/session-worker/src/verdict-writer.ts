// Writes a batch of verdicts with one multi-row INSERT IGNORE: the unique (agent_id, session_key, occurrence)
// index makes a replay after a crash a no-op, so every session occurrence of every agent has exactly one row; two
// agents that saw one conversation have a row each, with the same community_id.

import { METADATA_COLUMN_NAMES, VERDICT_INSERT_COLUMNS } from '@fleetcap/lib/db/session-verdict-columns';
import type { AlertReason } from '@fleetcap/lib/detectors/detection-alerts';
import type { ScheduleReason } from '@fleetcap/lib/queue/session-message';
import type { LoadedSession } from '@fleetcap/lib/session-store/reader';
import type { Pool, PoolConnection } from 'mysql2/promise';
import { emptyMetadataValues, type MetadataValues } from './verdict-metadata.ts';

export interface VerdictRow {
  session: LoadedSession;
  label: string;
  score: number;
  alert: boolean;
  unknown: boolean;
  modelVersion: string;
  reason: ScheduleReason;
  /** Application metadata of the stored packets (verdict-metadata.ts); NULL columns when absent. */
  metadata?: MetadataValues;
  /**
   * Why it is an alert, the class it is alerted as, the incident behind it (lib/src/detectors/detection-alerts.ts);
   * absent: the model's alert of its label.
   */
  alertReason?: AlertReason | null;
  alertLabel?: string | null;
  detectionId?: string | null;
}

const columns = VERDICT_INSERT_COLUMNS;

/** µs since the epoch as a DATETIME(6) literal in UTC. */
export function mysqlDatetime(us: number): string {
  const ms = Math.floor(us / 1000);
  const micros = String(Math.round(us % 1_000_000)).padStart(6, '0');
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}.${micros}`;
}

export function verdictValues(r: VerdictRow): Array<string | number | null> {
  const s = r.session;
  const metadata = r.metadata ?? emptyMetadataValues();
  return [
    s.message.key,
    s.occurrence,
    s.agent,
    s.communityId,
    s.proto,
    s.client.address,
    s.client.port,
    s.server.address,
    s.server.port,
    mysqlDatetime(s.firstUs),
    mysqlDatetime(s.lastUs),
    s.packetsSeen,
    s.bytes,
    r.label,
    r.score,
    r.alert ? 1 : 0,
    r.unknown ? 1 : 0,
    r.modelVersion,
    r.reason,
    r.alertReason !== undefined ? r.alertReason : r.alert ? 'model' : null,
    r.alertLabel !== undefined ? r.alertLabel : r.alert ? r.label : null,
    r.detectionId ?? null,
    ...METADATA_COLUMN_NAMES.map((c) => metadata[c]),
  ];
}

const HOUR_US = 3_600_000_000;

/**
 * The rows in the order of the rollup rows they add to (sql/017's trigger: verdict_count_hour by the hour of the first
 * packet and the label, and for an alert alert_count_hour by the hour and the class): every batch then locks those
 * rollup rows in one order, so two workers' batches (on connections of the same slot) do not deadlock on them. The
 * class follows the label, so an alert whose class differs from its label (a detection's evidence) can still meet
 * another batch's rows in the other order: InnoDB then refuses one transaction and the worker retries it.
 */
export function inRollupOrder(rows: VerdictRow[]): VerdictRow[] {
  const hour = (r: VerdictRow) => Math.floor(r.session.firstUs / HOUR_US);
  const cls = (r: VerdictRow) => (r.alert ? (r.alertLabel ?? r.label) : '');
  const text = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...rows].sort((a, b) => hour(a) - hour(b) || text(a.label, b.label) || text(cls(a), cls(b)));
}

export async function insertVerdicts(pool: Pool | PoolConnection, rows: VerdictRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const placeholders = rows.map(() => `(${columns.map(() => '?').join(',')})`).join(',');
  const sql = `INSERT IGNORE INTO session_verdict (${columns.join(',')}) VALUES ${placeholders}`;
  const [result] = await pool.query(sql, inRollupOrder(rows).flatMap(verdictValues));
  return (result as { affectedRows: number }).affectedRows;
}
