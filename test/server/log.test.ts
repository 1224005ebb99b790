// The exact text of log lines (key order, credential keys dropped, time per line) and how the
// stdout/stderr sink orders and flushes them.
import { describe, expect, test } from "bun:test";
import { bufferedSink, createLogger, flushLogs, type LogLevel } from "../../src/server/log.ts";

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

describe("bufferedSink", () => {
  function writes(flushMs: number) {
    const out: string[] = [];
    const sink = bufferedSink((t) => out.push(`stdout:${t}`), (t) => out.push(`stderr:${t}`), flushMs);
    return { sink, out };
  }
  const turn = () => new Promise<void>((r) => setImmediate(r));

  test("stdout lines wait for the timer across event-loop turns, then go out in one write, in order", async () => {
    const { sink, out } = writes(200);
    sink("a\n", "info");
    await turn();
    sink("b\n", "debug");
    await Bun.sleep(20);
    sink("c\n", "info");
    await Bun.sleep(20);
    expect(out).toEqual([]);
    await Bun.sleep(300);
    expect(out).toEqual(["stdout:a\nb\nc\n"]);
    sink("d\n", "info");
    await Bun.sleep(300);
    expect(out).toEqual(["stdout:a\nb\nc\n", "stdout:d\n"]);
  });

  test("a warning or error writes the buffered stdout lines first, then itself to stderr at once", async () => {
    const { sink, out } = writes(40);
    sink("a\n", "info");
    sink("b\n", "info");
    sink("w\n", "warn");
    expect(out).toEqual(["stdout:a\nb\n", "stderr:w\n"]);
    sink("e\n", "error");
    expect(out).toEqual(["stdout:a\nb\n", "stderr:w\n", "stderr:e\n"]);
    sink("c\n", "info");
    await Bun.sleep(80);
    expect(out).toEqual(["stdout:a\nb\n", "stderr:w\n", "stderr:e\n", "stdout:c\n"]);
  });

  test("more than 64 KiB pending is written at once", () => {
    const { sink, out } = writes(10_000);
    const line = `${"x".repeat(1023)}\n`;
    for (let i = 0; i < 64; i++) sink(line, "info");
    expect(out).toEqual([]);
    sink("y\n", "info");
    expect(out).toEqual([`stdout:${line.repeat(64)}y\n`]);
    sink("z\n", "info");
    sink.flush();
  });

  test("flush writes everything now, and the timer adds no second write", async () => {
    const { sink, out } = writes(20);
    sink("a\n", "info");
    sink.flush();
    expect(out).toEqual(["stdout:a\n"]);
    sink.flush();
    await Bun.sleep(50);
    expect(out).toEqual(["stdout:a\n"]);
  });

  test("the default logger's stdout lines wait until flushLogs", () => {
    const written: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string) => written.push(chunk) > 0) as typeof process.stdout.write;
    try {
      const log = createLogger({ now: () => 0 });
      log.info("one");
      log.info("two");
      const before = written.length;
      flushLogs();
      expect(before).toBe(0);
      expect(written).toEqual(['{"time":"1970-01-01T00:00:00.000Z","level":"info","msg":"one"}\n{"time":"1970-01-01T00:00:00.000Z","level":"info","msg":"two"}\n']);
    } finally {
      process.stdout.write = write;
    }
  });
});
