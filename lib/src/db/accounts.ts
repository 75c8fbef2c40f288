// The database accounts of fleetcap, one per role, each with the least privilege it needs
// (sql/002_accounts_and_grants.sql grants them). Passwords default to local-stack values and are
// overridden from the environment in any real deployment.
import { z } from 'zod';
import { parseEnv } from '../config/connections.ts';

export const accountRoles = ['worker', 'report', 'cdc', 'configsync', 'detector', 'splitcap', 'console'] as const;
export type AccountRole = (typeof accountRoles)[number];

const accountEnv = z.object({
  FLEETCAP_MYSQL_WORKER_USER: z.string().min(1).default('fleetcap_worker'),
  FLEETCAP_MYSQL_WORKER_PASSWORD: z.string().min(8).default('fleetcap-worker-local'),
  FLEETCAP_MYSQL_REPORT_USER: z.string().min(1).default('fleetcap_report'),
  FLEETCAP_MYSQL_REPORT_PASSWORD: z.string().min(8).default('fleetcap-report-local'),
  FLEETCAP_MYSQL_CDC_USER: z.string().min(1).default('fleetcap_cdc'),
  FLEETCAP_MYSQL_CDC_PASSWORD: z.string().min(8).default('fleetcap-cdc-local'),
  FLEETCAP_MYSQL_CONFIGSYNC_USER: z.string().min(1).default('fleetcap_configsync'),
  FLEETCAP_MYSQL_CONFIGSYNC_PASSWORD: z.string().min(8).default('fleetcap-configsync-local'),
  FLEETCAP_MYSQL_DETECTOR_USER: z.string().min(1).default('fleetcap_detector'),
  FLEETCAP_MYSQL_DETECTOR_PASSWORD: z.string().min(8).default('fleetcap-detector-local'),
  /** splitcap: reads the agents' upload-token verifiers (agent_credential, sql/008). */
  FLEETCAP_MYSQL_SPLITCAP_USER: z.string().min(1).default('fleetcap_splitcap'),
  FLEETCAP_MYSQL_SPLITCAP_PASSWORD: z.string().min(8).default('fleetcap-splitcap-local'),
  /** The console: reads console_user, enrols and revokes agents for its admins (sql/012). */
  FLEETCAP_MYSQL_CONSOLE_USER: z.string().min(1).default('fleetcap_console'),
  FLEETCAP_MYSQL_CONSOLE_PASSWORD: z.string().min(8).default('fleetcap-console-local'),
});

export interface Account {
  user: string;
  password: string;
}

export function loadAccounts(env: Record<string, string | undefined> = process.env): Record<AccountRole, Account> {
  const e = parseEnv(accountEnv, env, 'database account');
  return {
    worker: { user: e.FLEETCAP_MYSQL_WORKER_USER, password: e.FLEETCAP_MYSQL_WORKER_PASSWORD },
    report: { user: e.FLEETCAP_MYSQL_REPORT_USER, password: e.FLEETCAP_MYSQL_REPORT_PASSWORD },
    cdc: { user: e.FLEETCAP_MYSQL_CDC_USER, password: e.FLEETCAP_MYSQL_CDC_PASSWORD },
    configsync: { user: e.FLEETCAP_MYSQL_CONFIGSYNC_USER, password: e.FLEETCAP_MYSQL_CONFIGSYNC_PASSWORD },
    detector: { user: e.FLEETCAP_MYSQL_DETECTOR_USER, password: e.FLEETCAP_MYSQL_DETECTOR_PASSWORD },
    splitcap: { user: e.FLEETCAP_MYSQL_SPLITCAP_USER, password: e.FLEETCAP_MYSQL_SPLITCAP_PASSWORD },
    console: { user: e.FLEETCAP_MYSQL_CONSOLE_USER, password: e.FLEETCAP_MYSQL_CONSOLE_PASSWORD },
  };
}

/** Values the migration runner substitutes for {{NAME}} placeholders in sql/ files. */
export function migrationVariables(env: Record<string, string | undefined> = process.env): Record<string, string> {
  const a = loadAccounts(env);
  const vars: Record<string, string> = {};
  for (const role of accountRoles) {
    vars[`${role.toUpperCase()}_USER`] = a[role].user;
    vars[`${role.toUpperCase()}_PASSWORD`] = a[role].password;
  }
  return vars;
}
