// forecast's settings from the environment, validated at startup.

import { readSecretFile } from '@fleetcap/lib/auth/agent-credential';
import { isLoopbackHost } from '@fleetcap/lib/auth/bearer';
import { ConfigError, type Env, parseEnv } from '@fleetcap/lib/config/connections';
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
  /** The bearer token the session-workers send (a 0600 file): needed to listen beyond loopback. */
  FLEETCAP_FORECAST_TOKEN_FILE: z.string().min(1).optional(),
});

export type ForecastConfig = z.infer<typeof forecastEnv>;

export function loadForecastConfig(env: Env = process.env): ForecastConfig {
  const config = parseEnv(forecastEnv, env, 'forecast');
  if (config.FLEETCAP_FORECAST_TOKEN_FILE === undefined && !isLoopbackHost(config.FLEETCAP_FORECAST_HOST))
    throw new ConfigError(
      `forecast would listen on ${config.FLEETCAP_FORECAST_HOST} with no credential: set FLEETCAP_FORECAST_TOKEN_FILE (and the workers' too), or FLEETCAP_FORECAST_HOST=127.0.0.1`,
    );
  return config;
}

/** forecast's bearer token, when it has one. */
export function forecastToken(config: ForecastConfig): string | undefined {
  const file = config.FLEETCAP_FORECAST_TOKEN_FILE;
  if (file === undefined) return undefined;
  try {
    return readSecretFile(file, 'FLEETCAP_FORECAST_TOKEN_FILE');
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}
