// The API of forecast: POST /v1/forecast, GET /v1/model (/healthz and /metrics are lib's HTTP server's, in front of
// this app).
import { bearerMatches } from '@fleetcap/lib/auth/bearer';
import type { Classifier } from '@fleetcap/lib/classifier/model';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { ForecastMetrics } from './metrics.ts';
import { RequestError, type RequestValidator } from './validate.ts';

export interface HttpDeps {
  classifier: Classifier;
  validator: RequestValidator;
  metrics: ForecastMetrics;
  log: Logger;
  maxBodyBytes: number;
  /** When set, every /v1 request must carry `Authorization: Bearer <token>`. */
  token?: string;
}

function problem(res: Response, status: number, error: string, extra: Record<string, unknown> = {}): void {
  res.status(status).json({ error, ...extra });
}

export function createHttpApp(deps: HttpDeps): express.Express {
  const { classifier, validator, metrics, log } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');

  if (deps.token !== undefined) {
    const token = deps.token;
    app.use('/v1', (req: Request, res: Response, next: NextFunction) => {
      if (bearerMatches(req.get('authorization'), token)) return next();
      metrics.authRefusals.inc();
      log.warn(
        { code: 'forecast.auth-refused', remote: req.socket.remoteAddress, path: req.path },
        'request refused: no or a wrong bearer token',
      );
      problem(
        res,
        401,
        'a bearer token is required: Authorization: Bearer <FLEETCAP_FORECAST_TOKEN_FILE of the worker>',
      );
    });
  }

  app.get('/v1/model', (_req, res) => {
    res.json(classifier.cardJson);
  });

  const json = express.json({ limit: deps.maxBodyBytes, type: ['application/json', 'application/*+json'] });

  app.post('/v1/forecast', (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      metrics.requests.inc({ status: String(res.statusCode) });
      metrics.latency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    });
    const type = (req.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json' && !type.endsWith('+json')) {
      return problem(
        res,
        415,
        `Content-Type ${type || '(none)'} is not JSON: send application/json {"sessions": [...]}`,
      );
    }
    const length = Number(req.get('content-length') ?? Number.NaN);
    if (length > deps.maxBodyBytes) {
      return problem(
        res,
        413,
        `body of ${length} bytes is over the limit of ${deps.maxBodyBytes} bytes: send fewer sessions per request`,
      );
    }
    next();
  });

  app.post('/v1/forecast', json, async (req: Request, res: Response) => {
    let sessions: ReturnType<RequestValidator['sessions']>;
    try {
      sessions = validator.sessions(req.body);
    } catch (err) {
      if (err instanceof RequestError) {
        return problem(res, 400, err.message, {
          path: err.path,
          ...(err.session !== undefined ? { session: err.session } : {}),
        });
      }
      throw err;
    }
    const t0 = process.hrtime.bigint();
    const verdicts = await classifier.classify(sessions);
    metrics.inference.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    metrics.sessions.inc(sessions.length);
    metrics.batchSize.observe(sessions.length);
    const perLabel = new Map<string, number>();
    const alertsPerLabel = new Map<string, number>();
    let unknown = 0;
    for (const v of verdicts) {
      perLabel.set(v.label, (perLabel.get(v.label) ?? 0) + 1);
      if (v.alert) alertsPerLabel.set(v.label, (alertsPerLabel.get(v.label) ?? 0) + 1);
      if (v.unknown) unknown++;
    }
    for (const [label, n] of perLabel) metrics.verdicts.inc({ label }, n);
    for (const [label, n] of alertsPerLabel) metrics.alerts.inc({ label }, n);
    if (unknown > 0) metrics.unknown.inc(unknown);
    res.json({ modelVersion: classifier.version, results: verdicts });
  });

  app.use((_req: Request, res: Response) => {
    problem(res, 404, 'not found: POST /v1/forecast, GET /v1/model, /healthz, /metrics');
  });

  // Body parser errors carry a status: 400 for bad JSON, 413 over the limit.
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    if (err.type === 'entity.parse.failed') return problem(res, 400, `body is not valid JSON: ${err.message}`);
    if (err.type === 'entity.too.large') {
      return problem(res, 413, `body is over the limit of ${deps.maxBodyBytes} bytes: send fewer sessions per request`);
    }
    if (err.status && err.status >= 400 && err.status < 500) return problem(res, err.status, err.message);
    log.error({ err }, 'forecast request failed');
    problem(res, 500, `forecast failed: ${err.message}`);
  });

  return app;
}
