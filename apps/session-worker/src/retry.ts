// Retries a step that failed for a reason outside the message (a server away) with lib's backoff (exponential,
// jittered, capped), for as long as the worker runs: the messages stay unacknowledged meanwhile, so nothing is
// lost, and a worker that stops hands them back to RabbitMQ. An error that says the step itself can never
// pass (`retryable` answers false) is rethrown at once, for the caller to handle.
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay } from '@fleetcap/lib/runtime/backoff';

export interface RetryOptions {
  stage: string;
  onRetry: (stage: string, attempt: number, error: Error, waitMs: number) => void;
  isStopping: () => boolean;
  baseMs?: number;
  maxMs?: number;
  /** False for an error that retrying cannot cure: rethrown at once (default: every error is retried). */
  retryable?: (err: Error) => boolean;
}

export class StoppedWhileRetrying extends Error {
  override name = 'StoppedWhileRetrying';
}

export async function withRetry<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (o.retryable && !o.retryable(err as Error)) throw err;
      if (o.isStopping()) throw new StoppedWhileRetrying(`${o.stage}: stopping after ${(err as Error).message}`);
      const wait = backoffDelay(attempt, { baseMs: o.baseMs ?? 200, maxMs: o.maxMs ?? 10_000 });
      o.onRetry(o.stage, attempt, err as Error, wait);
      await sleep(wait);
    }
  }
}
