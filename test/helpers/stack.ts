// Shared helpers of the integration tests: connections to the real servers of the local stack
// (started by `bash stack/stack.sh up`, which the test command runs first).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConnections } from '@fleetcap/lib/config/connections';
import { stackSecretsDir } from '@fleetcap/lib/config/secrets';
import { type AccountRole, loadAccounts } from '@fleetcap/lib/db/accounts';
import { SOURCE_EXEC_ARGV } from '@fleetcap/lib/runtime/entry';
import { ZkClient, type ZkClientOptions } from '@fleetcap/lib/zookeeper/client';
import { isNoNode } from '@fleetcap/lib/zookeeper/errors';
import mysql from 'mysql2/promise';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

// The apps the tests start speak plain HTTP on loopback (and through the namespaces' relays, to addresses that are
// no loopback address but lead to it), which they refuse unless told: every app a test starts inherits these. The
// security tests (test/security) set their own.
process.env.FLEETCAP_SPLITCAP_PLAINTEXT ??= 'loopback';
process.env.FLEETCAP_UPLOAD_PLAINTEXT ??= 'any';
export const connections = loadConnections();
export const accounts = loadAccounts();

export function uniqueId(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

/** Fails (never skips) with the command to run when the local stack is not up. */
export function assertStackUp(): void {
  try {
    execFileSync('node', [...SOURCE_EXEC_ARGV, `${repoRoot}/stack/probe.ts`, 'check-all'], {
      cwd: repoRoot,
      stdio: 'pipe',
    });
  } catch (err) {
    const out = String((err as { stdout?: Buffer }).stdout ?? '');
    throw new Error(`the local stack is not healthy; run 'bash stack/stack.sh up' first.\n${out}`);
  }
}

export async function mysqlAs(
  role: AccountRole | 'admin',
  opts: mysql.ConnectionOptions = {},
): Promise<mysql.Connection> {
  const account = role === 'admin' ? connections.mysqlAdmin : accounts[role];
  return mysql.createConnection({ ...connections.mysql, user: account.user, password: account.password, ...opts });
}

/**
 * The admin's password in an option file only this user can read (made once per test process), so that no password
 * is on a command line: the security tests scan every cmdline under /proc while other tests run.
 */
let adminOptionFile: string | undefined;
function adminOptions(): string {
  if (adminOptionFile === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'fleetcap-test-mariadb-'));
    adminOptionFile = join(dir, 'admin.cnf');
    const quoted = connections.mysqlAdmin.password.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
    writeFileSync(adminOptionFile, `[client]\nuser=${connections.mysqlAdmin.user}\npassword="${quoted}"\n`, {
      mode: 0o600,
    });
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return adminOptionFile;
}

/** Runs SQL through the `mariadb` command-line client, as an operator would. */
export function mariadbCli(sql: string): string {
  return execFileSync(
    'mariadb',
    [
      `--defaults-file=${adminOptions()}`,
      '-h',
      connections.mysql.host,
      '-P',
      String(connections.mysql.port),
      '-N',
      '-B',
      connections.mysql.database,
      '-e',
      sql,
    ],
    { encoding: 'utf8' },
  );
}

/**
 * A connected ZooKeeper client of the stack (under a chroot when given, e.g. `/fca-test-x`). It authenticates as
 * config-sync with the password `stack up` generated (ACLs are on by default, and a test reads and cleans every node
 * it made), unless it is given an auth of its own or `anonymous: true` (the attacker tests).
 */
export function zkConnect(
  options: { chroot?: string; anonymous?: boolean } & Partial<ZkClientOptions> = {},
): Promise<ZkClient> {
  const { chroot = '', anonymous = false, ...rest } = options;
  const generated = join(stackSecretsDir(), 'zk-configsync.password');
  const auth =
    rest.auth ??
    (anonymous || !existsSync(generated)
      ? []
      : [{ scheme: 'digest', credentials: `fleetcap-configsync:${readFileSync(generated, 'utf8').trim()}` }]);
  return ZkClient.open(
    { connect: `${connections.zookeeper}${chroot}`, sessionTimeoutMs: 10000, retries: 1, ...rest, auth },
    5000,
  );
}

/** Deletes a node and everything under it; a node that is not there is fine. */
export async function removeZkTree(zk: ZkClient, path: string): Promise<void> {
  for (const child of (await zk.getChildren(path)) ?? []) await removeZkTree(zk, `${path}/${child}`);
  await zk.remove(path).catch((err: unknown) => {
    if (!isNoNode(err)) throw err;
  });
}
