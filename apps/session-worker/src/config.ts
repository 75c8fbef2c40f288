// session-worker's settings from the environment, validated at startup.

import { type Env, parseEnv } from '@fleetcap/lib/config/connections';
import {
  durationMs,
  durationSeconds,
  listenHost,
  queuePrefix,
  redisPrefix,
  telemetryPort,
} from '@fleetcap/lib/config/env-schema';
import { z } from 'zod';

const workerEnv = z
  .object({
    FLEETCAP_FORECAST_URL: z.string().url().default('http://127.0.0.1:8090'),
    /** forecast's bearer token (a 0600 file), when forecast has one. */
    FLEETCAP_FORECAST_TOKEN_FILE: z.string().min(1).optional(),
    FLEETCAP_WORKER_PREFETCH: z.coerce.number().int().min(1).max(10_000).default(512),
    FLEETCAP_WORKER_BATCH_SIZE: z.coerce.number().int().min(1).max(2048).default(256),
    FLEETCAP_WORKER_BATCH_MS: durationMs(0, 10_000).default(20),
    FLEETCAP_WORKER_CONCURRENT_BATCHES: z.coerce.number().int().min(1).max(16).default(2),
    /** /healthz and /metrics: a free port by default (the ready signal and the log say which), or off. */
    FLEETCAP_WORKER_PORT: telemetryPort(0),
    FLEETCAP_WORKER_HOST: listenHost.default('127.0.0.1'),
    FLEETCAP_FORECAST_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
    FLEETCAP_DONE_TTL_SECONDS: z.coerce.number().int().min(1).default(120),
    /** How often the partition maintenance and retention runs (sql/016; retention_policy holds the periods). */
    FLEETCAP_RETENTION_INTERVAL_MS: durationMs(1000, 86_400_000).default(600_000),
    /**
     * Time between two looks of the sweeper at a connection that goes on (record-sweeper.ts); the done marker of an
     * open connection is kept for two of them (or FLEETCAP_DONE_TTL_SECONDS when longer).
     */
    FLEETCAP_RECORD_SWEEP_MS: durationMs(100, 600_000).default(30_000),
    /** A connection quiet this long is over and its row completed (Zeek's tcp/udp_inactivity_timeout). */
    FLEETCAP_TCP_INACTIVITY_TIMEOUT_S: durationSeconds(1, 86_400).default(300),
    FLEETCAP_UDP_INACTIVITY_TIMEOUT_S: durationSeconds(1, 86_400).default(60),
    FLEETCAP_REDIS_PREFIX: redisPrefix,
    FLEETCAP_QUEUE_PREFIX: queuePrefix,
  })
  .superRefine((c, ctx) => {
    if (c.FLEETCAP_WORKER_BATCH_SIZE > c.FLEETCAP_WORKER_PREFETCH) {
      ctx.addIssue({
        code: 'custom',
        path: ['FLEETCAP_WORKER_BATCH_SIZE'],
        message: `is over FLEETCAP_WORKER_PREFETCH=${c.FLEETCAP_WORKER_PREFETCH}: a batch could never fill; lower the batch size or raise the prefetch`,
      });
    }
  });

export type WorkerConfig = z.infer<typeof workerEnv>;

export function loadWorkerConfig(env: Env = process.env): WorkerConfig {
  return parseEnv(workerEnv, env, 'session-worker');
}
