// Retry schedule: exponential backoff with full jitter and a cap (the AWS "full jitter" scheme).
// Full jitter spreads the retries of many jobs that failed together (a downstream outage) over the
// whole window instead of sending them back in waves.
import type { ResolvedRetry } from "../config/types.ts";

/** A source of uniform numbers in [0, 1); Math.random in production, seeded in tests. */
export type Random = () => number;

/**
 * The upper bound of the delay before retry number `n` (n = 0 for the first retry, i.e. after the
 * first failed attempt): min(cap, base·2^n).
 */
export function backoffCeiling(n: number, policy: Pick<ResolvedRetry, "baseMs" | "capMs">): number {
  // 2^n overflows to Infinity for large n, which min() then caps.
  return Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, n));
}

/** delay(n) = random(0, min(cap, base·2^n)), in whole milliseconds. */
export function backoffDelay(n: number, policy: Pick<ResolvedRetry, "baseMs" | "capMs">, random: Random = Math.random): number {
  return Math.floor(random() * backoffCeiling(n, policy));
}

/**
 * When a job that just failed its `attempt`-th delivery (1-based) runs again, or null when it has
 * used up `maxAttempts` and goes to the dead letters.
 */
export function nextRetryAt(
  attempt: number,
  maxAttempts: number,
  policy: Pick<ResolvedRetry, "baseMs" | "capMs">,
  now: number,
  random: Random = Math.random,
): number | null {
  if (attempt >= maxAttempts) return null;
  return now + backoffDelay(attempt - 1, policy, random);
}

/** A small deterministic PRNG (mulberry32) for reproducible schedules in tests and benchmarks. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
