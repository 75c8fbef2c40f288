// The admin account's MariaDB connection for one command (`fleetcap agents …`, `fleetcap console-user …`): opened,
// used, closed; a server that cannot be reached is said with where it was looked for and what to check.
import { loadConnections } from '@fleetcap/lib/config/connections';
import mysql from 'mysql2/promise';

export async function withAdmin<T>(fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const conn = loadConnections();
  const c = await mysql.createConnection({ ...conn.mysql, ...conn.mysqlAdmin, timezone: 'Z' }).catch((err: Error) => {
    throw new Error(
      `cannot reach MariaDB at ${conn.mysql.host}:${conn.mysql.port} as ${conn.mysqlAdmin.user}: ${err.message}. Is the stack up? (npx fleetcap status)`,
    );
  });
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Runs one subcommand's action: a failure is one line, `fleetcap <command> <what>: <why>`, and exit status 1. */
export function runSubcommand(command: string, what: string, fn: () => Promise<void>): Promise<void> {
  return fn().catch((err: Error) => {
    console.error(`fleetcap ${command} ${what}: ${err.message}`);
    process.exit(1);
  });
}
