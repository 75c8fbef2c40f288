// The settings every property test (fast-check, `*.property.test.ts`) runs with, so that one variable turns the CI
// run into the long one and one replays a failure:
//   FLEETCAP_FUZZ_RUNS=N   runs per property instead of its CI default (the long mode: npm run fuzz, 100000 each)
//   FLEETCAP_FUZZ_SEED=S   the seed (fast-check prints it, with the path, in every failure)
// Without them each property has its own small default (the CI total is over 10,000 cases in a few seconds) and a
// fixed seed, so CI is deterministic; the long mode takes a random seed unless one is given.
import type { Parameters } from 'fast-check';

const FIXED_SEED = 0x19_f00d;

export function fuzzRuns(ciRuns: number): number {
  const text = process.env.FLEETCAP_FUZZ_RUNS;
  if (text === undefined || text === '') return ciRuns;
  const runs = Number(text);
  if (!Number.isSafeInteger(runs) || runs < 1)
    throw new Error(`FLEETCAP_FUZZ_RUNS must be a whole number ≥ 1, not "${text}"`);
  return runs;
}

/** fast-check parameters: `ciRuns` runs in CI (FLEETCAP_FUZZ_RUNS overrides), the seed as above. */
export function fuzzParameters<T>(ciRuns: number): Parameters<T> {
  const seedText = process.env.FLEETCAP_FUZZ_SEED;
  const longMode = process.env.FLEETCAP_FUZZ_RUNS !== undefined && process.env.FLEETCAP_FUZZ_RUNS !== '';
  const seed = seedText ? Number(seedText) : longMode ? undefined : FIXED_SEED;
  return {
    numRuns: fuzzRuns(ciRuns),
    ...(seed !== undefined ? { seed } : {}),
  };
}
