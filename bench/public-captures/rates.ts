// The exact (Clopper-Pearson) upper bound of a binomial rate: the p at which seeing `events` or fewer in `trials`
// has probability (1 - confidence) / 2. With no event it is 1 - 0.025^(1/n), close to the rule of three's 3/n.

function logBinomialCdf(k: number, n: number, p: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return k >= n ? 0 : Number.NEGATIVE_INFINITY;
  // log P(X <= k) by summing the terms in log space from i = 0 (k is small: a count of false alarms).
  let logTerm = n * Math.log1p(-p);
  let logSum = logTerm;
  for (let i = 1; i <= k; i += 1) {
    logTerm += Math.log((n - i + 1) / i) + Math.log(p) - Math.log1p(-p);
    logSum = Math.max(logSum, logTerm) + Math.log1p(Math.exp(-Math.abs(logSum - logTerm)));
  }
  return logSum;
}

export function clopperPearsonUpper(events: number, trials: number, confidence = 0.95): number {
  if (!Number.isInteger(events) || !Number.isInteger(trials) || events < 0 || trials <= 0 || events > trials) {
    throw new RangeError(`clopperPearsonUpper: ${events} events in ${trials} trials is not a count`);
  }
  if (events === trials) return 1;
  const target = Math.log((1 - confidence) / 2);
  let lo = events / trials;
  let hi = 1;
  for (let i = 0; i < 100; i += 1) {
    const mid = (lo + hi) / 2;
    if (logBinomialCdf(events, trials, mid) > target) lo = mid;
    else hi = mid;
  }
  return hi;
}
