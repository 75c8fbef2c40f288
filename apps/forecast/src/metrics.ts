// forecast's Prometheus metrics, on its own registry (served at GET /metrics).
import { counter, createRegistry, histogram, type Registry } from '@fleetcap/lib/telemetry/metrics';

export interface ForecastMetrics {
  registry: Registry;
  requests: ReturnType<typeof counter>;
  authRefusals: ReturnType<typeof counter>;
  sessions: ReturnType<typeof counter>;
  verdicts: ReturnType<typeof counter>;
  alerts: ReturnType<typeof counter>;
  unknown: ReturnType<typeof counter>;
  latency: ReturnType<typeof histogram>;
  inference: ReturnType<typeof histogram>;
  batchSize: ReturnType<typeof histogram>;
}

export function createMetrics(): ForecastMetrics {
  const registry = createRegistry('forecast');
  return {
    registry,
    requests: counter(registry, 'fleetcap_forecast_requests_total', 'POST /v1/forecast requests by HTTP status', [
      'status',
    ]),
    authRefusals: counter(
      registry,
      'fleetcap_forecast_auth_refusals_total',
      'API requests refused for a missing or wrong bearer token (FLEETCAP_FORECAST_TOKEN_FILE)',
    ),
    sessions: counter(registry, 'fleetcap_forecast_sessions_total', 'Sessions classified'),
    verdicts: counter(registry, 'fleetcap_forecast_verdicts_total', 'Sessions classified, by label', ['label']),
    alerts: counter(registry, 'fleetcap_forecast_alerts_total', "Sessions the card's alert policy alerts, by label", [
      'label',
    ]),
    unknown: counter(
      registry,
      'fleetcap_forecast_unknown_total',
      "Sessions unlike what the model knows (top probability under the alert policy's floor): never alerts",
    ),
    latency: histogram(
      registry,
      'fleetcap_forecast_request_duration_seconds',
      'POST /v1/forecast time from request to answer (body read, validation, features, model, JSON)',
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    ),
    inference: histogram(
      registry,
      'fleetcap_forecast_inference_duration_seconds',
      'Features and one model run per request',
      [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    ),
    batchSize: histogram(
      registry,
      'fleetcap_forecast_batch_sessions',
      'Sessions per request',
      [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    ),
  };
}
