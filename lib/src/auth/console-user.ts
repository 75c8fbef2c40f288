// The console's sign-in accounts (console_user, sql/012): roles, password rules, and the SQL that makes and reads
// them. Shared by `fleetcap console-user` (which makes accounts as the admin account) and the console (which checks
// sign-ins as its own account). The passwords' argon2id hashes are made and checked by ./credential-hash.ts.
import { randomBytes } from 'node:crypto';
import type mysql from 'mysql2/promise';
import { hashPassword } from './credential-hash.ts';

export const consoleRoles = ['viewer', 'admin'] as const;
export type ConsoleRole = (typeof consoleRoles)[number];

export const consoleUserNamePattern = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
/** Shorter passwords are refused: a generated one is 24 characters. */
export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;

export class ConsoleUserError extends Error {
  override name = 'ConsoleUserError';
}

export function checkUserName(name: string): void {
  if (!consoleUserNamePattern.test(name))
    throw new ConsoleUserError(
      `"${name}" is no console user name: 1-64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit`,
    );
}

export function checkRole(role: string): ConsoleRole {
  if (!(consoleRoles as readonly string[]).includes(role))
    throw new ConsoleUserError(`role "${role}": choose ${consoleRoles.join(' or ')}`);
  return role as ConsoleRole;
}

export function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH)
    throw new ConsoleUserError(
      `the password has ${password.length} characters: at least ${MIN_PASSWORD_LENGTH} are needed (or let fleetcap generate one)`,
    );
  if (password.length > MAX_PASSWORD_LENGTH)
    throw new ConsoleUserError(`the password is longer than ${MAX_PASSWORD_LENGTH} characters`);
}

/** A random password (144 bits, base64url): what `console-user add` prints once when none is given. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

type Sql = Pick<mysql.Pool, 'execute'>;

export async function addConsoleUser(sql: Sql, name: string, role: ConsoleRole, password: string): Promise<number> {
  checkUserName(name);
  checkPassword(password);
  try {
    const [res] = await sql.execute<mysql.ResultSetHeader>(
      'INSERT INTO console_user (name, role, password_hash) VALUES (?, ?, ?)',
      [name, role, await hashPassword(password)],
    );
    return res.insertId;
  } catch (err) {
    if ((err as { code?: string }).code === 'ER_DUP_ENTRY')
      throw new ConsoleUserError(
        `console user "${name}" exists: fleetcap console-user passwd ${name} sets a new password`,
      );
    throw err;
  }
}

/** A new password (and optionally role) for an existing account; re-enables a disabled one. */
export async function setConsolePassword(sql: Sql, name: string, password: string): Promise<void> {
  checkUserName(name);
  checkPassword(password);
  const [res] = await sql.execute<mysql.ResultSetHeader>(
    'UPDATE console_user SET password_hash = ?, disabled_at = NULL WHERE name = ?',
    [await hashPassword(password), name],
  );
  if (res.affectedRows === 0)
    throw new ConsoleUserError(`no console user "${name}": fleetcap console-user add ${name}`);
}

export async function disableConsoleUser(sql: Sql, name: string): Promise<void> {
  const [res] = await sql.execute<mysql.ResultSetHeader>(
    'UPDATE console_user SET disabled_at = NOW(3) WHERE name = ? AND disabled_at IS NULL',
    [name],
  );
  if (res.affectedRows === 0) throw new ConsoleUserError(`no enabled console user "${name}"`);
}

export interface ConsoleUserRow {
  id: number;
  name: string;
  role: ConsoleRole;
  password_hash: string;
  disabled_at: Date | null;
}

export async function findConsoleUser(sql: Sql, name: string): Promise<ConsoleUserRow | null> {
  const [rows] = await sql.execute<mysql.RowDataPacket[]>(
    'SELECT id, name, role, password_hash, disabled_at FROM console_user WHERE name = ?',
    [name],
  );
  return (rows[0] as ConsoleUserRow | undefined) ?? null;
}
