// session_verdict's triggers as their CREATE statements, so that a bench can drop them for a variant or a bulk load
// and make them again exactly as the migrations left them (sql/014, sql/017).
import type mysql from 'mysql2/promise';

export interface SavedTrigger {
  name: string;
  createStatement: string;
}

export async function saveVerdictTriggers(db: mysql.Connection | mysql.Pool): Promise<SavedTrigger[]> {
  const [rows] = await db.query<mysql.RowDataPacket[]>(
    "SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = 'session_verdict'",
  );
  const saved: SavedTrigger[] = [];
  for (const row of rows) {
    const [made] = await db.query<mysql.RowDataPacket[]>(`SHOW CREATE TRIGGER ${row.name}`);
    saved.push({ name: String(row.name), createStatement: String(made[0]!['SQL Original Statement']) });
  }
  return saved;
}

export async function dropTriggers(db: mysql.Connection | mysql.Pool, saved: SavedTrigger[]): Promise<void> {
  for (const t of saved) await db.query(`DROP TRIGGER ${t.name}`);
}

export async function restoreTriggers(db: mysql.Connection | mysql.Pool, saved: SavedTrigger[]): Promise<void> {
  for (const t of saved) await db.query(t.createStatement);
}
