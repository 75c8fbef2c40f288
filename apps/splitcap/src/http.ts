// The API of splitcap: POST /v1/batches (its contract: lib/src/upload/batch-upload.ts; /healthz and /metrics are
// lib's HTTP server's, in front of this app).
import { createHash } from 'node:crypto';
import {
  BATCH_ID_PATTERN,
  BATCHES_PATH,
  type BatchAccepted,
  bearerToken,
  isAcceptedContentType,
  mediaType,
  RETRY_AFTER_SECONDS,
  UPLOAD_HEADERS,
  type UploadProblem,
  UploadStatus,
} from '@fleetcap/lib/upload/batch-upload';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { AgentAuth } from './agent-auth.ts';
import { BatchFormatError } from './batch-decoder.ts';
import { RecordConflict } from './connection-recorder.ts';
import type { Ingest } from './ingest.ts';
import type { SplitcapMetrics } from './metrics.ts';
import { SchedulerUnavailable } from './scheduler.ts';
import { type LimitMetrics, SessionLimitError, sessionLimitProblem } from './upload-limits.ts';

export interface HttpDeps {
  ingest: Ingest;
  metrics: SplitcapMetrics;
  log: Logger;
  /** Which agent a token is (agent-auth.ts: the agent_credential table and FLEETCAP_SPLITCAP_TOKENS). */
  auth: AgentAuth;
  maxBodyBytes: number;
  /** Why uploads should wait now (RabbitMQ down, queue too deep), or undefined. */
  backpressure: () => string | undefined;
  /** Admits an upload or answers 503 (upload-limits.ts: concurrentUploadsGate); runs before the body is read. */
  uploadGate?: express.RequestHandler;
  limitMetrics?: LimitMetrics;
}

function problem(res: Response, status: number, error: string, extra: Omit<UploadProblem, 'error'> = {}): void {
  const body: UploadProblem = { error, ...extra };
  res.status(status).json(body);
}

export function createHttpApp(deps: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // One log line per reason and agent every 10 s at most: a flood of forged tokens must not flood the log.
  const lastLogged = new Map<string, number>();
  const authenticate = (req: Request, res: Response, next: NextFunction) => {
    const agent = req.get(UPLOAD_HEADERS.agent);
    const result = deps.auth.check(agent, bearerToken(req.get(UPLOAD_HEADERS.authorization)));
    if (result.ok) {
      res.locals.agent = agent;
      return next();
    }
    deps.metrics.authRefusals.inc({ reason: result.reason });
    const key = `${result.reason}/${agent ?? ''}`;
    const now = Date.now();
    if ((lastLogged.get(key) ?? 0) + 10_000 <= now) {
      if (lastLogged.size > 10_000) lastLogged.clear();
      lastLogged.set(key, now);
      deps.log.warn(
        {
          code: `splitcap.auth.${result.reason}`,
          agent,
          tokenAgent: result.tokenAgent,
          remote: req.socket.remoteAddress,
        },
        `upload refused: ${result.message}`,
      );
    }
    if (result.reason === 'not-loaded') {
      // Not the agent's fault: it keeps the batch and retries.
      res.set(UPLOAD_HEADERS.retryAfter, String(RETRY_AFTER_SECONDS));
      return problem(res, UploadStatus.unavailable, result.message);
    }
    return problem(res, UploadStatus.unauthenticated, result.message);
  };

  const checkShape = (req: Request, res: Response, next: NextFunction) => {
    const contentType = req.get(UPLOAD_HEADERS.contentType);
    if (!isAcceptedContentType(contentType)) {
      return problem(
        res,
        UploadStatus.unsupportedType,
        `Content-Type ${mediaType(contentType)} is not a capture: send application/vnd.tcpdump.pcap (pcap or pcapng)`,
      );
    }
    const length = Number(req.get('content-length') ?? Number.NaN);
    if (length > deps.maxBodyBytes) {
      deps.metrics.batches.inc({ outcome: 'rejected' });
      return problem(
        res,
        UploadStatus.tooLarge,
        `batch of ${length} bytes is over the limit of ${deps.maxBodyBytes} bytes: close batches sooner (fewer packets or milliseconds)`,
      );
    }
    const batchId = req.get(UPLOAD_HEADERS.batch);
    if (batchId !== undefined && !BATCH_ID_PATTERN.test(batchId)) {
      return problem(res, UploadStatus.malformed, 'X-Fleetcap-Batch must be 1-128 characters of A-Z a-z 0-9 . _ : -');
    }
    const pressure = deps.backpressure();
    if (pressure) {
      deps.metrics.batches.inc({ outcome: 'unavailable' });
      res.set(UPLOAD_HEADERS.retryAfter, String(RETRY_AFTER_SECONDS));
      return problem(res, UploadStatus.unavailable, `not accepting batches now: ${pressure}; retry later`);
    }
    next();
  };

  app.post(
    BATCHES_PATH,
    authenticate,
    checkShape,
    deps.uploadGate ?? ((_req: Request, _res: Response, next: NextFunction) => next()),
    express.raw({ type: () => true, limit: deps.maxBodyBytes }),
    async (req: Request, res: Response) => {
      const started = process.hrtime.bigint();
      const agent = res.locals.agent as string;
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      // Without a batch id, the content names the batch: the same file sent twice is one batch.
      const batchId = req.get(UPLOAD_HEADERS.batch) ?? `sha256-${createHash('sha256').update(body).digest('hex')}`;
      try {
        const accepted: BatchAccepted = { batchId, ...(await deps.ingest.ingest(agent, batchId, body)) };
        if (accepted.timeOutOfRange)
          deps.log.warn(
            {
              code: 'splitcap.time-out-of-range',
              agent,
              batchId,
              packets: accepted.skipped['time-out-of-range'],
              ...accepted.timeOutOfRange,
            },
            'skipped packets captured outside 1990-01-01 to one day past this clock (see the 202 body)',
          );
        const wireBelow = accepted.skipped['wire-length-below-captured'] ?? 0;
        if (wireBelow > 0)
          deps.log.warn(
            { code: 'splitcap.wire-length-below-captured', agent, batchId, packets: wireBelow },
            'skipped packet records whose original length is below their captured length (a broken capture writer); counted in packet_drop',
          );
        const wireOver = accepted.skipped['wire-length-over-max'] ?? 0;
        if (wireOver > 0)
          deps.log.warn(
            { code: 'splitcap.wire-length-over-max', agent, batchId, packets: wireOver },
            'skipped packet records whose original length is over 2^31-1 bytes (a broken capture writer); counted in packet_drop',
          );
        res.status(UploadStatus.accepted).json(accepted);
      } catch (err) {
        if (err instanceof BatchFormatError) {
          deps.metrics.batches.inc({ outcome: 'rejected' });
          deps.log.warn({ agent, batchId, err: err.message }, 'rejected a malformed batch');
          return problem(res, UploadStatus.malformed, err.message, { batchId });
        }
        if (err instanceof SessionLimitError) {
          deps.metrics.batches.inc({ outcome: 'rejected' });
          deps.limitMetrics?.refusals.inc({ limit: 'sessions-per-batch' });
          deps.log.warn(
            { code: 'splitcap.too-many-sessions', agent, batchId, limit: err.limit, packetsRead: err.packetsRead },
            'refused a batch with more sessions than FLEETCAP_SPLITCAP_MAX_SESSIONS_PER_BATCH',
          );
          return res.status(UploadStatus.unprocessable).json(sessionLimitProblem(err, batchId));
        }
        deps.metrics.batches.inc({ outcome: 'unavailable' });
        const why =
          err instanceof SchedulerUnavailable || err instanceof RecordConflict
            ? err.message
            : `Redis: ${(err as Error).message}`;
        deps.log.error({ agent, batchId, err: why }, 'batch not stored; the agent will retry');
        res.set(UPLOAD_HEADERS.retryAfter, String(RETRY_AFTER_SECONDS));
        return problem(
          res,
          UploadStatus.unavailable,
          `batch not stored: ${why}; retry later (the same batch id is safe to resend)`,
          {
            batchId,
          },
        );
      } finally {
        deps.metrics.ingestSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      }
    },
  );

  // body-parser's errors (too large, aborted) keep their status; anything else is ours to report.
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    if (err.type === 'entity.too.large') {
      deps.metrics.batches.inc({ outcome: 'rejected' });
      return problem(
        res,
        UploadStatus.tooLarge,
        `batch is over the limit of ${deps.maxBodyBytes} bytes: close batches sooner`,
      );
    }
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 500) deps.log.error({ err }, 'unexpected error');
    problem(res, status, err.message);
  });
  return app;
}
