// Retry timing, the same everywhere a process waits before trying again (uploads, reconnects, restarts, retried
// steps): exponential backoff with a cap and jitter, and the server's Retry-After when it asks for longer
// (parsed by the upload contract, lib/src/upload/batch-upload.ts).

export interface BackoffPolicy {
  /** The first wait (at most). */
  baseMs: number;
  /** No wait is longer. */
  maxMs: number;
}

/**
 * The wait before retry number `attempt` (1 = the first retry): a uniformly random value in the upper half of
 * min(max, base·2^(attempt-1)). The jitter spreads processes that failed together (every agent when splitcap went
 * away); the floor keeps retries from hammering a server back-to-back.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** The wait after a retryable failure: the jittered backoff, or Retry-After if longer, never more than capMs. */
export function retryWait(
  attempt: number,
  policy: BackoffPolicy,
  retryAfterMs: number | undefined,
  capMs: number,
  random?: () => number,
): number {
  const jittered = backoffDelay(attempt, policy, random);
  return Math.min(capMs, Math.max(jittered, retryAfterMs ?? 0));
}
