import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { RECORD_GROUPS, VERDICT_INSERT_COLUMNS } from './session-verdict-columns.ts';

const sqlDir = new URL('../../../sql/', import.meta.url);

/** The columns session_verdict has after every migration: its CREATE TABLE, then each ADD/DROP COLUMN. */
function migratedColumns(): string[] {
  const columns: string[] = [];
  for (const file of readdirSync(sqlDir)
    .filter((f) => f.endsWith('.sql'))
    .sort()) {
    const text = readFileSync(new URL(file, sqlDir), 'utf8').replace(/--.*$/gm, '');
    const create = /CREATE TABLE IF NOT EXISTS session_verdict \(([\s\S]*?)\n\)/.exec(text);
    if (create)
      for (const line of create[1]!.split('\n')) {
        const m = /^\s*([a-z_0-9]+)\s+[A-Z]/.exec(line);
        if (m && !/^(PRIMARY|UNIQUE|KEY)$/.test(m[1]!)) columns.push(m[1]!);
      }
    // sql/016 changes the table in the ALTER that partitions it, which a procedure runs.
    for (const alter of text.matchAll(
      /(?:ALTER TABLE session_verdict|CALL fleetcap_partition_by_day\('session_verdict',)([\s\S]*?);/g,
    )) {
      for (const m of alter[1]!.matchAll(/ADD COLUMN ([a-z_0-9]+)/g)) columns.push(m[1]!);
      for (const m of alter[1]!.matchAll(/DROP COLUMN ([a-z_0-9]+)/g)) columns.splice(columns.indexOf(m[1]!), 1);
    }
  }
  return columns;
}

test("the record's groups name every column of session_verdict once, and no other", () => {
  const grouped = RECORD_GROUPS.flatMap((g) => g.columns);
  assert.equal(new Set(grouped).size, grouped.length, 'no column in two groups');
  assert.deepEqual([...grouped].sort(), migratedColumns().sort());
});

test('the verdict INSERT writes every column but those MariaDB fills and the connection record', () => {
  const filledLater = ['id', 'occurrence_day', 'classified_at', 'completed_at', ...(RECORD_GROUPS[2]?.columns ?? [])];
  assert.deepEqual(
    [...VERDICT_INSERT_COLUMNS].sort(),
    migratedColumns()
      .filter((c) => !filledLater.includes(c))
      .sort(),
  );
});
