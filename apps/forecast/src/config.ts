// forecast's settings from the environment, validated at startup.
import { type Env, parseEnv } from '@fleetcap/lib/config/connections';
import { listenHost, listenPort } from '@fleetcap/lib/config/env-schema';
import { z } from 'zod';

const forecastEnv = z.object({
  FLEETCAP_FORECAST_HOST: listenHost.default('127.0.0.1'),
  FLEETCAP_FORECAST_PORT: listenPort(8090),
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
});

export type ForecastConfig = z.infer<typeof forecastEnv>;

export function loadForecastConfig(env: Env = process.env): ForecastConfig {
  return parseEnv(forecastEnv, env, 'forecast');
}
