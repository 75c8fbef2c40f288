// Applies the numbered SQL files under sql/ in order, each once, and records what it applied in
// schema_migrations (with a checksum, so an edited migration that was already applied is an error,
// not a silent divergence). Files may hold several statements; {{NAME}} placeholders are filled
// from migrationVariables() (account names and passwords).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { loadConnections } from '../config/connections.ts';
import {
  type Account,
  type AccountRole,
  accountHost,
  accountRoles,
  loadAccounts,
  migrationVariables,
} from './accounts.ts';

export const defaultMigrationsDir = fileURLToPath(new URL('../../../sql', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  file: string;
  sql: string;
  checksum: string;
}

const fileNamePattern = /^(\d{3,})_([a-z0-9_]+)\.sql$/;

export function loadMigrations(dir: string, vars: Record<string, string>): Migration[] {
  const migrations: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = fileNamePattern.exec(file);
    if (!m) throw new Error(`${join(dir, file)}: migration files are named NNN_lower_snake_name.sql`);
    const raw = readFileSync(join(dir, file), 'utf8');
    const sql = raw.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_, key: string) => {
      const value = vars[key];
      if (value === undefined) throw new Error(`${join(dir, file)}: unknown placeholder {{${key}}}`);
      // Values land inside single-quoted SQL strings.
      return value.replace(/\\/g, '\\\\').replace(/'/g, "''");
    });
    // The checksum covers the file as written, not the substituted secrets.
    const checksum = createHash('sha256').update(raw).digest('hex');
    migrations.push({ version: Number(m[1]), name: m[2]!, file, sql, checksum });
  }
  const seen = new Set<number>();
  for (const mig of migrations) {
    if (seen.has(mig.version)) throw new Error(`${dir}: two migrations share version ${mig.version}`);
    seen.add(mig.version);
  }
  return migrations;
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: string[];
}

export async function migrate(
  connection: mysql.Connection,
  migrations: Migration[],
  log: (line: string) => void = () => {},
): Promise<MigrateResult> {
  await connection.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INT UNSIGNED NOT NULL PRIMARY KEY,
    name VARCHAR(200) NOT NULL,
    checksum CHAR(64) NOT NULL,
    applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
  ) ENGINE=InnoDB`);
  // One runner at a time: two `stack up` in parallel must not apply a migration twice.
  const [lockRows] = await connection.query("SELECT GET_LOCK('fleetcap_migrations', 60) AS got");
  if ((lockRows as Array<{ got: number }>)[0]?.got !== 1)
    throw new Error('another migration runner holds the lock for over 60 s');
  try {
    const [rows] = await connection.query('SELECT version, name, checksum FROM schema_migrations');
    const done = new Map(
      (rows as Array<{ version: number; name: string; checksum: string }>).map((r) => [r.version, r]),
    );
    const result: MigrateResult = { applied: [], alreadyApplied: [] };
    for (const mig of migrations) {
      const prior = done.get(mig.version);
      if (prior) {
        if (prior.checksum !== mig.checksum) {
          throw new Error(
            `sql/${mig.file} was changed after it was applied (checksum differs). Applied migrations are history: add a new numbered migration instead.`,
          );
        }
        result.alreadyApplied.push(mig.file);
        continue;
      }
      log(`applying sql/${mig.file}`);
      try {
        await connection.query(mig.sql);
      } catch (err) {
        throw new Error(`sql/${mig.file} failed: ${(err as Error).message}`);
      }
      await connection.query('INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)', [
        mig.version,
        mig.name,
        mig.checksum,
      ]);
      result.applied.push(mig.file);
    }
    return result;
  } finally {
    await connection.query("SELECT RELEASE_LOCK('fleetcap_migrations')");
  }
}

/**
 * Binds every app account to the host it connects from and gives it its current password: an account still at
 * another host (the '%' of sql/003, or a host changed since) is renamed, which keeps its grants; ALTER USER sets the
 * password of the secret file, so a stack with the old built-in passwords is rotated by the next `stack up`, and a
 * rotated secret file takes effect the same way. Idempotent. Returns what changed, for the log.
 */
export async function syncAccounts(
  connection: mysql.Connection,
  accounts: Record<string, Account>,
  host: string,
): Promise<string[]> {
  const changed: string[] = [];
  for (const { user, password } of Object.values(accounts)) {
    const [rows] = await connection.query('SELECT Host AS host FROM mysql.user WHERE User = ?', [user]);
    const hosts = (rows as Array<{ host: string }>).map((r) => r.host);
    if (hosts.length === 0) continue;
    if (!hosts.includes(host)) {
      await connection.query('RENAME USER ?@? TO ?@?', [user, hosts[0], user, host]);
      changed.push(`${user}@${hosts[0]} -> ${user}@${host}`);
      hosts[0] = host;
    }
    for (const other of hosts.filter((h) => h !== host)) {
      await connection.query('DROP USER ?@?', [user, other]);
      changed.push(`${user}@${other} dropped`);
    }
    await connection.query('ALTER USER ?@? IDENTIFIED BY ?', [user, host, password]);
  }
  return changed;
}

/** Where each role's account is now (the bound host first), for the {{<ROLE>_HOST}} placeholders. */
async function accountHosts(connection: mysql.Connection): Promise<Partial<Record<AccountRole, string>>> {
  const accounts = loadAccounts();
  const bound = accountHost();
  const hosts: Partial<Record<AccountRole, string>> = {};
  for (const role of accountRoles) {
    const [rows] = await connection.query('SELECT Host AS host FROM mysql.user WHERE User = ?', [accounts[role].user]);
    const found = (rows as Array<{ host: string }>).map((r) => r.host);
    if (found.length > 0) hosts[role] = found.includes(bound) ? bound : found[0]!;
  }
  return hosts;
}

export async function migrateFromEnv(dir = defaultMigrationsDir): Promise<MigrateResult> {
  const conn = loadConnections();
  const connection = await mysql.createConnection({
    ...conn.mysql,
    ...conn.mysqlAdmin,
    multipleStatements: true,
  });
  try {
    const migrations = loadMigrations(dir, migrationVariables(process.env, await accountHosts(connection)));
    const result = await migrate(connection, migrations, (line) => console.log(line));
    const accounts = loadAccounts();
    const host = accountHost();
    for (const line of await syncAccounts(connection, accounts, host)) console.log(`account ${line}`);
    console.log(`accounts: ${accountRoles.length} bound to ${host}, passwords from their secret files`);
    console.log(`migrations: ${result.applied.length} applied, ${result.alreadyApplied.length} already applied`);
    return result;
  } finally {
    await connection.end();
  }
}
