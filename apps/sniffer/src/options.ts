// Sniffer settings: the agent config (JSON from FLEETCAP_AGENT_CONFIG, or --config-json <json> / --config <file>)
// plus process settings from the environment.
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_ENV, DEFER_SCAN_ENV } from '@fleetcap/lib/agent/ipc';
import { type AgentConfig, parseAgentConfigJson } from '@fleetcap/lib/config/agent-config';
import { ConfigError, parseEnv } from '@fleetcap/lib/config/connections';
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const snifferEnv = z.object({
  FLEETCAP_AGENT_TOKEN: z.string().default(''),
  FLEETCAP_SPOOL_DIR: z.string().min(1).optional(),
  FLEETCAP_SPOOL_MAX_BYTES: int(1024, Number.MAX_SAFE_INTEGER).default(256 * 1024 * 1024),
  FLEETCAP_DRAIN_MS: int(0, 600_000).default(5000),
  FLEETCAP_UPLOAD_BACKOFF_BASE_MS: int(1, 600_000).default(250),
  FLEETCAP_UPLOAD_BACKOFF_MAX_MS: int(1, 3_600_000).default(10_000),
  FLEETCAP_UPLOAD_TIMEOUT_MS: int(100, 600_000).default(30_000),
  FLEETCAP_STATS_INTERVAL_MS: int(50, 600_000).default(1000),
  FLEETCAP_CAPTURE_BUFFER_KIB: int(64, 4 * 1024 * 1024).default(16 * 1024),
  FLEETCAP_PROMISCUOUS: z.enum(['0', '1', 'true', 'false']).default('1'),
  FLEETCAP_IMMEDIATE_MODE: z.enum(['0', '1', 'true', 'false']).default('0'),
  /** How long a stopping sniffer keeps capturing after its cut-off time: longer than libpcap's 1 s block timeout. */
  FLEETCAP_CAPTURE_LINGER_MS: int(0, 60_000).default(1300),
  FLEETCAP_TCPDUMP: z.string().min(1).default('tcpdump'),
  FLEETCAP_SNIFFER_METRICS_PORT: int(0, 65535).default(0),
  [DEFER_SCAN_ENV]: z.enum(['0', '1']).default('0'),
});

export interface SnifferOptions {
  config: AgentConfig;
  token: string;
  spoolDir: string;
  spoolMaxBytes: number;
  drainMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  uploadTimeoutMs: number;
  statsIntervalMs: number;
  captureBufferKiB: number;
  promiscuous: boolean;
  immediate: boolean;
  lingerMs: number;
  tcpdump: string;
  metricsPort: number;
  /** Do not adopt spooled batches at start; wait for a 'rescan' message (the listener sends it). */
  deferScan: boolean;
}

function configText(argv: string[], env: Record<string, string | undefined>, given?: string): string {
  if (given !== undefined) return given;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config-json' && argv[i + 1] !== undefined) return argv[i + 1]!;
    if (argv[i] === '--config' && argv[i + 1] !== undefined) return readFileSync(argv[i + 1]!, 'utf8');
  }
  const text = env[CONFIG_ENV];
  if (text === undefined || text.trim() === '') {
    throw new ConfigError(`no agent config: set ${CONFIG_ENV} (JSON) or pass --config <file> or --config-json <json>`);
  }
  return text;
}

/** `configJson`, when given, wins over argv and the environment (standby mode: it came over IPC). */
export function loadSnifferOptions(
  argv: string[] = process.argv.slice(2),
  env: Record<string, string | undefined> = process.env,
  configJson?: string,
): SnifferOptions {
  const config = parseAgentConfigJson(configText(argv, env, configJson));
  const e = parseEnv(snifferEnv, env, 'sniffer');
  return {
    config,
    token: e.FLEETCAP_AGENT_TOKEN,
    spoolDir: e.FLEETCAP_SPOOL_DIR ?? join(tmpdir(), 'fleetcap-spool', config.agentId),
    spoolMaxBytes: e.FLEETCAP_SPOOL_MAX_BYTES,
    drainMs: e.FLEETCAP_DRAIN_MS,
    backoffBaseMs: e.FLEETCAP_UPLOAD_BACKOFF_BASE_MS,
    backoffMaxMs: e.FLEETCAP_UPLOAD_BACKOFF_MAX_MS,
    uploadTimeoutMs: e.FLEETCAP_UPLOAD_TIMEOUT_MS,
    statsIntervalMs: e.FLEETCAP_STATS_INTERVAL_MS,
    captureBufferKiB: e.FLEETCAP_CAPTURE_BUFFER_KIB,
    promiscuous: e.FLEETCAP_PROMISCUOUS === '1' || e.FLEETCAP_PROMISCUOUS === 'true',
    immediate: e.FLEETCAP_IMMEDIATE_MODE === '1' || e.FLEETCAP_IMMEDIATE_MODE === 'true',
    lingerMs: e.FLEETCAP_CAPTURE_LINGER_MS,
    tcpdump: e.FLEETCAP_TCPDUMP,
    metricsPort: e.FLEETCAP_SNIFFER_METRICS_PORT,
    deferScan: e[DEFER_SCAN_ENV] === '1',
  };
}
