// The exact Prometheus text of the receiver's metrics: series order (first use), cumulative bucket
// counts with observations on bucket boundaries, label escaping.
import { describe, expect, test } from "bun:test";
import { Counter, Histogram, Metrics, Registry } from "../../src/server/metrics.ts";

const lines = (text: string, prefix: string) => text.split("\n").filter((l) => l.startsWith(prefix));

describe("Metrics.request", () => {
  test("counters per (hook, status) in order of first use, histogram per hook with cumulative buckets", () => {
    const m = new Metrics();
    // 0.001 and 0.005 sit exactly on bucket bounds (le is ≤); 0.0011 just above one; 11 above all.
    m.request("a", 204, 0.001);
    m.request("b", 503, 0.0011);
    m.request("a", 204, 0.005);
    m.request("a", 400, 11);
    m.request("b", 503, 0.25);
    m.request("a", 204, 0);
    const text = m.render();
    expect(lines(text, "kratos_hooks_requests_total")).toEqual([
      'kratos_hooks_requests_total{hook="a",status="204"} 3',
      'kratos_hooks_requests_total{hook="b",status="503"} 2',
      'kratos_hooks_requests_total{hook="a",status="400"} 1',
    ]);
    expect(lines(text, "kratos_hooks_ack_duration_seconds")).toEqual([
      'kratos_hooks_ack_duration_seconds_bucket{hook="a",le="0.001"} 2',
      'kratos_hooks_ack_duration_seconds_bucket{hook="a",le="0.0025"} 2',
      'kratos_hooks_ack_duration_seconds_bucket{hook="a",le="0.005"} 3',
      'kratos_hooks_ack_duration_seconds_bucket{hook="a",le="0.01"} 3',
      'kratos_hooks_ack_duration_seconds_bucket{hook="a",le="0.025"} 3',
      'kratos_hooks_ack_duration_seconds_bucket{hook="a",le="0.05"} 3',
      'kratos_hooks_ack_duration_seconds_bucket{hook="a",le="0.1"} 3',
      'kratos_hooks_ack_duration_seconds_bucket{hook="a",le="0.25"} 3',
      'kratos_hooks_ack_duration_seconds_bucket{hook="a",le="0.5"} 3',
      'kratos_hooks_ack_duration_seconds_bucket{hook="a",le="1"} 3',
      'kratos_hooks_ack_duration_seconds_bucket{hook="a",le="2.5"} 3',
      'kratos_hooks_ack_duration_seconds_bucket{hook="a",le="5"} 3',
      'kratos_hooks_ack_duration_seconds_bucket{hook="a",le="10"} 3',
      'kratos_hooks_ack_duration_seconds_bucket{hook="a",le="+Inf"} 4',
      'kratos_hooks_ack_duration_seconds_sum{hook="a"} 11.006',
      'kratos_hooks_ack_duration_seconds_count{hook="a"} 4',
      'kratos_hooks_ack_duration_seconds_bucket{hook="b",le="0.001"} 0',
      'kratos_hooks_ack_duration_seconds_bucket{hook="b",le="0.0025"} 1',
      'kratos_hooks_ack_duration_seconds_bucket{hook="b",le="0.005"} 1',
      'kratos_hooks_ack_duration_seconds_bucket{hook="b",le="0.01"} 1',
      'kratos_hooks_ack_duration_seconds_bucket{hook="b",le="0.025"} 1',
      'kratos_hooks_ack_duration_seconds_bucket{hook="b",le="0.05"} 1',
      'kratos_hooks_ack_duration_seconds_bucket{hook="b",le="0.1"} 1',
      'kratos_hooks_ack_duration_seconds_bucket{hook="b",le="0.25"} 2',
      'kratos_hooks_ack_duration_seconds_bucket{hook="b",le="0.5"} 2',
      'kratos_hooks_ack_duration_seconds_bucket{hook="b",le="1"} 2',
      'kratos_hooks_ack_duration_seconds_bucket{hook="b",le="2.5"} 2',
      'kratos_hooks_ack_duration_seconds_bucket{hook="b",le="5"} 2',
      'kratos_hooks_ack_duration_seconds_bucket{hook="b",le="10"} 2',
      'kratos_hooks_ack_duration_seconds_bucket{hook="b",le="+Inf"} 2',
      'kratos_hooks_ack_duration_seconds_sum{hook="b"} 0.2511',
      'kratos_hooks_ack_duration_seconds_count{hook="b"} 2',
    ]);
    expect(m.requestCount("a", 204)).toBe(3);
    expect(m.requestCount("a", 503)).toBe(0);
  });

  test("a hook seen first through another metric keeps its own series order in each", () => {
    const m = new Metrics();
    m.storeError("x");
    m.request("y", 204, 0.1);
    m.request("x", 503, 0.1);
    m.dedupeHit("y");
    const text = m.render();
    expect(lines(text, "kratos_hooks_requests_total")).toEqual(['kratos_hooks_requests_total{hook="y",status="204"} 1', 'kratos_hooks_requests_total{hook="x",status="503"} 1']);
    expect(lines(text, "kratos_hooks_ack_duration_seconds_count")).toEqual([
      'kratos_hooks_ack_duration_seconds_count{hook="y"} 1',
      'kratos_hooks_ack_duration_seconds_count{hook="x"} 1',
    ]);
    expect(lines(text, "kratos_hooks_store_errors_total")).toEqual(['kratos_hooks_store_errors_total{hook="x"} 1']);
    expect(m.dedupeHitCount("y")).toBe(1);
  });
});

describe("Metrics.deliveryAttempt", () => {
  test("each attempt counts in its action's series, each series created on first use, in the order of first use", () => {
    const m = new Metrics();
    m.deliveryAttempt("a", true, 0.2);
    m.deliveryAttempt("b", false);
    m.deliveryAttempt("a", true, 0.02);
    m.deliveryAttempt("a", false, 1.5);
    m.deliveryAttempt("b", false, 0.007);
    m.deliveryAttempt("b", true);
    const text = m.render();
    expect(lines(text, "kratos_hooks_delivery_attempts_total")).toEqual([
      'kratos_hooks_delivery_attempts_total{action="a",result="ok"} 2',
      'kratos_hooks_delivery_attempts_total{action="b",result="error"} 2',
      'kratos_hooks_delivery_attempts_total{action="a",result="error"} 1',
      'kratos_hooks_delivery_attempts_total{action="b",result="ok"} 1',
    ]);
    expect(lines(text, "kratos_hooks_delivery_failures_total")).toEqual(['kratos_hooks_delivery_failures_total{action="b"} 2', 'kratos_hooks_delivery_failures_total{action="a"} 1']);
    expect(lines(text, "kratos_hooks_delivery_duration_seconds_count")).toEqual([
      'kratos_hooks_delivery_duration_seconds_count{action="a"} 3',
      'kratos_hooks_delivery_duration_seconds_count{action="b"} 1',
    ]);
    expect(lines(text, "kratos_hooks_delivery_duration_seconds_sum")).toEqual([
      'kratos_hooks_delivery_duration_seconds_sum{action="a"} 1.72',
      'kratos_hooks_delivery_duration_seconds_sum{action="b"} 0.007',
    ]);
    expect(text).toContain('kratos_hooks_delivery_duration_seconds_bucket{action="b",le="0.005"} 0');
    expect(text).toContain('kratos_hooks_delivery_duration_seconds_bucket{action="b",le="0.01"} 1');
  });
});

describe("Counter and Histogram", () => {
  test("one-label and multi-label counters, label escaping, NaN and out-of-range observations", () => {
    const reg = new Registry();
    const c1 = reg.add(new Counter("c1", "one label", ["action"]));
    const c2 = reg.add(new Counter("c2", "two labels", ["a", "b"]));
    const c0 = reg.add(new Counter("c0", "no labels"));
    const h = reg.add(new Histogram("h", "a histogram", ["k"], [1, 2, 3]));
    c1.inc(['x"y\\z\n']);
    c1.inc(["p"], 5);
    c1.inc(['x"y\\z\n'], 2);
    // Label values that would collide if joined without a separator stay apart.
    c2.inc(["ab", "c"]);
    c2.inc(["a", "bc"]);
    c0.inc();
    c0.inc([], 2);
    h.observe(["k"], 2);
    h.observe(["k"], 3);
    h.observe(["k"], 3.5);
    h.observe(["k"], Number.NaN);
    h.observe(["k"], -1);
    expect(c1.get(["p"])).toBe(5);
    expect(c2.get(["ab", "c"])).toBe(1);
    expect(h.count(["k"])).toBe(5);
    expect(reg.render()).toBe(
      [
        "# HELP c1 one label",
        "# TYPE c1 counter",
        'c1{action="x\\"y\\\\z\\n"} 3',
        'c1{action="p"} 5',
        "# HELP c2 two labels",
        "# TYPE c2 counter",
        'c2{a="ab",b="c"} 1',
        'c2{a="a",b="bc"} 1',
        "# HELP c0 no labels",
        "# TYPE c0 counter",
        "c0 3",
        "# HELP h a histogram",
        "# TYPE h histogram",
        'h_bucket{k="k",le="1"} 1',
        'h_bucket{k="k",le="2"} 2',
        'h_bucket{k="k",le="3"} 3',
        'h_bucket{k="k",le="+Inf"} 5',
        'h_sum{k="k"} NaN',
        'h_count{k="k"} 5',
        "",
      ].join("\n"),
    );
  });
});
