// Retry timing for uploads: exponential backoff with full jitter, and the server's Retry-After when it says more.

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

/**
 * Delay before retry number `attempt` (1 = first retry): a uniformly random value in [base/2, min(max, base·2^(a-1))]
 * ("full jitter" with a floor, so that retries never hammer the server back-to-back).
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const exp = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  const floor = Math.min(exp, options.baseMs / 2);
  return Math.round(floor + random() * (exp - floor));
}

/** The wait after a retryable failure: the jittered backoff, or Retry-After if longer, never more than capMs. */
export function retryWait(
  attempt: number,
  options: BackoffOptions,
  retryAfterMs: number | undefined,
  capMs: number,
  random?: () => number,
): number {
  const jittered = backoffDelay(attempt, options, random);
  return Math.min(capMs, Math.max(jittered, retryAfterMs ?? 0));
}
