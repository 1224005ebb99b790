// The admin page's numbers are read from the Prometheus text /metrics serves.
import { describe, expect, test } from "bun:test";
import { parseMetrics, quantile, ratePerSecond, total } from "../../src/admin/metric-numbers.ts";
import { Metrics } from "../../src/server/metrics.ts";

describe("numbers from /metrics", () => {
  test("totals by label, and p99 interpolated within its bucket as histogram_quantile does", () => {
    const m = new Metrics();
    for (let i = 0; i < 99; i++) m.request("welcome", 204, 0.002); // bucket (0.001, 0.0025]
    m.request("welcome", 500, 0.4); // bucket (0.25, 0.5]
    m.request("other \"hook\"", 204, 0.02);
    const s = parseMetrics(m.render(), 1000);
    expect(total(s, "kratos_hooks_requests_total", "hook", "welcome")).toBe(100);
    expect(total(s, "kratos_hooks_requests_total", "hook", "welcome", { status: "500" })).toBe(1);
    expect(total(s, "kratos_hooks_requests_total", "hook", 'other "hook"')).toBe(1);
    // rank 99 of 100 falls at the end of the 0.0025 bucket.
    expect(quantile(s, "kratos_hooks_ack_duration_seconds", "hook", "welcome", 0.99)).toBeCloseTo(0.0025, 6);
    expect(quantile(s, "kratos_hooks_ack_duration_seconds", "hook", "welcome", 0.995)).toBeCloseTo(0.375, 6);
    expect(quantile(s, "kratos_hooks_ack_duration_seconds", "hook", "nobody")).toBeUndefined();
  });

  test("rates and windowed quantiles use the increase since an earlier snapshot", () => {
    const m = new Metrics();
    m.request("welcome", 204, 3); // slow, before the window
    const base = parseMetrics(m.render(), 0);
    for (let i = 0; i < 30; i++) m.request("welcome", 204, 0.002);
    const now = parseMetrics(m.render(), 60_000);
    expect(ratePerSecond(now, base, (s) => total(s, "kratos_hooks_requests_total", "hook", "welcome"))).toBeCloseTo(0.5, 6);
    expect(quantile(now, "kratos_hooks_ack_duration_seconds", "hook", "welcome", 0.99, base)).toBeLessThanOrEqual(0.0025);
    expect(ratePerSecond(now, undefined, () => 5)).toBe(0);
  });
});
