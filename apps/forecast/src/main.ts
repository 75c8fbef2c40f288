// forecast: wiring only (config, model, modules, runtime). The logic is in the modules beside it.
import { Classifier, ModelContractError } from '@fleetcap/lib/classifier/model';
import { check } from '@fleetcap/lib/runtime/health';
import { startHttpServer } from '@fleetcap/lib/runtime/http-server';
import { signalReady } from '@fleetcap/lib/runtime/ready';
import { onShutdown } from '@fleetcap/lib/runtime/shutdown';
import { loadEnvOrExit, refuseToStart } from '@fleetcap/lib/runtime/startup';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import { forecastToken, loadForecastConfig } from './config.ts';
import { createHttpApp } from './http.ts';
import { createMetrics } from './metrics.ts';
import { RequestValidator } from './validate.ts';

const log = createLogger('forecast');
const { config } = loadEnvOrExit(log, 'forecast', { config: loadForecastConfig });
// A model that does not fit the feature code never serves: refused like a bad setting.
const classifier = await Classifier.load({
  modelPath: config.FLEETCAP_MODEL_PATH,
  ...(config.FLEETCAP_MODEL_CARD_PATH ? { cardPath: config.FLEETCAP_MODEL_CARD_PATH } : {}),
  threads: config.FLEETCAP_FORECAST_THREADS,
}).catch((err: Error) =>
  err instanceof ModelContractError ? refuseToStart(log, 'forecast', err) : Promise.reject(err),
);
const shutdown = onShutdown({ log, doing: 'finishing requests in flight', deadlineMs: 15_000 });

const metrics = createMetrics();
const api = createHttpApp({
  classifier,
  validator: new RequestValidator({
    maxSessions: config.FLEETCAP_FORECAST_MAX_SESSIONS,
    maxPacketsPerSession: config.FLEETCAP_FORECAST_MAX_PACKETS,
  }),
  metrics,
  log,
  maxBodyBytes: config.FLEETCAP_FORECAST_MAX_BODY_BYTES,
  ...(config.FLEETCAP_FORECAST_TOKEN_FILE ? { token: forecastToken(config)! } : {}),
});

const server = await startHttpServer({
  port: config.FLEETCAP_FORECAST_PORT,
  host: config.FLEETCAP_FORECAST_HOST,
  registry: metrics.registry,
  api,
  // Longer than the workers' idle sockets live, so that they close first.
  keepAliveTimeoutMs: 65_000,
  // 503 once shutting down, so that balancers stop sending.
  health: () => ({ model: check(!shutdown.stopping, 'forecast is shutting down') }),
});
shutdown.add('requests in flight', () => server.close(10_000)).add('model', () => classifier.release());
signalReady(log, 'forecast', server.port, {
  host: config.FLEETCAP_FORECAST_HOST,
  model: config.FLEETCAP_MODEL_PATH,
  modelVersion: classifier.version,
  classes: classifier.classes,
  placeholder: classifier.card.placeholder === true,
  alertPolicy: classifier.card.alertPolicy === undefined ? 'none in the card: every attack label alerts' : 'card',
});
if (classifier.card.alertPolicy === undefined)
  log.warn(
    { code: 'forecast.no-alert-policy', modelVersion: classifier.version },
    "the model card has no alertPolicy: every non-benign label is an alert (retrain for the card's thresholds)",
  );
if (classifier.card.placeholder)
  log.warn({ modelVersion: classifier.version }, 'serving a PLACEHOLDER model (see its model card)');
