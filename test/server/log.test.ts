// The exact text of log lines (key order, credential keys dropped, time per line) and how the
// stdout/stderr sink orders and flushes them.
import { describe, expect, test } from "bun:test";
import { createLogger, type LogLevel } from "../../src/server/log.ts";

function captured(opts: { level?: LogLevel; now?: () => number } = {}) {
  const lines: [string, LogLevel][] = [];
  const log = createLogger({ ...opts, sink: (line, level) => lines.push([line, level]) });
  return { log, lines };
}

describe("log lines", () => {
  test("time, level, msg, then the fields in order; undefined fields and credential-named keys left out", () => {
    let t = Date.UTC(2026, 10, 28, 4, 0, 0, 5);
    const { log, lines } = captured({ now: () => t });
    log.info("request", { hook: "h", status: 204, request_id: null, rule: undefined, nested: { a: [1, "x"] } });
    log.info("request", { Authorization: "Bearer x", PASSWORD: "p", token: "t", "set-cookie": "c", tokens: 1, my_secret: 2 });
    t += 1;
    log.error("boom", { api_key: "k", error: "e\n\"q\"" });
    log.info("no fields");
    expect(lines).toEqual([
      ['{"time":"2026-11-28T04:00:00.005Z","level":"info","msg":"request","hook":"h","status":204,"request_id":null,"nested":{"a":[1,"x"]}}\n', "info"],
      // Only whole keys that name a credential are dropped, whatever their case.
      ['{"time":"2026-11-28T04:00:00.005Z","level":"info","msg":"request","tokens":1,"my_secret":2}\n', "info"],
      ['{"time":"2026-11-28T04:00:00.006Z","level":"error","msg":"boom","error":"e\\n\\"q\\""}\n', "error"],
      ['{"time":"2026-11-28T04:00:00.006Z","level":"info","msg":"no fields"}\n', "info"],
    ]);
  });

  test("a field named like a built-in key replaces its value in place; index-like keys come first, as in any JS object", () => {
    const { log, lines } = captured({ now: () => 0 });
    log.info("m", { msg: "other", level: undefined, "2": "two", z: 1, "1": "one" });
    expect(lines.map(([l]) => l)).toEqual(['{"1":"one","2":"two","time":"1970-01-01T00:00:00.000Z","level":"info","msg":"other","z":1}\n']);
  });

  test("the same credential-named key is dropped on every line, and a safe key kept on every line", () => {
    const { log, lines } = captured({ now: () => 0 });
    for (let i = 0; i < 3; i++) log.info("m", { cookie: "c", n: i });
    expect(lines.map(([l]) => JSON.parse(l))).toEqual([0, 1, 2].map((n) => ({ time: "1970-01-01T00:00:00.000Z", level: "info", msg: "m", n })));
  });

  test("the time follows the clock on every line, across repeats of the same millisecond", () => {
    const times = [0, 0, 1, 1, 0, 86_400_000];
    let i = 0;
    const { log, lines } = captured({ now: () => times[i++]! });
    for (let k = 0; k < times.length; k++) log.info("m");
    expect(lines.map(([l]) => JSON.parse(l).time)).toEqual([
      "1970-01-01T00:00:00.000Z",
      "1970-01-01T00:00:00.000Z",
      "1970-01-01T00:00:00.001Z",
      "1970-01-01T00:00:00.001Z",
      "1970-01-01T00:00:00.000Z",
      "1970-01-02T00:00:00.000Z",
    ]);
  });

  test("levels below the minimum are not written", () => {
    const { log, lines } = captured({ level: "warn", now: () => 0 });
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    expect(lines.map(([, level]) => level)).toEqual(["warn", "error"]);
  });
});

describe("a header value cut for the log is redacted first", () => {
  test("a secret straddling the 128-character cut leaves no prefix behind", async () => {
    const { Redactor } = await import("../../src/secrets.ts");
    const { capLogValue } = await import("../../src/server/log-budget.ts");
    const secret = "crm-t0ken-9f8e7d6c5b4a";
    const lines: string[] = [];
    const log = createLogger({ sink: (line) => lines.push(line), redactor: new Redactor([secret]) });
    log.info("unauthorized", { trigger_id: capLogValue(`${"x".repeat(120)}${secret}${"y".repeat(40)}`) });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain("crm-t");
    const field = JSON.parse(lines[0]!).trigger_id as string;
    expect(field.startsWith(`${"x".repeat(120)}***`)).toBe(true);
    expect(field).toMatch(/…\(\d+ more\)$/);
  });
});
