// Listener settings from the environment.
import { hostname } from 'node:os';
import { zkRootSetting } from '@fleetcap/lib/agent/paths';
import {
  agentOwnedAcl,
  isAgentSecret,
  readSecretFile,
  uploadToken,
  zkAuthCredentials,
} from '@fleetcap/lib/auth/agent-credential';
import {
  ConfigError,
  type Connections,
  type Env,
  loadAll,
  loadConnections,
  parseEnv,
} from '@fleetcap/lib/config/connections';
import { durationMs, flag, listenHost, type PortSetting, telemetryPort } from '@fleetcap/lib/config/env-schema';
import { type UploadPlaintextPolicy, uploadPlaintextSetting } from '@fleetcap/lib/upload/transport';
import type { ZkAclEntry } from '@fleetcap/lib/zookeeper/acl';
import { z } from 'zod';

const listenerEnv = z.object({
  FLEETCAP_AGENT_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1-64 letters, digits, ".", "_" or "-"')
    .optional(),
  /** Where the agents' nodes are: the same root as config-sync's. */
  FLEETCAP_ZK_ROOT: zkRootSetting,
  FLEETCAP_ZK_SESSION_TIMEOUT_MS: durationMs(2000, 120_000).default(10_000),
  FLEETCAP_LIVE_REFRESH_MS: durationMs(100, 600_000).default(5000),
  /** /metrics and /healthz: off unless a port (or 0, a free port) is given. */
  FLEETCAP_LISTENER_METRICS_PORT: telemetryPort('off'),
  FLEETCAP_LISTENER_METRICS_HOST: listenHost.default('127.0.0.1'),
  FLEETCAP_CAPTURE_STOP_MS: durationMs(100, 60_000).default(5000),
  FLEETCAP_DRAIN_MS: durationMs(0, 600_000).default(5000),
  FLEETCAP_START_TIMEOUT_MS: durationMs(1000, 120_000).default(20_000),
  FLEETCAP_RESTART_BACKOFF_BASE_MS: durationMs(10, 600_000).default(1000),
  FLEETCAP_RESTART_BACKOFF_MAX_MS: durationMs(10, 3_600_000).default(30_000),
  FLEETCAP_TCPDUMP: z.string().min(1).default('tcpdump'),
  /** 1: keep a sniffer forked ahead for the next config change; 0: fork it at the change (one process less). */
  FLEETCAP_SNIFFER_STANDBY: flag.default('1'),
  /**
   * This agent's secret (`fleetcap agents add`), better from a 0600 file: the listener derives from it the upload
   * token it hands the sniffer and its ZooKeeper digest credential. Without one, FLEETCAP_AGENT_TOKEN is the
   * sniffer's token as given and the ZooKeeper session is anonymous (development).
   */
  FLEETCAP_AGENT_SECRET: z.string().min(1).optional(),
  FLEETCAP_AGENT_SECRET_FILE: z.string().min(1).optional(),
  FLEETCAP_AGENT_TOKEN: z.string().optional(),
  FLEETCAP_UPLOAD_PLAINTEXT: uploadPlaintextSetting,
});

export interface ListenerOptions {
  agentId: string;
  connections: Connections;
  zkRoot: string;
  zkSessionTimeoutMs: number;
  liveRefreshMs: number;
  metricsPort: PortSetting;
  metricsHost: string;
  captureStopMs: number;
  drainMs: number;
  startTimeoutMs: number;
  restartBaseMs: number;
  restartMaxMs: number;
  tcpdump: string;
  /** FLEETCAP_SNIFFER_STANDBY: keep a sniffer forked ahead for the next config change. */
  standby: boolean;
  /** The sniffer's bearer token ('' when none was given). */
  uploadToken: string;
  /** `agent.<id>:<password>` for ZooKeeper's digest auth, and the ACL of its live node, when the agent has a secret. */
  zkCredentials?: string;
  zkAcl?: ZkAclEntry[];
  uploadPlaintext: UploadPlaintextPolicy;
}

/**
 * What the sniffer's environment may hold: the listener's minus every secret of the listener and every server
 * credential (the sniffer needs its upload token only, which the listener adds).
 */
export function snifferEnvironment(env: Env): Record<string, string | undefined> {
  const kept: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    if (/PASSWORD|SECRET|TOKEN|CREDENTIAL/i.test(k) || /^FLEETCAP_(AMQP|REDIS|MYSQL|KAFKA|CONNECT)_/.test(k)) continue;
    kept[k] = v;
  }
  return kept;
}

/** The host name as an agent id: the first label, with characters an agent id cannot have replaced. */
export function defaultAgentId(host = hostname()): string {
  const id = (host.split('.')[0] ?? '')
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  return id === '' ? 'agent' : id;
}

export function loadListenerOptions(env: Env = process.env): ListenerOptions {
  const { e, connections } = loadAll(
    'listener',
    { e: (v) => parseEnv(listenerEnv, v, 'listener'), connections: (v) => loadConnections(v, 'listener') },
    env,
  );
  const agentId = e.FLEETCAP_AGENT_ID ?? defaultAgentId();
  let secret = e.FLEETCAP_AGENT_SECRET;
  if (secret !== undefined && e.FLEETCAP_AGENT_SECRET_FILE !== undefined)
    throw new ConfigError('set FLEETCAP_AGENT_SECRET_FILE or FLEETCAP_AGENT_SECRET, not both');
  if (e.FLEETCAP_AGENT_SECRET_FILE !== undefined) {
    try {
      secret = readSecretFile(e.FLEETCAP_AGENT_SECRET_FILE, 'FLEETCAP_AGENT_SECRET_FILE');
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  }
  if (secret !== undefined && !isAgentSecret(secret))
    throw new ConfigError(
      'the agent secret is not one fleetcap agents add prints (fca1_ and 43 characters): copy it again',
    );
  if (secret !== undefined && e.FLEETCAP_AGENT_TOKEN)
    throw new ConfigError(
      'set the agent secret or FLEETCAP_AGENT_TOKEN, not both: the upload token is derived from the secret',
    );
  return {
    agentId,
    uploadToken: secret !== undefined ? uploadToken(secret) : (e.FLEETCAP_AGENT_TOKEN ?? ''),
    ...(secret !== undefined
      ? { zkCredentials: zkAuthCredentials(agentId, secret), zkAcl: agentOwnedAcl(agentId, secret) }
      : {}),
    uploadPlaintext: e.FLEETCAP_UPLOAD_PLAINTEXT,
    connections,
    zkRoot: e.FLEETCAP_ZK_ROOT,
    zkSessionTimeoutMs: e.FLEETCAP_ZK_SESSION_TIMEOUT_MS,
    liveRefreshMs: e.FLEETCAP_LIVE_REFRESH_MS,
    metricsPort: e.FLEETCAP_LISTENER_METRICS_PORT,
    metricsHost: e.FLEETCAP_LISTENER_METRICS_HOST,
    captureStopMs: e.FLEETCAP_CAPTURE_STOP_MS,
    drainMs: e.FLEETCAP_DRAIN_MS,
    startTimeoutMs: e.FLEETCAP_START_TIMEOUT_MS,
    restartBaseMs: e.FLEETCAP_RESTART_BACKOFF_BASE_MS,
    restartMaxMs: e.FLEETCAP_RESTART_BACKOFF_MAX_MS,
    tcpdump: e.FLEETCAP_TCPDUMP,
    standby: e.FLEETCAP_SNIFFER_STANDBY,
  };
}
