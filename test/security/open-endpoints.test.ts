// The endpoints anyone who reaches the port can call (the hooks before auth, /metrics,
// /health/*) cost O(1) and tell a proxy in front nothing it did not see: raw request-targets over
// a real socket, a large jobs table in a real SQLite file, a 401 flood with long ids.
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer } from "../../src/commands/serve.ts";
import { openStore } from "../../src/outbox/open-store.ts";
import { GroupCommitter } from "../../src/outbox/group-commit.ts";
import { StoreUnavailableError, type Stats } from "../../src/outbox/store.ts";
import { listen, listenBun } from "../../src/server/listen.ts";
import { createLogger, memoryLogger, type LogFields } from "../../src/server/log.ts";
import { ConfigError } from "../../src/errors.ts";
import { ENV, HOOKS_YAML, kratosJson, kratosRequest, listenReceiver, loadTestConfig, testApp } from "../server/helpers.ts";
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

/**
 * A migrated SQLite store file holding `n` done jobs, inserted directly (one statement). They
 * finished just now: older ones would be serve.retention's to delete while the test counts them.
 */
async function storeWithDoneJobs(n: number): Promise<{ url: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "kh-open-endpoints-"));
  const file = join(dir, "store.db");
  await (await openStore(`sqlite:${file}`)).close();
  const db = new Database(file);
  const now = Date.now();
  db.run(`
    WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT ${n})
    INSERT INTO jobs (id, hook, action, payload, state, attempts, max_attempts, run_at, created_at, updated_at)
    SELECT printf('done-%08d', i), 'open', 'open.note', '{}', 'done', 1, 5, ${now}, ${now}, ${now} FROM c`);
  db.close();
  return { url: `sqlite:${file}`, dir };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

describe("/metrics costs the store O(1) per scrape", () => {
  test("32 scrapers against 500,000 done jobs: 400 acks keep p99 under 250 ms", async () => {
    const JOBS = 500_000;
    const { url, dir } = await storeWithDoneJobs(JOBS);
    const base = loadTestConfig();
    const config = { ...base, serve: { ...base.serve, store: url, listen: { host: "127.0.0.1", port: 0 } } };
    const server = await startServer({ config, log: memoryLogger("warn"), worker: false, env: ENV });
    const origin = `http://127.0.0.1:${server.listening.port}`;
    let scraping = true;
    let scrapes = 0;
    const scrapers = Array.from({ length: 32 }, async () => {
      while (scraping) {
        const res = await fetch(`${origin}/metrics`);
        await res.text();
        scrapes++;
      }
    });
    const acks: number[] = [];
    try {
      await Bun.sleep(200); // the scrapers are going
      let n = 0;
      const until = performance.now() + 20_000; // before the change, 400 acks took ~38 s
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (n < 400 && performance.now() < until) {
            const i = n++;
            const started = performance.now();
            const res = await fetch(`${origin}/hooks/open`, {
              method: "POST",
              headers: { "Content-Type": "application/json", "Ory-Webhook-Trigger-Id": `ack-${i}` },
              body: kratosJson({ identity_id: crypto.randomUUID() }),
            });
            await res.arrayBuffer();
            expect(res.status).toBe(204);
            acks.push(performance.now() - started);
          }
        }),
      );
    } finally {
      scraping = false;
      await Promise.all(scrapers);
    }
    try {
      acks.sort((a, b) => a - b);
      const p50 = percentile(acks, 0.5);
      const p99 = percentile(acks, 0.99);
      console.log(`acks ${acks.length}: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${acks.at(-1)!.toFixed(1)} ms; ${scrapes} scrapes`);
      expect(acks.length).toBe(400);
      expect(scrapes).toBeGreaterThan(100);
      // Before: each scrape counted the jobs on the store thread, ahead of the acks queued behind
      // it (p50 ~300 ms, p99 ~900 ms here).
      expect(p99).toBeLessThan(250);
      const text = await (await fetch(`${origin}/metrics`)).text();
      expect(text).toContain(`kratos_hooks_jobs{state="done"} ${JOBS}`);
      expect(text).toContain("kratos_hooks_store_up 1");
      expect(text).toMatch(/^kratos_hooks_store_snapshot_age_seconds \d/m);
    } finally {
      await server.shutdown("test");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("store calls from open endpoints are single-flight", () => {
  test("50 scrapes while the store does not answer make one stats call, and serve the last snapshot with its age", async () => {
    let calls = 0;
    let release!: () => void;
    const stats = () => {
      calls++;
      return new Promise<Stats>((resolve) => (release = () => resolve({ byState: { pending: 1, running: 0, done: 9, dead: 0 }, oldestDueAgeMs: 0 })));
    };
    const r = testApp({ store: { ping: async () => {}, stats } });
    const scrapes = await Promise.all(Array.from({ length: 50 }, () => r.handle(new Request("http://127.0.0.1/metrics"))));
    expect(scrapes.map((res) => res.status)).toEqual(Array(50).fill(200));
    expect(await scrapes[0]!.text()).toContain("kratos_hooks_store_up 0");
    expect(calls).toBe(1);
    release();
    await Bun.sleep(0);
    let text = await (await r.handle(new Request("http://127.0.0.1/metrics"))).text();
    expect(text).toContain('kratos_hooks_jobs{state="done"} 9');
    expect(text).toContain("kratos_hooks_store_up 1");
    expect(calls).toBe(1);
    r.advance(4000);
    text = await (await r.handle(new Request("http://127.0.0.1/metrics"))).text();
    expect(text).toContain("kratos_hooks_store_snapshot_age_seconds 4");
    expect(calls).toBe(1);
    r.advance(1000);
    await r.handle(new Request("http://127.0.0.1/metrics"));
    expect(calls).toBe(2);
  });

  test("50 readiness checks while the store does not answer send one ping; the next check after it answers is 200", async () => {
    let pings = 0;
    let answer!: () => void;
    const ping = () => {
      pings++;
      return new Promise<void>((resolve) => (answer = resolve));
    };
    const r = testApp({ store: { ping, stats: async () => ({ byState: { pending: 0, running: 0, done: 0, dead: 0 }, oldestDueAgeMs: 0 }) }, readyTimeoutMs: 20 });
    const checks = await Promise.all(Array.from({ length: 50 }, () => r.handle(new Request("http://127.0.0.1/health/ready"))));
    expect(checks.map((res) => res.status)).toEqual(Array(50).fill(503));
    expect(await checks[0]!.json()).toEqual({ status: "store_unavailable" });
    expect(pings).toBe(1);
    answer();
    await Bun.sleep(0);
    const next = r.handle(new Request("http://127.0.0.1/health/ready"));
    answer();
    expect((await next).status).toBe(200);
    expect(pings).toBe(2);
  });
});

describe("serve.metrics.token_env: /metrics behind a bearer token", () => {
  const TOKEN = "m3trics-t0ken-value";
  const yaml = HOOKS_YAML.replace("serve: { body_limit: 2kb, dedupe_window: 1h }", "serve:\n  body_limit: 2kb\n  dedupe_window: 1h\n  metrics: { token_env: TEST_METRICS_TOKEN }");

  test("without the token, or with another, 401 and a WWW-Authenticate challenge; with it, the metrics", async () => {
    const { log, out } = countingLogger();
    const r = testApp({ config: loadTestConfig(yaml), env: { ...ENV, TEST_METRICS_TOKEN: TOKEN }, log });
    const scrape = (headers: Record<string, string> = {}) => r.handle(new Request("http://127.0.0.1/metrics", { headers }));
    for (const headers of [{}, { Authorization: "Bearer wrong" }, { Authorization: TOKEN }, { Authorization: `Basic ${TOKEN}` }, { "X-Token": TOKEN }] as Record<string, string>[]) {
      const res = await scrape(headers);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="metrics"');
      expect(await res.text()).not.toContain("kratos_hooks_");
    }
    for (const scheme of ["Bearer", "bearer"]) {
      const res = await scrape({ Authorization: `${scheme} ${TOKEN}` });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("kratos_hooks_requests_total");
    }
    expect(JSON.stringify(out.lines)).not.toContain(TOKEN);
    // Health stays open: a load balancer probes it without credentials.
    expect((await r.handle(new Request("http://127.0.0.1/health/live"))).status).toBe(200);
  });

  test("an unset token variable stops serve with an error naming the field and its line", () => {
    const config = loadTestConfig(yaml);
    let err: unknown;
    try {
      testApp({ config, env: ENV });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const text = (err as ConfigError).format();
    expect(text).toContain("serve.metrics.token_env: environment variable TEST_METRICS_TOKEN is not set");
    expect(text).toMatch(/hooks\.yaml:7:25: /);
  });
});

/** A 4 MB tmpfs at a fresh directory, or undefined where mounting is not permitted (not root, no CAP_SYS_ADMIN). */
function smallTmpfs(): { dir: string; unmount(): void } | undefined {
  const dir = mkdtempSync(join(tmpdir(), "kh-tmpfs-"));
  const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir], { stderr: "pipe" });
  if (mounted.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return {
    dir,
    unmount() {
      Bun.spawnSync(["umount", dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes zeros to `file` until the file system refuses (ENOSPC). */
function fillUp(file: string): void {
  const fd = openSync(file, "w");
  const chunk = new Uint8Array(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    closeSync(fd);
  }
}

const probeTmpfs = smallTmpfs();
probeTmpfs?.unmount();

describe("readiness follows commits", () => {
  test("the requests of one failed group commit count as one failure", async () => {
    let batches = 0;
    const committer = new GroupCommitter({
      acceptBatch: async () => {
        batches++;
        throw new StoreUnavailableError(`sqlite store unavailable during acceptBatch: SQLITE_FULL (${batches})`);
      },
    });
    const r = testApp({ accept: (a) => committer.accept(a) });
    const ack = (i: number) => r.handle(kratosRequest("/hooks/open", { identity_id: crypto.randomUUID() }, { triggerId: `t-${i}` }));
    const ready = async () => (await r.handle(new Request("http://127.0.0.1/health/ready"))).status;
    expect((await Promise.all(Array.from({ length: 10 }, (_, i) => ack(i)))).map((res) => res.status)).toEqual(Array(10).fill(503));
    expect(batches).toBe(1);
    expect(await ready()).toBe(200);
    expect((await ack(10)).status).toBe(503);
    expect(await ready()).toBe(200);
    expect((await ack(11)).status).toBe(503);
    expect(await ready()).toBe(503);
  });


  test.skipIf(!probeTmpfs)("a full disk: 503 after 3 failed commits while SELECT 1 still answers, 200 again once a commit succeeds", async () => {
    const fs = smallTmpfs()!;
    const store = await openStore(`sqlite:${join(fs.dir, "store.db")}`, { thread: true });
    const s = listenReceiver(store, loadTestConfig(), 0);
    const origin = `http://127.0.0.1:${s.port}`;
    const ready = async () => {
      const res = await fetch(`${origin}/health/ready`);
      return { status: res.status, body: (await res.json()) as unknown };
    };
    let n = 0;
    const ack = async () => {
      const res = await fetch(`${origin}/hooks/open`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Ory-Webhook-Trigger-Id": `full-${++n}` },
        body: kratosJson({ identity_id: crypto.randomUUID() }),
      });
      await res.arrayBuffer();
      return res.status;
    };
    try {
      expect(await ack()).toBe(204);
      expect(await ready()).toEqual({ status: 200, body: { status: "ok" } });

      fillUp(join(fs.dir, "filler"));
      // SQLite reads on: what readiness asked before this change.
      await store.ping();
      expect(await ack()).toBe(503);
      expect(await ack()).toBe(503);
      expect((await ready()).status).toBe(200); // two failures are not yet a pattern
      expect(await ack()).toBe(503);
      expect(await ready()).toEqual({ status: 503, body: { status: "commits_failing" } });
      expect(await ready()).toEqual({ status: 503, body: { status: "commits_failing" } });

      // Space again. No webhook arrives (a load balancer took the receiver out); readiness's own
      // probe commit finds out, within its 2 s spacing.
      rmSync(join(fs.dir, "filler"));
      const until = performance.now() + 5000;
      let last = await ready();
      while (last.status !== 200 && performance.now() < until) {
        await Bun.sleep(100);
        last = await ready();
      }
      expect(last).toEqual({ status: 200, body: { status: "ok" } });
      expect(await ack()).toBe(204);
    } finally {
      await s.stop();
      await store.close();
      fs.unmount();
    }
  }, 20_000);
});
