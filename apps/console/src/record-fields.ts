// The session record (every column of its session_verdict row) in groups for the session page, as
// lib/src/db/session-verdict-columns.ts declares them. Columns no group names are shown under "other", so the page
// shows the whole record whatever it holds.
import { RECORD_GROUPS } from '@fleetcap/lib/db/session-verdict-columns';

export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (v instanceof Date) return `${v.toISOString().replace('T', ' ').replace('Z', '')} UTC`;
  if (Buffer.isBuffer(v)) return `${v.length} bytes`;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function recordGroups(
  record: Record<string, unknown>,
): Array<{ title: string; fields: Array<[string, string]> }> {
  const named = new Set(RECORD_GROUPS.flatMap((g) => g.columns));
  const groups = RECORD_GROUPS.map((g) => ({
    title: g.title,
    fields: g.columns.filter((c) => c in record).map((c): [string, string] => [c, formatValue(record[c])]),
  }));
  const other = Object.keys(record).filter((c) => !named.has(c));
  if (other.length > 0)
    groups.push({ title: 'Other', fields: other.map((c): [string, string] => [c, formatValue(record[c])]) });
  return groups.filter((g) => g.fields.length > 0);
}
