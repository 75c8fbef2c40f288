import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { accountRoles, migrationVariables } from './accounts.ts';
import { defaultMigrationsDir, loadMigrations } from './migrate.ts';

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'mig-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

test('the project migrations load in order with every placeholder filled', () => {
  const env: Record<string, string> = { FLEETCAP_STACK_HOME: join(tmpdir(), 'fleetcap-no-stack-here') };
  for (const role of accountRoles) env[`FLEETCAP_MYSQL_${role.toUpperCase()}_PASSWORD`] = `${role}-generated-secret`;
  const migrations = loadMigrations(defaultMigrationsDir, migrationVariables(env));
  assert.ok(migrations.length >= 3);
  assert.deepEqual(
    migrations.map((m) => m.version),
    [...migrations.map((m) => m.version)].sort((a, b) => a - b),
  );
  for (const m of migrations) assert.doesNotMatch(m.sql, /\{\{/, `${m.file} has no unfilled placeholder`);
  const grants = migrations.find((m) => m.name === 'accounts_and_grants');
  assert.ok(grants?.sql.includes("'fleetcap_worker'@'%' IDENTIFIED BY 'worker-generated-secret'"));
});

test("{{<ROLE>_HOST}} is where the account is now, or '%' for one the run creates (then bound by syncAccounts)", () => {
  const env: Record<string, string> = { FLEETCAP_STACK_HOME: join(tmpdir(), 'fleetcap-no-stack-here') };
  for (const role of accountRoles) env[`FLEETCAP_MYSQL_${role.toUpperCase()}_PASSWORD`] = `${role}-generated-secret`;
  const [grant] = loadMigrations(
    dirWith({
      '001_grant.sql': "GRANT SELECT ON t TO '{{REPORT_USER}}'@'{{REPORT_HOST}}', '{{WORKER_USER}}'@'{{WORKER_HOST}}';",
    }),
    migrationVariables(env, { report: '127.0.0.1' }),
  );
  assert.equal(grant!.sql, "GRANT SELECT ON t TO 'fleetcap_report'@'127.0.0.1', 'fleetcap_worker'@'%';");
});

test('placeholder values are quoted for SQL strings; the checksum ignores them', () => {
  const dir = dirWith({ '001_a.sql': "SELECT '{{P}}';" });
  const [a] = loadMigrations(dir, { P: "it's\\" });
  const [b] = loadMigrations(dir, { P: 'other' });
  assert.equal(a?.sql, "SELECT 'it''s\\\\';");
  assert.equal(a?.checksum, b?.checksum);
});

test('badly named files, duplicate versions and unknown placeholders are refused with the file named', () => {
  assert.throws(() => loadMigrations(dirWith({ '1-bad.sql': '' }), {}), /1-bad\.sql: migration files are named NNN_/);
  assert.throws(
    () => loadMigrations(dirWith({ '001_a.sql': '', '001_b.sql': '' }), {}),
    /two migrations share version 1/,
  );
  assert.throws(
    () => loadMigrations(dirWith({ '001_a.sql': '{{NOPE}}' }), {}),
    /001_a\.sql: unknown placeholder \{\{NOPE\}\}/,
  );
});

test('account passwords that are too short are refused at startup', () => {
  assert.throws(
    () => migrationVariables({ FLEETCAP_MYSQL_WORKER_PASSWORD: 'short' }),
    // (the other roles' secrets are missing as well: every problem is in the one message)
    // The value itself is a secret: the message names the variable and how long the value given was.
    /FLEETCAP_MYSQL_WORKER_PASSWORD=<hidden, 5 characters>: must be at least 8 characters long/,
  );
});
