// The database accounts of fleetcap, one per role, each with the least privilege it needs (sql/003 and sql/008 grant
// them, sql/009 binds them to the host they connect from). Passwords are never built in: each is read from
// FLEETCAP_MYSQL_<ROLE>_PASSWORD_FILE, else from the file `stack up` generated (.stack/secrets/mysql-<role>.password;
// lib/src/config/secrets.ts).
import { z } from 'zod';
import { type Env, parseEnv } from '../config/connections.ts';
import { resolveSecrets } from '../config/secrets.ts';

export const accountRoles = ['worker', 'report', 'cdc', 'configsync', 'detector', 'splitcap', 'console'] as const;
export type AccountRole = (typeof accountRoles)[number];

const accountEnv = z.object({
  FLEETCAP_MYSQL_WORKER_USER: z.string().min(1).default('fleetcap_worker'),
  FLEETCAP_MYSQL_REPORT_USER: z.string().min(1).default('fleetcap_report'),
  FLEETCAP_MYSQL_CDC_USER: z.string().min(1).default('fleetcap_cdc'),
  FLEETCAP_MYSQL_CONFIGSYNC_USER: z.string().min(1).default('fleetcap_configsync'),
  FLEETCAP_MYSQL_DETECTOR_USER: z.string().min(1).default('fleetcap_detector'),
  /** splitcap: reads the agents' upload-token verifiers (agent_credential, sql/008). */
  FLEETCAP_MYSQL_SPLITCAP_USER: z.string().min(1).default('fleetcap_splitcap'),
  /** The console: reads console_user, enrols and revokes agents for its admins (sql/012). */
  FLEETCAP_MYSQL_CONSOLE_USER: z.string().min(1).default('fleetcap_console'),
  /** The host part of every account (sql/009): where the apps connect from. */
  FLEETCAP_MYSQL_ACCOUNT_HOST: z
    .string()
    .regex(/^[A-Za-z0-9_.:%-]+$/, 'must be a MariaDB host pattern such as 127.0.0.1 or 10.0.%')
    .default('127.0.0.1'),
});

export interface Account {
  user: string;
  password: string;
}

const passwordSource = (role: AccountRole | 'admin') => ({
  variable: `FLEETCAP_MYSQL_${role.toUpperCase()}_PASSWORD`,
  stackFile: `mysql-${role}.password`,
});

/** One role's account: only its own secret is read (an app is given no other). */
export function loadAccount(env: Env, role: AccountRole): Account {
  const e = parseEnv(accountEnv, env, 'database account');
  const user = e[`FLEETCAP_MYSQL_${role.toUpperCase()}_USER` as keyof typeof e];
  const { password } = resolveSecrets(env, { password: passwordSource(role) }, 'database account');
  return { user, password };
}

/** Every role's account (the operator's view: migrations, the CLI, the tests). */
export function loadAccounts(env: Env = process.env): Record<AccountRole, Account> {
  const e = parseEnv(accountEnv, env, 'database account');
  const wanted = Object.fromEntries(accountRoles.map((r) => [r, passwordSource(r)])) as Record<
    AccountRole,
    ReturnType<typeof passwordSource>
  >;
  const passwords = resolveSecrets(env, wanted, 'database account');
  const user = (role: AccountRole) => e[`FLEETCAP_MYSQL_${role.toUpperCase()}_USER` as keyof typeof e];
  return Object.fromEntries(accountRoles.map((r) => [r, { user: user(r), password: passwords[r] }])) as Record<
    AccountRole,
    Account
  >;
}

/** Values the migration runner substitutes for {{NAME}} placeholders in sql/ files. */
/**
 * The migrations' placeholders: each role's user and password, and `{{<ROLE>_HOST}}`, the host the account is at on
 * this server now (`hosts`, read by the runner before it applies anything), or '%' for an account that a migration
 * of this run creates (sql/003 and later create at '%'; `syncAccounts` binds them after the run). A migration that
 * grants to an existing account writes `'{{REPORT_USER}}'@'{{REPORT_HOST}}'`: right on a fresh database, where every
 * account is still at '%' during the run, and on an old one, where they are bound to FLEETCAP_MYSQL_ACCOUNT_HOST.
 */
export function migrationVariables(
  env: Env = process.env,
  hosts: Partial<Record<AccountRole, string>> = {},
): Record<string, string> {
  const a = loadAccounts(env);
  const vars: Record<string, string> = {
    ACCOUNT_HOST: parseEnv(accountEnv, env, 'database account').FLEETCAP_MYSQL_ACCOUNT_HOST,
  };
  for (const role of accountRoles) {
    vars[`${role.toUpperCase()}_USER`] = a[role].user;
    vars[`${role.toUpperCase()}_PASSWORD`] = a[role].password;
    vars[`${role.toUpperCase()}_HOST`] = hosts[role] ?? '%';
  }
  return vars;
}

/** The host part of the accounts (FLEETCAP_MYSQL_ACCOUNT_HOST). */
export function accountHost(env: Env = process.env): string {
  return parseEnv(accountEnv, env, 'database account').FLEETCAP_MYSQL_ACCOUNT_HOST;
}
