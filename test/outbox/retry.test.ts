import { describe, expect, test } from "bun:test";
import { backoffCeiling, backoffDelay, nextRetryAt, seededRandom } from "../../src/outbox/retry.ts";

const policy = { baseMs: 1000, capMs: 60_000 };

describe("backoff with full jitter", () => {
  test("the ceiling doubles per retry from base and stops at the cap", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((n) => backoffCeiling(n, policy))).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
    expect(backoffCeiling(5000, policy)).toBe(60000);
  });

  test("every delay lies in [0, ceiling) for a seeded random, and spreads over the window", () => {
    const random = seededRandom(42);
    for (let n = 0; n < 12; n++) {
      const ceiling = backoffCeiling(n, policy);
      const samples = Array.from({ length: 200 }, () => backoffDelay(n, policy, random));
      for (const d of samples) {
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(ceiling);
      }
      // Full jitter: samples reach both the low and the high quarter of the window.
      expect(Math.min(...samples)).toBeLessThan(ceiling / 4);
      expect(Math.max(...samples)).toBeGreaterThan((ceiling * 3) / 4);
    }
  });

  test("the same seed gives the same schedule", () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    const sa = Array.from({ length: 10 }, (_, n) => backoffDelay(n, policy, a));
    const sb = Array.from({ length: 10 }, (_, n) => backoffDelay(n, policy, b));
    expect(sa).toEqual(sb);
  });

  test("random's extremes map to 0 and just under the ceiling", () => {
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
    expect(backoffDelay(3, policy, () => 0.999999)).toBe(7999);
  });
});

describe("next retry time", () => {
  test("after attempt k the delay is drawn from the window of retry k-1", () => {
    const now = 1_000_000;
    expect(nextRetryAt(1, 5, policy, now, () => 0.5)).toBe(now + 500);
    expect(nextRetryAt(2, 5, policy, now, () => 0.5)).toBe(now + 1000);
    expect(nextRetryAt(4, 5, policy, now, () => 0.5)).toBe(now + 4000);
  });

  test("is null once the attempts are used up (dead letter)", () => {
    expect(nextRetryAt(5, 5, policy, 0, () => 0.5)).toBeNull();
    expect(nextRetryAt(1, 1, policy, 0, () => 0.5)).toBeNull();
  });
});
