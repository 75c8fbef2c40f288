// refusal-exporter's settings from the environment, validated at startup.

import { join } from 'node:path';
import { type Env, parseEnv } from '@fleetcap/lib/config/connections';
import { durationMs, listenHost, listenPort, wholeNumber } from '@fleetcap/lib/config/env-schema';
import { stackHome } from '@fleetcap/lib/config/secrets';
import { z } from 'zod';

/** A log file to follow, or `off` (a host that runs only one of the two servers). */
const logPath = z.string().min(1, 'must be the path of a log file, or off');

const refusalExporterEnv = z.object({
  FLEETCAP_REFUSAL_EXPORTER_HOST: listenHost.default('127.0.0.1'),
  FLEETCAP_REFUSAL_EXPORTER_PORT: listenPort(8097),
  /** ZooKeeper's log, which holds the lines of stack/zookeeper/AclRefusalLog.java. */
  FLEETCAP_REFUSAL_ZOOKEEPER_LOG: logPath.optional(),
  /** MariaDB's SQL error log (the sql_errlog plugin). */
  FLEETCAP_REFUSAL_MARIADB_LOG: logPath.optional(),
  FLEETCAP_REFUSAL_POLL_MS: durationMs(50, 60_000).default(500),
  /** Distinct users per server and kind that get a series of their own; the others are counted as user="(other)". */
  FLEETCAP_REFUSAL_MAX_USERS: wholeNumber(1, 10_000).default(100),
  /** Refusal log lines per server, user and kind per minute; the rest are counted and summed up in the next line. */
  FLEETCAP_REFUSAL_LOG_PER_MINUTE: wholeNumber(1, 100_000).default(30),
});

export interface RefusalExporterConfig {
  host: string;
  port: number;
  zookeeperLog: string | null;
  mariadbLog: string | null;
  pollMs: number;
  maxUsers: number;
  logPerMinute: number;
}

/** Default paths: the local stack's (`stack up` starts this exporter beside its servers). */
export function loadRefusalExporterConfig(env: Env = process.env): RefusalExporterConfig {
  const c = parseEnv(refusalExporterEnv, env, 'refusal-exporter');
  const home = stackHome(env);
  const path = (value: string | undefined, fallback: string) => (value === 'off' ? null : (value ?? fallback));
  return {
    host: c.FLEETCAP_REFUSAL_EXPORTER_HOST,
    port: c.FLEETCAP_REFUSAL_EXPORTER_PORT,
    zookeeperLog: path(c.FLEETCAP_REFUSAL_ZOOKEEPER_LOG, join(home, 'logs', 'zookeeper.log')),
    mariadbLog: path(c.FLEETCAP_REFUSAL_MARIADB_LOG, join(home, 'mariadb', 'data', 'sql_errors.log')),
    pollMs: c.FLEETCAP_REFUSAL_POLL_MS,
    maxUsers: c.FLEETCAP_REFUSAL_MAX_USERS,
    logPerMinute: c.FLEETCAP_REFUSAL_LOG_PER_MINUTE,
  };
}
