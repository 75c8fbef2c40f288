// The limits that keep one upload, or many at once, from taking splitcap down (issue 19: a 63 MiB pcap of
// 1.1 M single-packet flows grew splitcap to 4.5 GB and killed it): sessions per batch, uploads in progress, and
// Redis memory (redis-memory-guard.ts). Each refusal names its limit and what to do, and is counted by limit in
// fleetcap_splitcap_limit_refusals_total.

import type { Registry } from '@fleetcap/lib/telemetry/metrics';
import { Counter, Gauge } from '@fleetcap/lib/telemetry/metrics';
import {
  RETRY_AFTER_SECONDS,
  UPLOAD_HEADERS,
  type UploadProblem,
  UploadStatus,
} from '@fleetcap/lib/upload/batch-upload';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

const LOG_EVERY_MS = 10_000;

export type UploadLimit = 'sessions-per-batch' | 'concurrent-uploads' | 'redis-memory';

export function createLimitMetrics(registry: Registry) {
  return {
    refusals: new Counter({
      name: 'fleetcap_splitcap_limit_refusals_total',
      help: 'Uploads refused by a limit: sessions-per-batch (422), concurrent-uploads and redis-memory (503)',
      labelNames: ['limit'] as const,
      registers: [registry],
    }),
    uploadsInFlight: new Gauge({
      name: 'fleetcap_splitcap_uploads_in_flight',
      help: 'Uploads admitted and not yet answered (at most FLEETCAP_SPLITCAP_MAX_CONCURRENT_UPLOADS)',
      registers: [registry],
    }),
    redisMemoryUsed: new Gauge({
      name: 'fleetcap_splitcap_redis_memory_used_bytes',
      help: "Redis used_memory at splitcap's last INFO memory",
      registers: [registry],
    }),
    redisMemoryLimit: new Gauge({
      name: 'fleetcap_splitcap_redis_memory_limit_bytes',
      help: 'The memory Redis may use (its maxmemory, else FLEETCAP_SPLITCAP_REDIS_MEMORY_LIMIT_BYTES; 0: none)',
      registers: [registry],
    }),
  };
}
export type LimitMetrics = ReturnType<typeof createLimitMetrics>;

/**
 * A batch with more sessions than the limit. Thrown by the decoder as soon as the first session over it appears, so
 * a flood costs at most `limit` sessions of memory and is refused in about a second, not after minutes of work.
 */
export class SessionLimitError extends Error {
  override name = 'SessionLimitError';
  constructor(
    readonly limit: number,
    readonly packetsRead: number,
  ) {
    super(
      `the capture holds more than ${limit} sessions (FLEETCAP_SPLITCAP_MAX_SESSIONS_PER_BATCH, reached at packet ${packetsRead}): upload it in smaller batches (a sniffer's batchPackets at most ${limit}; a file split with editcap -c ${limit}) or raise the limit`,
    );
  }
}

/** The answer to a SessionLimitError: final for the sender (the same bytes would be refused again). */
export function sessionLimitProblem(err: SessionLimitError, batchId: string): UploadProblem {
  return { error: err.message, batchId, reason: 'too-many-sessions' };
}

/**
 * At most `max` uploads between admission and answer; the next gets 503 with Retry-After before its body is read,
 * so the memory of uploads in progress is bounded by max × (body limit + sessions limit), whatever the clients do.
 */
export function concurrentUploadsGate(
  max: number,
  metrics: LimitMetrics,
  log: Logger,
  now: () => number = Date.now,
): RequestHandler {
  let inFlight = 0;
  // One log line per LOG_EVERY_MS at most, with the count since the last: a flood of retries is not a flood of logs.
  let refusedSinceLog = 0;
  let loggedAt = Number.NEGATIVE_INFINITY;
  return (_req, res, next) => {
    if (inFlight >= max) {
      metrics.refusals.inc({ limit: 'concurrent-uploads' });
      refusedSinceLog++;
      if (now() - loggedAt >= LOG_EVERY_MS) {
        log.warn(
          { code: 'splitcap.uploads-busy', max, refused: refusedSinceLog },
          'refused uploads: FLEETCAP_SPLITCAP_MAX_CONCURRENT_UPLOADS uploads are in progress',
        );
        loggedAt = now();
        refusedSinceLog = 0;
      }
      res.set(UPLOAD_HEADERS.retryAfter, String(RETRY_AFTER_SECONDS));
      const body: UploadProblem = {
        error: `${max} uploads are in progress (FLEETCAP_SPLITCAP_MAX_CONCURRENT_UPLOADS): retry after the Retry-After seconds, with the same batch id`,
        reason: 'busy',
      };
      res.status(UploadStatus.unavailable).json(body);
      return;
    }
    inFlight++;
    metrics.uploadsInFlight.set(inFlight);
    let released = false;
    // 'close' follows the answer, and also a client that goes away before it: either frees the slot, once.
    res.on('close', () => {
      if (released) return;
      released = true;
      inFlight--;
      metrics.uploadsInFlight.set(inFlight);
    });
    next();
  };
}
