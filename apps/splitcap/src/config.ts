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

const tokenList = z
  .string({
    required_error: 'required: a comma-separated list of agent=token pairs, e.g. "host-1=s3cret,host-2=0ther"',
  })
  .transform((text, ctx) => {
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

const splitcapEnv = z.object({
  FLEETCAP_SPLITCAP_HOST: listenHost.default('127.0.0.1'),
  FLEETCAP_SPLITCAP_PORT: listenPort(8080),
  FLEETCAP_SPLITCAP_TOKENS: tokenList,
  FLEETCAP_SPLITCAP_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024 * 1024),
  FLEETCAP_SPLITCAP_MAX_READY_DEPTH: z.coerce.number().int().min(1).default(100_000),
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
  /** Seed of the Community ID stored with every session (and so in the verdict rows). */
  FLEETCAP_COMMUNITY_ID_SEED: communityIdSeed,
});

export type SplitcapConfig = z.infer<typeof splitcapEnv>;

export function loadSplitcapConfig(env: Env = process.env): SplitcapConfig {
  return parseEnv(splitcapEnv, env, 'splitcap');
}
