// The API of splitcap: POST /v1/batches (/healthz and /metrics are lib's HTTP server's, in front of this app).
import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { BatchFormatError } from './batch-decoder.ts';
import type { Ingest } from './ingest.ts';
import type { SplitcapMetrics } from './metrics.ts';
import { SchedulerUnavailable } from './scheduler.ts';

export interface HttpDeps {
  ingest: Ingest;
  metrics: SplitcapMetrics;
  log: Logger;
  tokens: Map<string, string>;
  maxBodyBytes: number;
  /** Why uploads should wait now (RabbitMQ down, queue too deep), or undefined. */
  backpressure: () => string | undefined;
}

// tcpdump captures travel under these types; curl --data-binary sends form-urlencoded unless told otherwise.
const acceptedTypes = [
  'application/vnd.tcpdump.pcap',
  'application/x-pcapng',
  'application/octet-stream',
  'application/x-www-form-urlencoded',
];

const batchIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;
const retryAfterSeconds = '2';

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function problem(res: Response, status: number, error: string, extra: Record<string, unknown> = {}): void {
  res.status(status).json({ error, ...extra });
}

export function createHttpApp(deps: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  const tokenDigests = new Map([...deps.tokens].map(([agent, token]) => [agent, digest(token)]));

  const authenticate = (req: Request, res: Response, next: NextFunction) => {
    const agent = req.get('x-fleetcap-agent');
    const auth = req.get('authorization') ?? '';
    const match = /^Bearer (.+)$/.exec(auth);
    const expected = agent ? tokenDigests.get(agent) : undefined;
    // Compare digests in constant time, and compare even for unknown agents so timing says nothing.
    const given = digest(match?.[1] ?? '');
    const ok = timingSafeEqual(given, expected ?? digest('\0unknown')) && expected !== undefined && match !== null;
    if (!agent) return problem(res, 401, 'missing X-Fleetcap-Agent header: name the agent whose token you send');
    if (!ok) return problem(res, 401, `bad or missing bearer token for agent "${agent}"`);
    res.locals.agent = agent;
    next();
  };

  const checkShape = (req: Request, res: Response, next: NextFunction) => {
    const type = (req.get('content-type') ?? 'application/octet-stream').split(';')[0]!.trim().toLowerCase();
    if (!acceptedTypes.includes(type)) {
      return problem(
        res,
        415,
        `Content-Type ${type} is not a capture: send application/vnd.tcpdump.pcap (pcap or pcapng)`,
      );
    }
    const length = Number(req.get('content-length') ?? Number.NaN);
    if (length > deps.maxBodyBytes) {
      deps.metrics.batches.inc({ outcome: 'rejected' });
      return problem(
        res,
        413,
        `batch of ${length} bytes is over the limit of ${deps.maxBodyBytes} bytes: close batches sooner (fewer packets or milliseconds)`,
      );
    }
    const batchId = req.get('x-fleetcap-batch');
    if (batchId !== undefined && !batchIdPattern.test(batchId)) {
      return problem(res, 400, 'X-Fleetcap-Batch must be 1-128 characters of A-Z a-z 0-9 . _ : -');
    }
    const pressure = deps.backpressure();
    if (pressure) {
      deps.metrics.batches.inc({ outcome: 'unavailable' });
      res.set('Retry-After', retryAfterSeconds);
      return problem(res, 503, `not accepting batches now: ${pressure}; retry later`);
    }
    next();
  };

  app.post(
    '/v1/batches',
    authenticate,
    checkShape,
    express.raw({ type: () => true, limit: deps.maxBodyBytes }),
    async (req: Request, res: Response) => {
      const started = process.hrtime.bigint();
      const agent = res.locals.agent as string;
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      // Without a batch id, the content names the batch: the same file sent twice is one batch.
      const batchId = req.get('x-fleetcap-batch') ?? `sha256-${createHash('sha256').update(body).digest('hex')}`;
      try {
        const result = await deps.ingest.ingest(agent, batchId, body);
        res.status(202).json({ batchId, ...result });
      } catch (err) {
        if (err instanceof BatchFormatError) {
          deps.metrics.batches.inc({ outcome: 'rejected' });
          deps.log.warn({ agent, batchId, err: err.message }, 'rejected a malformed batch');
          return problem(res, 400, err.message, { batchId });
        }
        deps.metrics.batches.inc({ outcome: 'unavailable' });
        const why = err instanceof SchedulerUnavailable ? err.message : `Redis: ${(err as Error).message}`;
        deps.log.error({ agent, batchId, err: why }, 'batch not stored; the agent will retry');
        res.set('Retry-After', retryAfterSeconds);
        return problem(res, 503, `batch not stored: ${why}; retry later (the same batch id is safe to resend)`, {
          batchId,
        });
      } finally {
        deps.metrics.ingestSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      }
    },
  );

  // body-parser's errors (too large, aborted) keep their status; anything else is ours to report.
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    if (err.type === 'entity.too.large') {
      deps.metrics.batches.inc({ outcome: 'rejected' });
      return problem(res, 413, `batch is over the limit of ${deps.maxBodyBytes} bytes: close batches sooner`);
    }
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 500) deps.log.error({ err }, 'unexpected error');
    problem(res, status, err.message);
  });
  return app;
}
