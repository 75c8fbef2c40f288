// forecast: wiring only (config, model, HTTP server, signals). The logic is in the modules beside it.
import { once } from 'node:events';
import { Classifier, ModelContractError } from '@fleetcap/lib/classifier/model';
import { ConfigError } from '@fleetcap/lib/config/connections';
import { createLogger } from '@fleetcap/lib/telemetry/logger';
import { loadForecastConfig } from './config.ts';
import { createHttpApp } from './http.ts';
import { createMetrics } from './metrics.ts';
import { RequestValidator } from './validate.ts';

const log = createLogger('forecast');

let config: ReturnType<typeof loadForecastConfig>;
let classifier: Classifier;
try {
  config = loadForecastConfig();
  classifier = await Classifier.load({
    modelPath: config.FLEETCAP_MODEL_PATH,
    ...(config.FLEETCAP_MODEL_CARD_PATH ? { cardPath: config.FLEETCAP_MODEL_CARD_PATH } : {}),
    threads: config.FLEETCAP_FORECAST_THREADS,
  });
} catch (err) {
  if (err instanceof ConfigError || err instanceof ModelContractError) {
    log.fatal(err.message);
    process.stderr.write(`forecast: refusing to start: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

const metrics = createMetrics();
let stopping = false;
const app = createHttpApp({
  classifier,
  validator: new RequestValidator({
    maxSessions: config.FLEETCAP_FORECAST_MAX_SESSIONS,
    maxPacketsPerSession: config.FLEETCAP_FORECAST_MAX_PACKETS,
  }),
  metrics,
  log,
  maxBodyBytes: config.FLEETCAP_FORECAST_MAX_BODY_BYTES,
  ready: () => !stopping,
});

const server = app.listen(config.FLEETCAP_FORECAST_PORT, config.FLEETCAP_FORECAST_HOST);
await once(server, 'listening');
server.keepAliveTimeout = 65_000;
const address = server.address();
const port = typeof address === 'object' && address ? address.port : config.FLEETCAP_FORECAST_PORT;
log.info(
  {
    host: config.FLEETCAP_FORECAST_HOST,
    port,
    model: config.FLEETCAP_MODEL_PATH,
    modelVersion: classifier.version,
    classes: classifier.classes,
    placeholder: classifier.card.placeholder === true,
  },
  'forecast listening',
);
if (classifier.card.placeholder)
  log.warn({ modelVersion: classifier.version }, 'serving a PLACEHOLDER model (see its model card)');
process.send?.({ type: 'listening', port });

async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'forecast stopping: finishing requests in flight');
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), 10_000);
  await closed;
  clearTimeout(timer);
  await classifier.release();
  log.info('forecast stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
