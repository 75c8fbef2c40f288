// config-sync's settings from the environment, validated at startup (server addresses and accounts come from
// lib's loadConnections / loadAccounts).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { zkRootSetting } from '@fleetcap/lib/agent/paths';
import { readSecretFile } from '@fleetcap/lib/auth/agent-credential';
import { ConfigError, type Env, parseEnv } from '@fleetcap/lib/config/connections';
import { flag as bool, durationMs, listenHost, telemetryPort } from '@fleetcap/lib/config/env-schema';
import { stackSecretsDir } from '@fleetcap/lib/config/secrets';
import { z } from 'zod';

const configSyncEnv = z.object({
  FLEETCAP_CONFIG_SYNC_HOST: listenHost.default('127.0.0.1'),
  /** /metrics and /healthz only: N, 0 for a free port, or off. */
  FLEETCAP_CONFIG_SYNC_PORT: telemetryPort(8086),
  FLEETCAP_CONFIG_SYNC_GROUP: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,200}$/, 'must be a Kafka group id (letters, digits, . _ -)')
    .default('fleetcap-config-sync'),
  FLEETCAP_CONFIG_SYNC_TOPIC: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be a Kafka topic name')
    .optional(),
  /**
   * Where a new consumer group starts: at the end of the topic (false; the reconcile after joining brings
   * ZooKeeper up to the table) or at its beginning (true: replays the whole history, needed without reconcile).
   */
  FLEETCAP_CONFIG_SYNC_FROM_BEGINNING: bool.default('false'),
  /** Read the table and make ZooKeeper equal to it at startup and after each rebalance. */
  FLEETCAP_CONFIG_SYNC_RECONCILE: bool.default('true'),
  /** Kafka group session timeout: how long a crashed instance holds its partitions (the broker allows 6 s to 300 s). */
  FLEETCAP_CONFIG_SYNC_SESSION_TIMEOUT_MS: durationMs(6000, 300_000).default(30_000),
  FLEETCAP_CONFIG_SYNC_STATUS_RESYNC_MS: z.coerce.number().int().min(1000).default(30_000),
  FLEETCAP_ZK_ROOT: zkRootSetting,
  /**
   * ZooKeeper ACLs: digest (config-sync alone writes config nodes, each agent reads its own; zk-acl.ts), the default,
   * needs config-sync's ZooKeeper password (its _FILE, else the one `stack up` generated); open leaves the nodes it
   * creates world-writable (development, and the tests of other behaviour whose agents are not enrolled).
   */
  FLEETCAP_ZK_ACL: z.enum(['digest', 'open'], { errorMap: () => ({ message: 'must be digest or open' }) }).optional(),
  /** config-sync's own ZooKeeper digest password (user fleetcap-configsync), better from a 0600 file. */
  FLEETCAP_ZK_CONFIGSYNC_PASSWORD: z.string().min(16, 'must be at least 16 characters').optional(),
  FLEETCAP_ZK_CONFIGSYNC_PASSWORD_FILE: z.string().min(1).optional(),
  /** During a rotation of that password: the old one, so that the nodes it made can be given the new ACLs. */
  FLEETCAP_ZK_CONFIGSYNC_PREVIOUS_PASSWORD_FILE: z.string().min(1).optional(),
  /** Where `stack up` generated the password when no _FILE is given (.stack/secrets/zk-configsync.password). */
  FLEETCAP_STACK_HOME: z.string().min(1).optional(),
  /** How often agent_credential is checked, for the agents' ACLs. */
  FLEETCAP_CONFIG_SYNC_CREDENTIAL_POLL_MS: durationMs(100, 2000).default(1000),
});

export type ConfigSyncConfig = z.infer<typeof configSyncEnv>;

export interface ZkAclSettings {
  mode: 'digest' | 'open';
  /** config-sync's ZooKeeper password (digest mode). */
  password?: string;
  /** The password being rotated out (its nodes get the new ACLs at startup). */
  previousPassword?: string;
}

/** The ACL mode and config-sync's ZooKeeper password (read from its file). */
export function zkAclSettings(config: ConfigSyncConfig): ZkAclSettings {
  if (config.FLEETCAP_ZK_CONFIGSYNC_PASSWORD !== undefined && config.FLEETCAP_ZK_CONFIGSYNC_PASSWORD_FILE !== undefined)
    throw new ConfigError('set FLEETCAP_ZK_CONFIGSYNC_PASSWORD_FILE or FLEETCAP_ZK_CONFIGSYNC_PASSWORD, not both');
  let password = config.FLEETCAP_ZK_CONFIGSYNC_PASSWORD;
  if (config.FLEETCAP_ZK_CONFIGSYNC_PASSWORD_FILE !== undefined) {
    try {
      password = readSecretFile(config.FLEETCAP_ZK_CONFIGSYNC_PASSWORD_FILE, 'FLEETCAP_ZK_CONFIGSYNC_PASSWORD_FILE');
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  }
  const generated = join(
    stackSecretsDir({ FLEETCAP_STACK_HOME: config.FLEETCAP_STACK_HOME }),
    'zk-configsync.password',
  );
  if (password === undefined && existsSync(generated)) {
    try {
      password = readSecretFile(generated, 'FLEETCAP_ZK_CONFIGSYNC_PASSWORD_FILE');
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  }
  const mode = config.FLEETCAP_ZK_ACL ?? 'digest';
  if (mode === 'digest' && password === undefined)
    throw new ConfigError(
      `ZooKeeper ACLs (FLEETCAP_ZK_ACL=digest, the default) need config-sync’s ZooKeeper password: FLEETCAP_ZK_CONFIGSYNC_PASSWORD_FILE (bash stack/stack.sh up writes ${generated}), or FLEETCAP_ZK_ACL=open for development`,
    );
  // Open, the password still authenticates config-sync: it can manage nodes that a run with ACLs protected.
  if (mode !== 'digest') return password === undefined ? { mode } : { mode, password };
  const previous = config.FLEETCAP_ZK_CONFIGSYNC_PREVIOUS_PASSWORD_FILE;
  if (previous === undefined) return { mode, password };
  try {
    return {
      mode,
      password,
      previousPassword: readSecretFile(previous, 'FLEETCAP_ZK_CONFIGSYNC_PREVIOUS_PASSWORD_FILE'),
    };
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

export function loadConfigSyncConfig(env: Env = process.env): ConfigSyncConfig {
  const config = parseEnv(configSyncEnv, env, 'config-sync');
  zkAclSettings(config);
  return config;
}
