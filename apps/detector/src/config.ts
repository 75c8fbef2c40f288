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

const detectorEnv = z
  .object({
    /** /healthz and /metrics: a free port by default (the ready signal and the log say which), or off. */
    FLEETCAP_DETECTOR_PORT: telemetryPort(0),
    FLEETCAP_DETECTOR_HOST: listenHost.default('127.0.0.1'),
    FLEETCAP_DETECTOR_PREFETCH: wholeNumber(1, 10_000).default(1024),
    FLEETCAP_DETECTOR_BATCH_SIZE: wholeNumber(1, 4096).default(512),
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
