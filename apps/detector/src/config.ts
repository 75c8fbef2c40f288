// The detector stage's settings from the environment, validated at startup. Thresholds are not here: they are
// rows of detector_config (lib/src/detectors/config.ts), read every FLEETCAP_DETECTOR_CONFIG_REFRESH_MS.
import { type Env, parseEnv } from '@fleetcap/lib/config/connections';
import {
  durationMs,
  listenHost,
  queuePrefix,
  redisPrefix,
  telemetryPort,
  wholeNumber,
} from '@fleetcap/lib/config/env-schema';
import { z } from 'zod';

/**
 * Sessions per batch: one Redis script call per master and batch, and a subject seen several times in a batch is
 * read and written once, so a large subject (a scanner's window) costs per batch, not per session. 2048 fill in
 * 40 ms at 50,000 sessions/s; below that FLEETCAP_DETECTOR_BATCH_MS ends a batch first.
 */
export const DEFAULT_DETECTOR_BATCH_SIZE = 2048;

const detectorEnv = z
  .object({
    /** /healthz and /metrics: a free port by default (the ready signal and the log say which), or off. */
    FLEETCAP_DETECTOR_PORT: telemetryPort(0),
    FLEETCAP_DETECTOR_HOST: listenHost.default('127.0.0.1'),
    FLEETCAP_DETECTOR_PREFETCH: wholeNumber(1, 10_000).default(2 * DEFAULT_DETECTOR_BATCH_SIZE),
    FLEETCAP_DETECTOR_BATCH_SIZE: wholeNumber(1, 4096).default(DEFAULT_DETECTOR_BATCH_SIZE),
    FLEETCAP_DETECTOR_BATCH_MS: durationMs(0, 10_000).default(50),
    FLEETCAP_DETECTOR_CONFIG_REFRESH_MS: durationMs(100, 3_600_000).default(5000),
    FLEETCAP_REDIS_PREFIX: redisPrefix,
    FLEETCAP_QUEUE_PREFIX: queuePrefix,
  })
  .superRefine((c, ctx) => {
    if (c.FLEETCAP_DETECTOR_BATCH_SIZE > c.FLEETCAP_DETECTOR_PREFETCH) {
      ctx.addIssue({
        code: 'custom',
        path: ['FLEETCAP_DETECTOR_BATCH_SIZE'],
        message: `is over FLEETCAP_DETECTOR_PREFETCH=${c.FLEETCAP_DETECTOR_PREFETCH}: a batch could never fill; lower the batch size or raise the prefetch`,
      });
    }
  });

export type DetectorAppConfig = z.infer<typeof detectorEnv>;

export function loadDetectorConfig(env: Env = process.env): DetectorAppConfig {
  return parseEnv(detectorEnv, env, 'detector');
}
