// The app as a whole through app.handle: jobs written with the acceptance, store failures, bugs,
// health checks, /metrics and the request log.
import { describe, expect, test } from "bun:test";
import { StoreUnavailableError } from "../../src/outbox/store.ts";
import { ConfigError } from "../../src/errors.ts";
import { bearer, fakeStore, hooksKey, kratosRequest, loadTestConfig, SECRET, testApp } from "./helpers.ts";

const ID = "5ff66179-c240-4703-b0d8-494592cefff5";

describe("acceptance and jobs", () => {
  test("notify: 204 after the commit, one job per action with the documented payload", async () => {
    const r = testApp();
    const res = await r.handle(
      kratosRequest("/hooks/welcome", { identity_id: ID, email: "a@b.co", name: "Ann" }, { headers: bearer, triggerId: "trig-1", requestId: "req-1" }),
    );
    expect(res.status).toBe(204);
    expect(r.mem.accepted).toHaveLength(1);
    const a = r.mem.accepted[0]!;
    expect(a.hook).toBe("welcome");
    expect(a.response).toEqual({ status: 204, body: null });
    expect(a.jobs.map((j) => [j.id, j.action, j.maxAttempts, j.runAt])).toEqual([
      ["job-1", "welcome.email", 8, a.now],
      ["job-2", "welcome.crm", 10, a.now],
    ]);
    expect(a.jobs[0]!.payload).toEqual({
      body: { identity_id: ID, email: "a@b.co", name: "Ann" },
      hook: "welcome",
      trigger_id: "trig-1",
      request_id: "req-1",
      received_at: "2026-11-28T04:00:00.000Z",
    });
  });
  test("the answer waits for the commit", async () => {
    let release!: () => void;
    const gate = new Promise<void>((res) => (release = res));
    let committed = false;
    const r = testApp({
      accept: async () => {
        await gate;
        committed = true;
        return { duplicate: false };
      },
    });
    const pending = r.handle(kratosRequest("/hooks/open", { identity_id: ID }));
    await Bun.sleep(5);
    expect(committed).toBe(false);
    release();
    const res = await pending;
    expect(committed).toBe(true);
    expect(res.status).toBe(204);
  });
  test("onEnqueued is called after a commit with jobs only", async () => {
    let woken = 0;
    const r = testApp({ onEnqueued: () => woken++ });
    await r.handle(kratosRequest("/hooks/welcome", { identity_id: ID, email: "a@b.co" }, { headers: bearer }));
    await r.handle(kratosRequest("/hooks/welcome", { identity_id: ID, email: "a@b.co" }, { headers: bearer })); // duplicate
    await r.handle(kratosRequest("/hooks/open", { identity_id: ID })); // no actions
    expect(woken).toBe(1);
  });
});

describe("failures", () => {
  test("store unavailable → 503 with Retry-After for every mode, logged, counted", async () => {
    const r = testApp();
    r.mem.fail(new StoreUnavailableError("database is locked"));
    const notify = await r.handle(kratosRequest("/hooks/welcome", { identity_id: ID, email: "a@b.co" }, { headers: bearer }));
    const interrupt = await r.handle(kratosRequest("/hooks/gate", { email: "a@ok.example", consent: true }, { headers: hooksKey }));
    const enrich = await r.handle(kratosRequest("/hooks/plan", { email: "a@example.com" }, { headers: hooksKey }));
    for (const res of [notify, interrupt, enrich]) {
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("2");
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("store_unavailable");
    }
    expect(r.log.lines.filter((l) => l.msg === "store unavailable")).toHaveLength(3);
    expect(r.metrics.render()).toContain('kratos_hooks_store_errors_total{hook="gate"} 1');
  });
  test("any other store error is a 503 too", async () => {
    const r = testApp();
    r.mem.fail(new Error("SQLITE_IOERR"));
    expect((await r.handle(kratosRequest("/hooks/open", { identity_id: ID }))).status).toBe(503);
  });
  test("a bug is a generic 500 without a stack; the details go to the log", async () => {
    const r = testApp({ newJobId: () => { throw new TypeError("boom at secret place"); } });
    const res = await r.handle(kratosRequest("/hooks/welcome", { identity_id: ID, email: "a@b.co" }, { headers: bearer }));
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: { code: "internal", message: "internal error" } });
    expect(text).not.toContain("boom");
    expect(r.log.lines.find((l) => l.msg === "internal error")!.error).toBe("TypeError: boom at secret place");
  });
  test("while draining, deliveries and readiness answer 503", async () => {
    const r = testApp();
    r.drain();
    expect((await r.handle(kratosRequest("/hooks/open", { identity_id: ID }))).status).toBe(503);
    expect((await r.handle(new Request("http://127.0.0.1/health/ready"))).status).toBe(503);
    expect((await r.handle(new Request("http://127.0.0.1/health/live"))).status).toBe(200);
  });
  test("a hook on a reserved path fails startup, with a trailing slash too (Elysia would answer it for /metrics)", () => {
    const base = loadTestConfig();
    for (const path of ["/metrics", "/health/ready/"]) {
      const config = { ...base, hooks: [{ ...base.hooks[0]!, path, routePath: path }] };
      expect(() => testApp({ config })).toThrow(ConfigError);
    }
  });
});

describe("health and metrics", () => {
  test("/health/live is always 200; /health/ready follows store.ping()", async () => {
    const down = { ...fakeStore, ping: async () => { throw new Error("no db"); } };
    const r = testApp({ store: down });
    expect((await r.handle(new Request("http://127.0.0.1/health/live"))).status).toBe(200);
    expect((await r.handle(new Request("http://127.0.0.1/health/ready"))).status).toBe(503);
    const up = testApp();
    const res = await up.handle(new Request("http://127.0.0.1/health/ready"));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });
  test("/health/ready gives up on a hanging ping", async () => {
    const hang = { ...fakeStore, ping: () => new Promise<void>(() => {}) };
    const r = testApp({ store: hang, readyTimeoutMs: 20 });
    expect((await r.handle(new Request("http://127.0.0.1/health/ready"))).status).toBe(503);
  });
  test("/metrics: requests by hook and status, dedupe hits, latency histogram, jobs by state, deliveries", async () => {
    const r = testApp();
    await r.handle(kratosRequest("/hooks/welcome", { identity_id: ID, email: "a@b.co" }, { headers: bearer }));
    await r.handle(kratosRequest("/hooks/welcome", { identity_id: ID, email: "a@b.co" }, { headers: bearer }));
    await r.handle(kratosRequest("/hooks/welcome", { identity_id: ID, email: "a@b.co" }));
    r.metrics.deliveryAttempt("welcome.email", true, 0.2);
    r.metrics.deliveryAttempt("welcome.crm", false, 1.5);
    r.metrics.jobDead("welcome.crm");
    const res = await r.handle(new Request("http://127.0.0.1/metrics"));
    expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    const text = await res.text();
    for (const line of [
      'kratos_hooks_requests_total{hook="welcome",status="204"} 2',
      'kratos_hooks_requests_total{hook="welcome",status="401"} 1',
      'kratos_hooks_dedupe_hits_total{hook="welcome"} 1',
      'kratos_hooks_ack_duration_seconds_count{hook="welcome"} 3',
      'kratos_hooks_ack_duration_seconds_bucket{hook="welcome",le="+Inf"} 3',
      'kratos_hooks_jobs_enqueued_total{action="welcome.email"} 1',
      'kratos_hooks_jobs{state="pending"} 3',
      'kratos_hooks_jobs{state="dead"} 2',
      "kratos_hooks_outbox_oldest_due_age_seconds 1.5",
      'kratos_hooks_delivery_attempts_total{action="welcome.email",result="ok"} 1',
      'kratos_hooks_delivery_attempts_total{action="welcome.crm",result="error"} 1',
      'kratos_hooks_delivery_failures_total{action="welcome.crm"} 1',
      'kratos_hooks_delivery_duration_seconds_bucket{action="welcome.crm",le="2.5"} 1',
      'kratos_hooks_jobs_dead_total{action="welcome.crm"} 1',
      "kratos_hooks_store_up 1",
      "# TYPE kratos_hooks_ack_duration_seconds histogram",
    ])
      expect(text).toContain(line);
    expect(text).not.toContain(SECRET);
  });
  test("/metrics still answers when the store is down", async () => {
    const r = testApp({ store: { ...fakeStore, stats: async () => { throw new Error("down"); } } });
    const res = await r.handle(new Request("http://127.0.0.1/metrics"));
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("kratos_hooks_store_up 0");
  });
});

describe("request log", () => {
  test("one JSON line per request with the documented fields and no body or credentials", async () => {
    const r = testApp();
    await r.handle(
      kratosRequest("/hooks/welcome", { identity_id: ID, email: "private@b.co" }, { headers: { ...bearer, Cookie: "ory_session=abc" }, triggerId: "t-1", requestId: "r-1" }),
    );
    const line = r.log.lines.at(-1)!;
    expect(line).toMatchObject({ level: "info", msg: "request", hook: "welcome", status: 204, request_id: "r-1", trigger_id: "t-1", duplicate: false, outcome: "accepted" });
    expect(typeof line.time).toBe("string");
    expect(typeof line.ms).toBe("number");
    const text = JSON.stringify(r.log.lines);
    for (const s of ["private@b.co", SECRET, "ory_session", ID]) expect(text).not.toContain(s);
  });
  test("client errors log at warn with the error code and field", async () => {
    const r = testApp();
    await r.handle(kratosRequest("/hooks/welcome", { identity_id: ID, email: 1 }, { headers: bearer }));
    expect(r.log.lines.at(-1)).toMatchObject({ level: "warn", status: 400, error: "invalid_body", field: "body.email" });
  });
});

describe("worker events → metrics and logs", () => {
  test("delivered, retry and dead events become delivery metrics; payloads never logged", async () => {
    const { WorkerEventEmitter } = await import("../../src/outbox/worker.ts");
    const { observeWorker } = await import("../../src/server/observe-worker.ts");
    const { Metrics } = await import("../../src/server/metrics.ts");
    const { memoryLogger } = await import("../../src/server/log.ts");
    const events = new WorkerEventEmitter();
    const metrics = new Metrics();
    const log = memoryLogger();
    const off = observeWorker(events, metrics, log);
    const ev = { jobId: "j1", hook: "welcome", action: "welcome.crm", attempt: 1, maxAttempts: 3, triggerId: "trig-1", traceId: "4bf92f3577b34da6a3ce929d0e0e4736" };
    events.emit("job:delivered", { ...ev, durationMs: 120 });
    events.emit("job:retry", { ...ev, attempt: 2, durationMs: 30, error: "HTTP 502", retryAt: 0, delayMs: 1000 });
    events.emit("job:dead", { ...ev, attempt: 3, durationMs: 30, error: "HTTP 502", reason: "max_attempts" });
    events.emit("job:released", { ...ev, reason: "shutdown" });
    events.emit("job:released", { ...ev, reason: "lease" });
    off();
    events.emit("job:delivered", { ...ev, durationMs: 1 });
    const text = metrics.render();
    expect(text).toContain('kratos_hooks_delivery_attempts_total{action="welcome.crm",result="ok"} 1');
    expect(text).toContain('kratos_hooks_delivery_attempts_total{action="welcome.crm",result="error"} 2');
    expect(text).toContain('kratos_hooks_delivery_failures_total{action="welcome.crm"} 2');
    expect(text).toContain('kratos_hooks_jobs_dead_total{action="welcome.crm"} 1');
    expect(log.lines.map((l) => [l.level, l.msg])).toEqual([
      ["info", "job delivered"],
      ["warn", "job attempt failed; will retry"],
      ["error", "job dead"],
      ["info", "job released at shutdown"],
      ["debug", "job given back: it waited in the worker's queue until half its lease was gone"],
    ]);
    expect(log.lines.slice(-2).map((l) => l.reason)).toEqual(["shutdown", "lease"]);
    // Every job line joins its webhook and its trace.
    for (const l of log.lines) expect(l).toMatchObject({ job_id: "j1", hook: "welcome", action: "welcome.crm", trigger_id: "trig-1", trace_id: "4bf92f3577b34da6a3ce929d0e0e4736" });
  });

  test("a job line cuts its trigger id (a header anyone could send) as the request line does", async () => {
    const { WorkerEventEmitter } = await import("../../src/outbox/worker.ts");
    const { observeWorker } = await import("../../src/server/observe-worker.ts");
    const { Metrics } = await import("../../src/server/metrics.ts");
    const { memoryLogger } = await import("../../src/server/log.ts");
    const events = new WorkerEventEmitter();
    const log = memoryLogger();
    const off = observeWorker(events, new Metrics(), log);
    const ev = { jobId: "j1", hook: "welcome", action: "welcome.crm", attempt: 1, maxAttempts: 3, triggerId: "t".repeat(8192) };
    events.emit("job:delivered", { ...ev, durationMs: 1 });
    events.emit("worker:error", { op: "complete", error: "store down", jobId: "j1", hook: "welcome", action: "welcome.crm", triggerId: ev.triggerId });
    off();
    expect(log.lines.map((l) => l.trigger_id)).toEqual([`${"t".repeat(128)}…(8064 more)`, `${"t".repeat(128)}…(8064 more)`]);
  });
});
