// Checks a sign-in against console_user: the name, the argon2id hash, the account not disabled. Every refusal reads
// the same to the person ("wrong name or password"), so the page does not tell which names exist; the outcome
// (for the metric and the log) says which it was. An unknown name still costs one hash (verifyPassword checks it
// against a decoy), so that timing does not tell either.
import {
  type ConsoleRole,
  type ConsoleUserRow,
  consoleUserNamePattern,
  findConsoleUser,
  MAX_PASSWORD_LENGTH,
} from '@fleetcap/lib/auth/console-user';
import { verifyPassword } from '@fleetcap/lib/auth/credential-hash';
import type mysql from 'mysql2/promise';

export type SignInOutcome = 'ok' | 'wrong-password' | 'unknown-user' | 'disabled' | 'bad-input';

export interface SignedInUser {
  id: number;
  name: string;
  role: ConsoleRole;
}

export async function checkSignIn(
  sql: Pick<mysql.Pool, 'execute'>,
  name: unknown,
  password: unknown,
): Promise<{ outcome: SignInOutcome; user?: SignedInUser }> {
  if (typeof name !== 'string' || typeof password !== 'string') return { outcome: 'bad-input' };
  if (!consoleUserNamePattern.test(name) || password.length === 0 || password.length > MAX_PASSWORD_LENGTH)
    return { outcome: 'bad-input' };
  const row: ConsoleUserRow | null = await findConsoleUser(sql, name);
  if (!row) {
    await verifyPassword(null, password);
    return { outcome: 'unknown-user' };
  }
  if (!(await verifyPassword(row.password_hash, password))) return { outcome: 'wrong-password' };
  if (row.disabled_at !== null) return { outcome: 'disabled' };
  return { outcome: 'ok', user: { id: row.id, name: row.name, role: row.role } };
}

/** The account behind a session, again at each request: a disabled or removed account ends its sessions. */
export async function currentUser(sql: Pick<mysql.Pool, 'execute'>, id: number): Promise<SignedInUser | null> {
  const [rows] = await sql.execute<mysql.RowDataPacket[]>(
    'SELECT id, name, role FROM console_user WHERE id = ? AND disabled_at IS NULL',
    [id],
  );
  const r = rows[0];
  return r ? { id: Number(r.id), name: String(r.name), role: r.role as ConsoleRole } : null;
}
