// session-worker's settings from the environment, validated at startup.

import { parseEnv } from '@fleetcap/lib/config/connections';
import { z } from 'zod';

const workerEnv = z.object({
  FLEETCAP_FORECAST_URL: z.string().url().default('http://127.0.0.1:8090'),
  FLEETCAP_WORKER_PREFETCH: z.coerce.number().int().min(1).max(10_000).default(512),
  FLEETCAP_WORKER_BATCH_SIZE: z.coerce.number().int().min(1).max(2048).default(256),
  FLEETCAP_WORKER_BATCH_MS: z.coerce.number().int().min(0).max(10_000).default(20),
  FLEETCAP_WORKER_CONCURRENT_BATCHES: z.coerce.number().int().min(1).max(16).default(2),
  /** /healthz and /metrics; 0 picks a free port (logged). */
  FLEETCAP_WORKER_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  /** The address they listen on: loopback here, 0.0.0.0 in a container that Prometheus scrapes. */
  FLEETCAP_WORKER_HOST: z.string().min(1).default('127.0.0.1'),
  FLEETCAP_FORECAST_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  FLEETCAP_DONE_TTL_SECONDS: z.coerce.number().int().min(1).default(120),
  FLEETCAP_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,32}$/)
    .default('fc'),
  FLEETCAP_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .default('fleetcap'),
});

export type WorkerConfig = z.infer<typeof workerEnv>;

export function loadWorkerConfig(env: Record<string, string | undefined> = process.env): WorkerConfig {
  const c = parseEnv(workerEnv, env, 'session-worker');
  if (c.FLEETCAP_WORKER_BATCH_SIZE > c.FLEETCAP_WORKER_PREFETCH) {
    throw new Error(
      `FLEETCAP_WORKER_BATCH_SIZE=${c.FLEETCAP_WORKER_BATCH_SIZE} is over FLEETCAP_WORKER_PREFETCH=${c.FLEETCAP_WORKER_PREFETCH}: a batch could never fill; lower the batch size or raise the prefetch`,
    );
  }
  return c;
}
