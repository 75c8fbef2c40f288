// forecast's settings from the environment, validated at startup.
import { parseEnv } from '@fleetcap/lib/config/connections';
import { z } from 'zod';

const forecastEnv = z.object({
  FLEETCAP_FORECAST_HOST: z.string().min(1).default('127.0.0.1'),
  /** 0 picks a free port (tests). */
  FLEETCAP_FORECAST_PORT: z.coerce.number().int().min(0).max(65535).default(8090),
  FLEETCAP_MODEL_PATH: z.string().min(1).default('model/model.onnx'),
  /** Default: beside the model, <name>-card.json. */
  FLEETCAP_MODEL_CARD_PATH: z.string().min(1).optional(),
  FLEETCAP_FORECAST_THREADS: z.coerce.number().int().min(1).max(64).default(1),
  FLEETCAP_FORECAST_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(1 << 30)
    .default(16 * 1024 * 1024),
  FLEETCAP_FORECAST_MAX_SESSIONS: z.coerce.number().int().min(1).max(100_000).default(1024),
  FLEETCAP_FORECAST_MAX_PACKETS: z.coerce.number().int().min(1).max(100_000).default(1024),
  FLEETCAP_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export type ForecastConfig = z.infer<typeof forecastEnv>;

export function loadForecastConfig(env: Record<string, string | undefined> = process.env): ForecastConfig {
  return parseEnv(forecastEnv, env, 'forecast');
}
