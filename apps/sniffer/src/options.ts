// Sniffer settings: the agent config (JSON from FLEETCAP_AGENT_CONFIG, or --config-json <json> / --config <file>)
// plus process settings from the environment.
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_ENV, DEFER_SCAN_ENV } from '@fleetcap/lib/agent/ipc';
import { type AgentConfig, parseAgentConfigJson } from '@fleetcap/lib/config/agent-config';
import { ConfigError, type Env, parseEnv } from '@fleetcap/lib/config/connections';
import { durationMs, flag, type PortSetting, telemetryPort, wholeNumber } from '@fleetcap/lib/config/env-schema';
import { uploadPlaintextSetting, uploadTransportProblem } from '@fleetcap/lib/upload/transport';
import { z } from 'zod';

const snifferEnv = z.object({
  FLEETCAP_AGENT_TOKEN: z.string().default(''),
  /** PEM: the CA that signed splitcap's certificate (https:// splitcapUrls); without it, the system's CAs. */
  FLEETCAP_SPLITCAP_CA_FILE: z.string().min(1).optional(),
  /** Plain http:// splitcapUrls: refuse (default), loopback (to a loopback address only), any. */
  FLEETCAP_UPLOAD_PLAINTEXT: uploadPlaintextSetting,
  FLEETCAP_SPOOL_DIR: z.string().min(1).optional(),
  /**
   * on-failure: a batch is written to the spool folder only when it must outlive its first upload attempt (it failed,
   * was refused, or the sniffer exits with it unsent); always: every batch is written when it closes (it survives a
   * crash of the sniffer, at the cost of a file write, rename and unlink per batch). always is the default: a
   * sniffer killed outright must not lose closed batches, and on-failure's gain on the capture ceiling is not yet
   * measured apart (ARCHITECTURE, Capture).
   */
  FLEETCAP_SPOOL_WRITE: z.enum(['on-failure', 'always']).default('always'),
  FLEETCAP_SPOOL_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(Number.MAX_SAFE_INTEGER)
    .default(256 * 1024 * 1024),
  /** A batch file closes before this size: below splitcap's FLEETCAP_SPLITCAP_MAX_BODY_BYTES (64 MiB by default). */
  FLEETCAP_BATCH_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024 * 1024)
    .max(1024 * 1024 * 1024)
    .default(32 * 1024 * 1024),
  FLEETCAP_DRAIN_MS: durationMs(0, 600_000).default(5000),
  FLEETCAP_UPLOAD_BACKOFF_BASE_MS: durationMs(1, 600_000).default(250),
  FLEETCAP_UPLOAD_BACKOFF_MAX_MS: durationMs(1, 3_600_000).default(10_000),
  FLEETCAP_UPLOAD_TIMEOUT_MS: durationMs(100, 600_000).default(30_000),
  FLEETCAP_STATS_INTERVAL_MS: durationMs(50, 600_000).default(1000),
  FLEETCAP_CAPTURE_BUFFER_KIB: wholeNumber(64, 4 * 1024 * 1024, 'KiB').default(16 * 1024),
  FLEETCAP_PROMISCUOUS: flag.default('1'),
  FLEETCAP_IMMEDIATE_MODE: flag.default('0'),
  /** How long a stopping sniffer keeps capturing after its cut-off time: longer than libpcap's 1 s block timeout. */
  FLEETCAP_CAPTURE_LINGER_MS: durationMs(0, 60_000).default(1300),
  FLEETCAP_TCPDUMP: z.string().min(1).default('tcpdump'),
  /** /metrics and /healthz of this sniffer: off unless a port (or 0, a free port) is given. */
  FLEETCAP_SNIFFER_METRICS_PORT: telemetryPort('off'),
  [DEFER_SCAN_ENV]: flag.default('0'),
});

export interface SnifferOptions {
  config: AgentConfig;
  token: string;
  splitcapCaFile?: string;
  splitcapCa?: Buffer;
  spoolDir: string;
  spoolMaxBytes: number;
  /** FLEETCAP_SPOOL_WRITE=always: every batch is written to its file when it closes. */
  spoolWriteOnAdd: boolean;
  batchMaxBytes: number;
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
  metricsPort: PortSetting;
  /** Do not adopt spooled batches at start; wait for a 'rescan' message (the listener sends it). */
  deferScan: boolean;
}

function configText(argv: string[], env: Env, given?: string): string {
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
  env: Env = process.env,
  configJson?: string,
): SnifferOptions {
  const config = parseAgentConfigJson(configText(argv, env, configJson));
  const e = parseEnv(snifferEnv, env, 'sniffer');
  const transport = uploadTransportProblem(config.splitcapUrl, e.FLEETCAP_UPLOAD_PLAINTEXT);
  if (transport) throw new ConfigError(transport);
  let splitcapCa: Buffer | undefined;
  if (e.FLEETCAP_SPLITCAP_CA_FILE !== undefined) {
    try {
      splitcapCa = readFileSync(e.FLEETCAP_SPLITCAP_CA_FILE);
    } catch (err) {
      throw new ConfigError(
        `FLEETCAP_SPLITCAP_CA_FILE=${e.FLEETCAP_SPLITCAP_CA_FILE}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
  }
  return {
    config,
    token: e.FLEETCAP_AGENT_TOKEN,
    ...(e.FLEETCAP_SPLITCAP_CA_FILE !== undefined ? { splitcapCaFile: e.FLEETCAP_SPLITCAP_CA_FILE, splitcapCa } : {}),
    spoolDir: e.FLEETCAP_SPOOL_DIR ?? join(tmpdir(), 'fleetcap-spool', config.agentId),
    spoolMaxBytes: e.FLEETCAP_SPOOL_MAX_BYTES,
    spoolWriteOnAdd: e.FLEETCAP_SPOOL_WRITE === 'always',
    batchMaxBytes: e.FLEETCAP_BATCH_MAX_BYTES,
    drainMs: e.FLEETCAP_DRAIN_MS,
    backoffBaseMs: e.FLEETCAP_UPLOAD_BACKOFF_BASE_MS,
    backoffMaxMs: e.FLEETCAP_UPLOAD_BACKOFF_MAX_MS,
    uploadTimeoutMs: e.FLEETCAP_UPLOAD_TIMEOUT_MS,
    statsIntervalMs: e.FLEETCAP_STATS_INTERVAL_MS,
    captureBufferKiB: e.FLEETCAP_CAPTURE_BUFFER_KIB,
    promiscuous: e.FLEETCAP_PROMISCUOUS,
    immediate: e.FLEETCAP_IMMEDIATE_MODE,
    lingerMs: e.FLEETCAP_CAPTURE_LINGER_MS,
    tcpdump: e.FLEETCAP_TCPDUMP,
    metricsPort: e.FLEETCAP_SNIFFER_METRICS_PORT,
    deferScan: e[DEFER_SCAN_ENV],
  };
}
