// config-sync's settings from the environment, validated at startup (server addresses and accounts come from
// lib's loadConnections / loadAccounts).
import { zkRootSetting } from '@fleetcap/lib/agent/paths';
import { type Env, parseEnv } from '@fleetcap/lib/config/connections';
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
});

export type ConfigSyncConfig = z.infer<typeof configSyncEnv>;

export function loadConfigSyncConfig(env: Env = process.env): ConfigSyncConfig {
  return parseEnv(configSyncEnv, env, 'config-sync');
}
