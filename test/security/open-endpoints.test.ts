// The endpoints anyone who reaches the port can call (the hooks before auth, /metrics,
// /health/*) cost O(1) and tell a proxy in front nothing it did not see: raw request-targets over
// a real socket, a large jobs table in a real SQLite file, a 401 flood with long ids.
import { describe, expect, test } from "bun:test";
import { listen, listenBun } from "../../src/server/listen.ts";
import { createLogger, type LogFields } from "../../src/server/log.ts";
import { kratosJson, testApp } from "../server/helpers.ts";
import { rawRequest } from "../server/raw-http.ts";

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;

describe("dot segments in the request-target get 400 before routing", () => {
  // What a proxy filtering on the /hooks/ prefix lets through, and where the URL parser would land it.
  const spellings = [
    "/hooks/%2e%2e/metrics",
    "/hooks/%2E%2E/metrics",
    "/hooks/.%2e/metrics",
    "/hooks/%2E./health/ready",
    "/hooks/../metrics",
    "/hooks/./open",
    "/hooks/%2e/open",
    "/hooks/x/../open",
    "/hooks\\..\\metrics",
  ];
  for (const kind of ["bun", "node"] as const) {
    test(`${kind} listener: ${spellings.length} spellings of a dot segment, raw on the wire`, async () => {
      const r = testApp();
      // A GET hook makes `listen` pick node:http (listen.ts).
      const hooks = kind === "node" ? [...r.config.hooks, { ...r.config.hooks[0]!, method: "GET" }] : r.config.hooks;
      const l = await listen(r, { host: "127.0.0.1", port: 0 }, hooks);
      try {
        expect(l.kind).toBe(kind);
        for (const target of spellings) {
          const res = await rawRequest(l.port, get(target));
          expect({ target, status: res?.status, code: res && JSON.parse(res.body).error?.code }).toEqual({ target, status: 400, code: "bad_path" });
        }
        // The plain spellings still answer.
        expect((await rawRequest(l.port, get("/metrics")))!.status).toBe(200);
        expect((await rawRequest(l.port, get("/metrics/")))!.status).toBe(200);
        expect((await rawRequest(l.port, get("/health/live")))!.status).toBe(200);
        expect((await rawRequest(l.port, get("/nothing")))!.status).toBe(404);
        // Dots inside a segment, or in the query, are not dot segments.
        // (The hook answers: 400 for the empty body, not bad_path.)
        expect(JSON.parse((await rawRequest(l.port, get("/hooks/open?next=/../metrics")))!.body).error.code).toBe("invalid_json");
        expect((await rawRequest(l.port, get("/hooks/...")))!.status).toBe(404);
      } finally {
        await l.stop(1000);
      }
    });
  }
});

/** A real logger (JSON lines) whose output is counted instead of written. */
function countingLogger() {
  const out = { bytes: 0, lines: [] as LogFields[] };
  const log = createLogger({
    level: "debug",
    sink: (line) => {
      out.bytes += Buffer.byteLength(line);
      out.lines.push(JSON.parse(line) as LogFields);
    },
  });
  return { log, out };
}

/** `n` requests, `concurrency` at a time over keep-alive connections; returns the statuses seen. */
async function flood(url: string, n: number, concurrency: number, init: () => RequestInit): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        const res = await fetch(url, init());
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }),
  );
  return statuses;
}

describe("a 401 flood keeps the log bounded", () => {
  test("2,000 unauthenticated requests with 8 KB ids write a few KB of log, and count what they did not write", async () => {
    const { log, out } = countingLogger();
    const r = testApp({ log });
    const l = listenBun(r, { host: "127.0.0.1", port: 0 });
    const N = 2000;
    const started = performance.now();
    try {
      const statuses = await flood(`http://127.0.0.1:${l.port}/hooks/welcome`, N, 16, () => ({
        method: "POST",
        headers: { "Content-Type": "application/json", "Ory-Webhook-Trigger-Id": "t".repeat(8192), "Ory-Webhook-Request-Id": "r".repeat(4096) },
        body: "{}",
      }));
      expect([...statuses]).toEqual([[401, N]]);
    } finally {
      await l.stop(1000);
    }
    const seconds = (performance.now() - started) / 1000;
    const logged = out.lines.filter((l) => l.msg === "request");
    // The bucket: 20 at once, then 5 a second.
    expect(logged.length).toBeLessThanOrEqual(20 + Math.ceil(5 * seconds) + 1);
    for (const line of logged) {
      expect(line).toMatchObject({ status: 401, error: "unauthorized" });
      expect((line.trigger_id as string).length).toBeLessThanOrEqual(150);
      expect((line.request_id as string).length).toBeLessThanOrEqual(150);
    }
    // Before: 2,000 lines of over 12 KB each (24 MB).
    expect(out.bytes).toBeLessThan(64 * 1024);
    const dropped = N - logged.length;
    expect(r.metrics.render()).toContain(`kratos_hooks_log_lines_dropped_total ${dropped}`);
    r.refusedLog.flush();
    expect(out.lines.at(-1)).toMatchObject({ level: "warn", dropped });
  });

  test("an authenticated request's log line carries its ids cut to 128 characters", async () => {
    const { log, out } = countingLogger();
    const r = testApp({ log });
    const res = await r.handle(
      new Request("http://127.0.0.1/hooks/open", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Ory-Webhook-Trigger-Id": "t".repeat(8192), "Ory-Webhook-Request-Id": "r".repeat(300) },
        body: kratosJson({ identity_id: "5ff66179-c240-4703-b0d8-494592cefff5" }),
      }),
    );
    expect(res.status).toBe(204);
    const line = out.lines.find((l) => l.msg === "request")!;
    expect(line.trigger_id).toBe(`${"t".repeat(128)}…(8064 more)`);
    expect(line.request_id).toBe(`${"r".repeat(128)}…(172 more)`);
    expect(out.bytes).toBeLessThan(1024);
  });
});
