// splitcap's settings from the environment, validated at startup.

import { agentIdPattern } from '@fleetcap/lib/agent/paths';
import { type Env, parseEnv } from '@fleetcap/lib/config/connections';
import {
  communityIdSeed,
  durationMs,
  listenHost,
  listenPort,
  queuePrefix,
  redisPrefix,
} from '@fleetcap/lib/config/env-schema';
import { SESSION_DELAY_MS, SESSION_MAX_PACKETS } from '@fleetcap/lib/features/features';
import { DEFAULT_STORED_FRAME_BYTES } from '@fleetcap/lib/session-store/layout';
import { z } from 'zod';

const tokenList = z.string().transform((text, ctx) => {
  const tokens = new Map<string, string>();
  for (const pair of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = pair.indexOf('=');
    const agent = pair.slice(0, eq);
    const token = pair.slice(eq + 1);
    if (eq <= 0 || token.length < 8) {
      ctx.addIssue({
        code: 'custom',
        message: `"${agent || pair}": each entry is agent=token with a token of 8 characters or more`,
      });
      return z.NEVER;
    }
    // The agent id names its sessions in Redis and in the verdict rows: it must be one (lib/src/agent/paths.ts).
    if (!agentIdPattern.test(agent)) {
      ctx.addIssue({
        code: 'custom',
        message: `"${agent}": an agent id is 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit`,
      });
      return z.NEVER;
    }
    tokens.set(agent, token);
  }
  if (tokens.size === 0) {
    ctx.addIssue({ code: 'custom', message: 'no agent=token pair given' });
    return z.NEVER;
  }
  return tokens;
});

/** Where splitcap listens without TLS: refused unless FLEETCAP_SPLITCAP_PLAINTEXT allows it (see plaintextRefusal). */
export const plaintextPolicies = ['refuse', 'loopback', 'any'] as const;
export type PlaintextPolicy = (typeof plaintextPolicies)[number];

const loopbackHosts = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Why splitcap must not serve plain HTTP with these settings, or undefined when it may. */
export function plaintextRefusal(host: string, policy: PlaintextPolicy): string | undefined {
  if (policy === 'any') return undefined;
  if (policy === 'loopback' && loopbackHosts.test(host)) return undefined;
  if (policy === 'loopback')
    return `FLEETCAP_SPLITCAP_PLAINTEXT=loopback allows plain HTTP on a loopback address only, not on ${host}: set FLEETCAP_SPLITCAP_TLS_CERT and FLEETCAP_SPLITCAP_TLS_KEY`;
  return 'no TLS certificate: set FLEETCAP_SPLITCAP_TLS_CERT and FLEETCAP_SPLITCAP_TLS_KEY (bash stack/stack.sh up makes them under .stack/tls/), or FLEETCAP_SPLITCAP_PLAINTEXT=loopback for development on loopback';
}

const splitcapEnv = z.object({
  FLEETCAP_SPLITCAP_HOST: listenHost.default('127.0.0.1'),
  FLEETCAP_SPLITCAP_PORT: listenPort(8080),
  /** Development and tests: agent=token pairs accepted beside the agent_credential table (the table wins, agent-auth.ts). */
  FLEETCAP_SPLITCAP_TOKENS: tokenList.optional(),
  /** table: agent_credential (and FLEETCAP_SPLITCAP_TOKENS for agents it does not know); tokens: the list only. */
  FLEETCAP_SPLITCAP_CREDENTIALS: z
    .enum(['table', 'tokens'], { errorMap: () => ({ message: 'must be table or tokens' }) })
    .default('table'),
  /** How often agent_credential is checked for changes: a new or revoked agent is in force within this. */
  FLEETCAP_SPLITCAP_CREDENTIAL_POLL_MS: durationMs(100, 2000).default(1000),
  /** How often the dropped-packet counts are copied from Redis into MariaDB's packet_drop (drop-counts.ts). */
  FLEETCAP_SPLITCAP_DROP_COPY_MS: durationMs(200, 600_000).default(5000),
  /** PEM files: with both, splitcap serves HTTPS (uploads, /metrics, /healthz). */
  FLEETCAP_SPLITCAP_TLS_CERT: z.string().min(1).optional(),
  FLEETCAP_SPLITCAP_TLS_KEY: z.string().min(1).optional(),
  /** Without TLS: refuse (default) to start, or allow plain HTTP on loopback only, or anywhere (behind a TLS proxy). */
  FLEETCAP_SPLITCAP_PLAINTEXT: z
    .enum(plaintextPolicies, { errorMap: () => ({ message: 'must be refuse, loopback or any' }) })
    .default('refuse'),
  FLEETCAP_SPLITCAP_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024 * 1024),
  FLEETCAP_SPLITCAP_MAX_READY_DEPTH: z.coerce.number().int().min(1).default(100_000),
  // The limits of upload-limits.ts and redis-memory-guard.ts (docs/ARCHITECTURE.md, "Upload limits": why these).
  FLEETCAP_SPLITCAP_MAX_SESSIONS_PER_BATCH: z.coerce.number().int().min(1).default(50_000),
  FLEETCAP_SPLITCAP_MAX_CONCURRENT_UPLOADS: z.coerce.number().int().min(1).max(1024).default(4),
  FLEETCAP_SPLITCAP_REDIS_MEMORY_HIGH_WATER: z.coerce.number().gt(0).max(1).default(0.8),
  FLEETCAP_SPLITCAP_REDIS_MEMORY_LIMIT_BYTES: z.coerce.number().int().min(0).default(0),
  FLEETCAP_SPLITCAP_REDIS_MEMORY_CHECK_MS: durationMs(50, 60_000).default(1000),
  FLEETCAP_REDIS_PREFIX: redisPrefix,
  FLEETCAP_QUEUE_PREFIX: queuePrefix,
  // The session shape the feature code reads, and the model was trained on (see session-shape-check.ts).
  FLEETCAP_SESSION_MAX_PACKETS: z.coerce.number().int().min(1).max(10_000).default(SESSION_MAX_PACKETS),
  FLEETCAP_SESSION_DELAY_MS: durationMs(100, 3_600_000).default(SESSION_DELAY_MS),
  /** The card of the model forecast serves: its session shape is checked against the two settings above. */
  FLEETCAP_MODEL_CARD_PATH: z.string().min(1).default('model/model-card.json'),
  FLEETCAP_SESSION_TTL_SECONDS: z.coerce.number().int().min(60).default(3600),
  /** Bytes of each packet's frame stored with it (0: none; then no pcap, metadata or content features). */
  FLEETCAP_STORED_FRAME_BYTES: z.coerce.number().int().min(0).max(262_144).default(DEFAULT_STORED_FRAME_BYTES),
  FLEETCAP_BATCH_RECEIPT_TTL_SECONDS: z.coerce.number().int().min(60).default(86_400),
  // Replicas (of a Redis Cluster's masters, or of one Redis) that must hold an append before the 202: 0 trusts the
  // master alone; 1 survives the loss of a master (stack/redis-cluster.sh gives each master one).
  FLEETCAP_REDIS_WAIT_REPLICAS: z.coerce.number().int().min(0).max(5).default(0),
  FLEETCAP_REDIS_WAIT_TIMEOUT_MS: z.coerce.number().int().min(10).max(60_000).default(1000),
  /** Seed of the Community ID stored with every session (and so in the verdict rows). */
  FLEETCAP_COMMUNITY_ID_SEED: communityIdSeed,
});

export type SplitcapConfig = z.infer<typeof splitcapEnv>;

const checkedEnv = splitcapEnv.superRefine((e, ctx) => {
  if (e.FLEETCAP_SPLITCAP_CREDENTIALS === 'tokens' && e.FLEETCAP_SPLITCAP_TOKENS === undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['FLEETCAP_SPLITCAP_TOKENS'],
      message:
        'required with FLEETCAP_SPLITCAP_CREDENTIALS=tokens: a comma-separated list of agent=token pairs, e.g. "host-1=s3cret,host-2=0ther"',
    });
  if ((e.FLEETCAP_SPLITCAP_TLS_CERT === undefined) !== (e.FLEETCAP_SPLITCAP_TLS_KEY === undefined))
    ctx.addIssue({
      code: 'custom',
      path: [e.FLEETCAP_SPLITCAP_TLS_CERT === undefined ? 'FLEETCAP_SPLITCAP_TLS_CERT' : 'FLEETCAP_SPLITCAP_TLS_KEY'],
      message: 'TLS needs both FLEETCAP_SPLITCAP_TLS_CERT and FLEETCAP_SPLITCAP_TLS_KEY (PEM files)',
    });
  const refusal =
    e.FLEETCAP_SPLITCAP_TLS_CERT === undefined
      ? plaintextRefusal(e.FLEETCAP_SPLITCAP_HOST, e.FLEETCAP_SPLITCAP_PLAINTEXT)
      : undefined;
  if (refusal) ctx.addIssue({ code: 'custom', path: ['FLEETCAP_SPLITCAP_PLAINTEXT'], message: refusal });
});

export function loadSplitcapConfig(env: Env = process.env): SplitcapConfig {
  return parseEnv(checkedEnv, env, 'splitcap');
}
