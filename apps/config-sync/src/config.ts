// config-sync's settings from the environment, validated at startup (server addresses and accounts come from
// lib's loadConnections / loadAccounts).
import { zkRootSetting } from '@fleetcap/lib/agent/paths';
import { readSecretFile } from '@fleetcap/lib/auth/agent-credential';
import { ConfigError, type Env, parseEnv } from '@fleetcap/lib/config/connections';
import { flag as bool, durationMs, listenHost, telemetryPort } from '@fleetcap/lib/config/env-schema';
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
   * ZooKeeper ACLs: digest (config-sync alone writes config nodes, each agent reads its own; zk-acl.ts) needs
   * config-sync's ZooKeeper password; open leaves every node world-writable (development). Default: digest when the
   * password is given, open (with a warning) when not.
   */
  FLEETCAP_ZK_ACL: z.enum(['digest', 'open'], { errorMap: () => ({ message: 'must be digest or open' }) }).optional(),
  /** config-sync's own ZooKeeper digest password (user fleetcap-configsync), better from a 0600 file. */
  FLEETCAP_ZK_CONFIGSYNC_PASSWORD: z.string().min(16, 'must be at least 16 characters').optional(),
  FLEETCAP_ZK_CONFIGSYNC_PASSWORD_FILE: z.string().min(1).optional(),
  /** During a rotation of that password: the old one, so that the nodes it made can be given the new ACLs. */
  FLEETCAP_ZK_CONFIGSYNC_PREVIOUS_PASSWORD_FILE: z.string().min(1).optional(),
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
  const mode = config.FLEETCAP_ZK_ACL ?? (password === undefined ? 'open' : 'digest');
  if (mode === 'digest' && password === undefined)
    throw new ConfigError(
      'FLEETCAP_ZK_ACL=digest needs config-sync’s ZooKeeper password: FLEETCAP_ZK_CONFIGSYNC_PASSWORD_FILE (bash stack/stack.sh up writes .stack/secrets/zk-configsync.password)',
    );
  if (mode !== 'digest') return { mode };
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
