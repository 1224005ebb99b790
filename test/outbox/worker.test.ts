import { afterEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { backoffCeiling, seededRandom } from "../../src/outbox/retry.ts";
import { claimGroups, Worker, type WorkerOptions } from "../../src/outbox/worker.ts";
import { httpAction } from "../actions/helpers.ts";
import { enqueue, freePort, recordEvents, startSink, tempStore, until } from "./fixtures.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(workerOpts: Partial<WorkerOptions> & Pick<WorkerOptions, "actions">, storeOpts: { busyTimeoutMs?: number } = {}) {
  const t = await tempStore(storeOpts);
  cleanups.push(t.cleanup);
  const worker = new Worker({ store: t.store, leaseMs: 5000, pollMs: 50, minPollMs: 5, random: seededRandom(1), ...workerOpts });
  cleanups.push(() => worker.stop(1000));
  const events = recordEvents(worker);
  return { ...t, worker, events };
}

describe("worker", () => {
  test("delivers every job once and marks it done", async () => {
    const sink = startSink();
    cleanups.push(sink.stop);
    const action = httpAction({ id: "welcome.crm", hook: "welcome", url: `${sink.url}/contacts`, body: { email: "{{body.email}}" } });
    const { store, worker, events } = await setup({ actions: [action] });
    const ids = await enqueue(store, action, Array.from({ length: 10 }, (_, i) => ({ email: `u${i}@example.com` })));
    worker.start();
    await until(() => events.of("job:delivered").length === 10, "10 deliveries");
    expect(sink.deliveries.map((d) => d.jobId).sort()).toEqual([...ids].sort());
    expect(sink.deliveries.map((d) => (d.body as { email: string }).email).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `u${i}@example.com`).sort());
    const done = await store.listJobs({ state: "done" });
    expect(done).toHaveLength(10);
    expect(events.of("job:delivered").every((e) => e.attempt === 1 && e.action === "welcome.crm" && e.hook === "welcome")).toBe(true);
  });

  test("delivers jobs stored as accepted webhooks, rendering the templates at delivery", async () => {
    const sink = startSink();
    cleanups.push(sink.stop);
    const action = httpAction({ id: "welcome.crm", hook: "welcome", url: `${sink.url}/contacts`, body: { email: "{{body.email}}", job: "{{job.id}}" } });
    const { store, worker, events } = await setup({ actions: [action] });
    const ids = await enqueue(store, action, [{ email: "x@example.com" }, { email: "y@example.com" }], { form: "accepted" });
    worker.start();
    await until(() => events.of("job:delivered").length === 2, "2 deliveries");
    expect(sink.deliveries.map((d) => d.body).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual(
      [{ email: "x@example.com", job: ids[0] }, { email: "y@example.com", job: ids[1] }],
    );
  });

  test("wake() makes an idle worker claim a new job without waiting out the poll interval", async () => {
    const sink = startSink();
    cleanups.push(sink.stop);
    const action = httpAction({ url: sink.url });
    const { store, worker, events } = await setup({ actions: [action], pollMs: 60_000, minPollMs: 60_000 });
    worker.start();
    await Bun.sleep(20);
    await enqueue(store, action, [{}]);
    worker.wake();
    await until(() => events.of("job:delivered").length === 1, "the delivery after wake", 3000);
  });

  test("never runs more deliveries of an action at once than its concurrency", async () => {
    const sinkA = startSink({ delayMs: 40 });
    const sinkB = startSink({ delayMs: 40 });
    cleanups.push(sinkA.stop, sinkB.stop);
    const a = httpAction({ id: "h.a", url: sinkA.url, concurrency: 3 });
    const b = httpAction({ id: "h.b", url: sinkB.url, concurrency: 1 });
    const { store, worker, events } = await setup({ actions: [a, b] });
    await enqueue(store, a, Array.from({ length: 24 }, () => ({})));
    await enqueue(store, b, Array.from({ length: 6 }, () => ({})));
    worker.start();
    await until(() => events.of("job:delivered").length === 30, "30 deliveries");
    expect(sinkA.state.maxInFlight).toBeLessThanOrEqual(3);
    expect(sinkA.state.maxInFlight).toBeGreaterThanOrEqual(2);
    expect(sinkB.state.maxInFlight).toBe(1);
  });

  test("respects the per-action rate limit (token bucket: a burst of a tenth of a second's worth, then `rate` per second)", async () => {
    const sink = startSink();
    cleanups.push(sink.stop);
    const action = httpAction({ url: sink.url, rateLimit: 10, concurrency: 16 });
    const { store, worker, events } = await setup({ actions: [action] });
    await enqueue(store, action, Array.from({ length: 25 }, () => ({})));
    worker.start();
    await until(() => events.of("job:delivered").length === 25, "25 deliveries");
    const times = sink.deliveries.map((d) => d.at).sort((x, y) => x - y);
    // In any one-second window: at most the burst (1) + 10 refilled, plus slack for the edges,
    // and not twice the rate in the first second, as a burst of a whole second's worth would give.
    for (let i = 0; i < times.length; i++) {
      const inWindow = times.filter((t) => t >= times[i]! && t < times[i]! + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(13);
    }
    // 25 jobs at 10/s after a burst of 1 take 2.4 s.
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(2000);
  });

  test("a destination's rate limit (serve.rate_limits) is shared by every action that delivers there", async () => {
    const sink = startSink();
    cleanups.push(sink.stop);
    // Two actions, no limit of their own, one destination at 10/s: 30 jobs cannot all go out within
    // 2.5 s (a burst of 1, then 10 per second), though each action alone would send its 15 at once.
    const a = httpAction({ id: "welcome.crm", url: `${sink.url}/a`, concurrency: 16, destination: sink.url });
    const b = httpAction({ id: "welcome.audit", url: `${sink.url}/b`, concurrency: 16, destination: sink.url });
    const { store, worker, events } = await setup({ actions: [a, b], rateLimits: { [sink.url]: 10 } });
    await enqueue(store, a, Array.from({ length: 15 }, () => ({})));
    await enqueue(store, b, Array.from({ length: 15 }, () => ({})));
    worker.start();
    await until(() => events.of("job:delivered").length === 30, "30 deliveries");
    const times = sink.deliveries.map((d) => d.at).sort((x, y) => x - y);
    for (let i = 0; i < times.length; i++) {
      const inWindow = times.filter((t) => t >= times[i]! && t < times[i]! + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(13);
    }
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(2500);
    // Both actions got deliveries out while sharing the tokens.
    expect(new Set(sink.deliveries.map((d) => d.path))).toEqual(new Set(["/a", "/b"]));
  });

  test("a downstream outage: retries follow the backoff schedule and every job is delivered once the sink is back", async () => {
    const port = freePort();
    const action = httpAction({ url: `http://127.0.0.1:${port}/in`, retry: { attempts: 20, baseMs: 50, capMs: 400 }, timeoutMs: 1000 });
    const { store, worker, events } = await setup({ actions: [action] });
    const ids = await enqueue(store, action, Array.from({ length: 8 }, (_, i) => ({ i })));
    worker.start();
    // Down (connection refused) until every job failed at least 4 times.
    await until(() => ids.every((id) => events.of("job:retry").filter((e) => e.jobId === id).length >= 4), "4 failed attempts per job");
    const sink = startSink({ port });
    cleanups.push(sink.stop);
    await until(() => events.of("job:delivered").length === 8, "8 deliveries after the outage");

    expect(new Set(sink.deliveries.map((d) => d.jobId))).toEqual(new Set(ids));
    for (const id of ids) {
      const claims = events.log.filter((l) => l.name === "job:claimed" && (l.e as { jobId: string }).jobId === id);
      const retries = events.log.filter((l) => l.name === "job:retry" && (l.e as { jobId: string }).jobId === id);
      for (const [n, r] of retries.entries()) {
        const e = r.e as { attempt: number; delayMs: number; retryAt: number };
        expect(e.attempt).toBe(n + 1);
        // Full jitter: delay after attempt k lies in [0, min(cap, base·2^(k-1))).
        expect(e.delayMs).toBeGreaterThanOrEqual(0);
        expect(e.delayMs).toBeLessThan(backoffCeiling(e.attempt - 1, action.retry));
        // The next attempt never starts before its scheduled time.
        expect(claims[n + 1]!.at).toBeGreaterThanOrEqual(e.retryAt);
      }
      const job = await store.getJob(id);
      expect(job).toMatchObject({ state: "done", attempts: retries.length + 1 });
    }
    expect(events.of("job:dead")).toHaveLength(0);
  });

  test("jobs past their attempts are dead-lettered with the last error, and retryJobs replays them to delivered", async () => {
    const port = freePort();
    const action = httpAction({ url: `http://127.0.0.1:${port}/in`, retry: { attempts: 3, baseMs: 20, capMs: 50 } });
    const { store, worker, events } = await setup({ actions: [action] });
    const ids = await enqueue(store, action, [{}, {}, {}]);
    worker.start();
    await until(() => events.of("job:dead").length === 3, "3 dead jobs");
    const dead = await store.listJobs({ state: "dead" });
    expect(dead.map((j) => j.id).sort()).toEqual([...ids].sort());
    for (const j of dead) {
      expect(j.attempts).toBe(3);
      expect(j.lastError).toContain("failed");
    }
    expect(events.of("job:dead").every((e) => e.reason === "max_attempts" && e.attempt === 3)).toBe(true);

    const sink = startSink({ port });
    cleanups.push(sink.stop);
    expect(await store.retryJobs({ state: "dead" }, Date.now())).toBe(3);
    worker.wake();
    await until(() => events.of("job:delivered").length === 3, "3 replayed deliveries");
    expect((await store.listJobs({ state: "done" })).length).toBe(3);
  });

  test("a Retry-After from the destination stretches the retry delay, up to the cap", async () => {
    let calls = 0;
    const sink = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () => (++calls === 1 ? new Response("busy", { status: 503, headers: { "retry-after": "1" } }) : new Response("ok")),
    });
    cleanups.push(() => sink.stop(true));
    const action = httpAction({ url: `http://127.0.0.1:${sink.port}/`, retry: { attempts: 3, baseMs: 10, capMs: 300 } });
    const { store, worker, events } = await setup({ actions: [action] });
    await enqueue(store, action, [{}]);
    worker.start();
    await until(() => events.of("job:delivered").length === 1, "the delivery after Retry-After");
    // Retry-After: 1 s, capped at the 300 ms retry cap (the jittered backoff alone is below 10 ms).
    expect(events.of("job:retry")[0]!.delayMs).toBe(300);
  });

  test("a non-retryable failure (http 4xx) goes dead at the first attempt", async () => {
    const sink = startSink({ status: () => 422 });
    cleanups.push(sink.stop);
    const action = httpAction({ url: sink.url, retry: { attempts: 10, baseMs: 10, capMs: 20 } });
    const { store, worker, events } = await setup({ actions: [action] });
    const [id] = await enqueue(store, action, [{}]);
    worker.start();
    await until(() => events.of("job:dead").length === 1, "a dead job");
    expect(events.of("job:dead")[0]).toMatchObject({ jobId: id, attempt: 1, reason: "non_retryable" });
    expect(events.of("job:retry")).toHaveLength(0);
    expect((await store.getJob(id!))!.lastError).toContain("422");
  });

  test("a job leased by a worker that never finishes is picked up by another after the lease", async () => {
    const sink = startSink();
    cleanups.push(sink.stop);
    const action = httpAction({ url: sink.url });
    const { store, worker, events } = await setup({ actions: [action] });
    const [id] = await enqueue(store, action, [{}]);
    // A worker that claims and then dies.
    const claimedAt = Date.now();
    const ghost = await store.claimDueJobs({ worker: "ghost", now: claimedAt, leaseMs: 300, limit: 10 });
    expect(ghost.map((j) => j.id)).toEqual([id!]);
    worker.start();
    await until(() => events.of("job:delivered").length === 1, "the reclaimed delivery");
    const claim = events.log.find((l) => l.name === "job:claimed")!;
    expect(claim.at).toBeGreaterThanOrEqual(claimedAt + 300);
    expect(claim.e).toMatchObject({ jobId: id, attempt: 2 });
    expect(await store.getJob(id!)).toMatchObject({ state: "done", attempts: 2 });
  });

  test("a delivery that outlives its lease is cut before the lease ends and retried", async () => {
    const sink = startSink({ delayMs: 3000 });
    cleanups.push(sink.stop);
    const action = httpAction({ url: sink.url, timeoutMs: 10_000, retry: { attempts: 2, baseMs: 10, capMs: 10 } });
    const { store, worker, events } = await setup({ actions: [action], leaseMs: 400 });
    await enqueue(store, action, [{}]);
    worker.start();
    await until(() => events.of("job:retry").length === 1, "the cut delivery");
    expect(events.of("job:retry")[0]!.error).toContain("aborted");
  });

  test("an http action's timeout (on the worker's deadline timer) aborts the request: a retry that says timed out", async () => {
    const sink = startSink({ delayMs: 3000 });
    cleanups.push(sink.stop);
    const action = httpAction({ url: sink.url, timeoutMs: 150, retry: { attempts: 2, baseMs: 10, capMs: 10 } });
    const { store, worker, events } = await setup({ actions: [action], leaseMs: 30_000 });
    await enqueue(store, action, [{}]);
    worker.start();
    await until(() => events.of("job:retry").length === 1, "the timed-out delivery");
    expect(events.of("job:retry")[0]!.error).toContain("timed out after 150ms");
  });

  test("deliveries share a deadline's timer without cutting each other: one that ends leaves the rest to their timeout, and one started later gets its whole timeout", async () => {
    // The sink answers after the ms its path names.
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: async (req) => (await Bun.sleep(Number(new URL(req.url).pathname.slice(1))), new Response("ok")) });
    cleanups.push(() => server.stop(true));
    const action = httpAction({ url: `http://127.0.0.1:${server.port}/{{body.ms}}`, concurrency: 2, timeoutMs: 300, retry: { attempts: 2, baseMs: 60_000, capMs: 60_000 } });
    const { store, worker, events } = await setup({ actions: [action], leaseMs: 30_000 });
    // The first two start together (one claim); the third takes the first's slot ~50 ms later.
    const [quick, slow, later] = await enqueue(store, action, [{ ms: 50 }, { ms: 5000 }, { ms: 5000 }]);
    worker.start();
    await until(() => events.of("job:retry").length === 2, "two timed-out deliveries", 5000);
    expect(events.of("job:delivered").map((e) => e.jobId)).toEqual([quick!]);
    const retries = new Map(events.of("job:retry").map((e) => [e.jobId, e]));
    expect([...retries.keys()].sort()).toEqual([slow!, later!].sort());
    for (const e of retries.values()) {
      expect(e.error).toContain("timed out after 300ms");
      expect(e.durationMs).toBeGreaterThanOrEqual(299);
      expect(e.durationMs).toBeLessThan(1000);
    }
  });

  test("a delivery after one that was cut is not cut with it: an aborted signal is never handed on", async () => {
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: async (req) => (await Bun.sleep(Number(new URL(req.url).pathname.slice(1))), new Response("ok")) });
    cleanups.push(() => server.stop(true));
    const action = httpAction({ url: `http://127.0.0.1:${server.port}/{{body.ms}}`, concurrency: 1, timeoutMs: 200, retry: { attempts: 2, baseMs: 60_000, capMs: 60_000 } });
    const { store, worker, events } = await setup({ actions: [action], leaseMs: 30_000 });
    const [cut, ...after] = await enqueue(store, action, [{ ms: 5000 }, { ms: 5 }, { ms: 5 }, { ms: 5 }]);
    worker.start();
    await until(() => events.of("job:delivered").length === 3, "the three deliveries after the cut one", 5000);
    expect(events.of("job:retry").map((e) => e.jobId)).toEqual([cut!]);
    expect(events.of("job:delivered").map((e) => e.jobId)).toEqual(after);
  });

  test("stop(timeout) waits for deliveries that finish in time", async () => {
    const sink = startSink({ delayMs: 100 });
    cleanups.push(sink.stop);
    const action = httpAction({ url: sink.url });
    const { store, worker, events } = await setup({ actions: [action] });
    const [id] = await enqueue(store, action, [{}]);
    worker.start();
    await until(() => events.of("job:claimed").length === 1, "the claim");
    await worker.stop(5000);
    expect(events.of("job:delivered")).toHaveLength(1);
    expect((await store.getJob(id!))!.state).toBe("done");
    expect(worker.inFlight).toBe(0);
  });

  test("stop(timeout) releases deliveries still in flight after the timeout, without counting the attempt", async () => {
    const sink = startSink({ delayMs: 5000 });
    cleanups.push(sink.stop);
    const action = httpAction({ url: sink.url, timeoutMs: 10_000 });
    const { store, worker, events } = await setup({ actions: [action], leaseMs: 30_000 });
    const ids = await enqueue(store, action, [{}, {}]);
    worker.start();
    await until(() => sink.state.inFlight === 2, "2 requests at the sink");
    await Promise.all([worker.stop(200), worker.stop(200)]);
    // stop() did not wait for the sink's 5 s answers; a second stop() joins the first.
    expect(sink.deliveries).toHaveLength(0);
    expect(events.of("job:released").map((e) => e.jobId).sort()).toEqual([...ids].sort());
    for (const id of ids) expect(await store.getJob(id)).toMatchObject({ state: "pending", attempts: 0, lockedBy: null });
    expect(events.of("job:retry")).toHaveLength(0);
    expect(worker.inFlight).toBe(0);
  });

  test("keeps running while the store is unavailable, backing off, then delivers", async () => {
    const sink = startSink();
    cleanups.push(sink.stop);
    const action = httpAction({ url: sink.url });
    const { store, worker, events, dir } = await setup({ actions: [action] }, { busyTimeoutMs: 20 });
    // Another connection holds the write lock: every claim fails with SQLITE_BUSY.
    const locker = new Database(join(dir, "outbox.db"));
    locker.run("BEGIN IMMEDIATE");
    worker.start();
    await until(() => events.of("worker:error").length >= 3, "3 claim errors");
    const errors = events.of("worker:error");
    expect(errors.every((e) => e.op === "claim")).toBe(true);
    expect(errors[0]!.error).toContain("StoreUnavailableError");
    expect(errors[1]!.retryInMs!).toBeGreaterThan(errors[0]!.retryInMs!);
    expect(worker.running).toBe(true);
    locker.run("COMMIT");
    locker.close();
    await enqueue(store, action, [{}]);
    await until(() => events.of("job:delivered").length === 1, "a delivery once the store is back");
  });

  test("a completion the store fails backs off 100, 200, 400 ms from its first write, then is recorded with its attempt", async () => {
    const sink = startSink();
    cleanups.push(sink.stop);
    const action = httpAction({ url: sink.url });
    const t = await tempStore();
    cleanups.push(t.cleanup);
    // The real store, whose completion writes (alone or with a claim) fail three times.
    let failures = 3;
    const failing = (fn: (...a: never[]) => Promise<unknown>) => (...a: never[]) => (failures > 0 ? (failures--, Promise.reject(new Error("disk on fire"))) : fn(...a));
    const store = new Proxy(t.store, {
      get(target, key) {
        const v = Reflect.get(target, key, target);
        if (typeof v !== "function") return v;
        const bound = v.bind(target);
        return key === "completeJobs" || key === "completeThenClaim" ? failing(bound) : bound;
      },
    });
    const worker = new Worker({ store, actions: [action], leaseMs: 30_000, pollMs: 50, minPollMs: 5, random: seededRandom(1), maxStoreBackoffMs: 5000 });
    cleanups.push(() => worker.stop(1000));
    const events = recordEvents(worker);
    const [id] = await enqueue(t.store, action, [{}]);
    worker.start();
    await until(() => events.of("job:delivered").length === 1, "the recorded delivery", 5000);
    const errors = events.of("worker:error").filter((e) => e.op === "complete");
    expect(errors.map((e) => [e.jobId, e.retryInMs])).toEqual([[id, 100], [id, 200], [id, 400]]);
    expect(sink.deliveries).toHaveLength(1);
    expect((await t.store.getJob(id!))!.state).toBe("done");
    expect((await t.store.listAttempts(id!)).map((a) => a.outcome)).toEqual(["delivered"]);
  });

  test("an outcome that cannot be recorded (store busy) is retried until it is", async () => {
    const sink = startSink({ delayMs: 150 });
    cleanups.push(sink.stop);
    const action = httpAction({ url: sink.url });
    const { store, worker, events, dir } = await setup({ actions: [action] }, { busyTimeoutMs: 20 });
    const [id] = await enqueue(store, action, [{}]);
    worker.start();
    await until(() => sink.state.inFlight === 1, "the request at the sink");
    const locker = new Database(join(dir, "outbox.db"));
    locker.run("BEGIN IMMEDIATE");
    await until(() => events.of("worker:error").some((e) => e.op === "complete"), "a failed completeJob");
    locker.run("COMMIT");
    locker.close();
    await until(() => events.of("job:delivered").length === 1, "the recorded delivery");
    expect(sink.deliveries).toHaveLength(1);
    expect((await store.getJob(id!))!.state).toBe("done");
  });

  test("jobs of actions the worker does not know stay pending", async () => {
    const sink = startSink();
    cleanups.push(sink.stop);
    const known = httpAction({ id: "h.known", url: sink.url });
    const other = httpAction({ id: "h.removed", url: sink.url });
    const { store, worker, events } = await setup({ actions: [known] });
    const [otherId] = await enqueue(store, other, [{}]);
    await enqueue(store, known, [{}]);
    worker.start();
    await until(() => events.of("job:delivered").length === 1, "the known delivery");
    await Bun.sleep(100);
    expect((await store.getJob(otherId!))!.state).toBe("pending");
  });

  test("events never carry env values", async () => {
    const sink = startSink({ status: () => 500 });
    cleanups.push(sink.stop);
    const action = httpAction({ url: `${sink.url}/x?token={{env.TOKEN}}`, headers: { Authorization: "Bearer {{env.TOKEN}}" }, retry: { attempts: 2, baseMs: 5, capMs: 10 } });
    const { store, worker, events } = await setup({ actions: [action], env: { TOKEN: "very-secret-token" } });
    const [id] = await enqueue(store, action, [{}]);
    worker.start();
    await until(() => events.of("job:dead").length === 1, "the dead job");
    expect(JSON.stringify(events.log)).not.toContain("very-secret-token");
    expect(JSON.stringify(await store.getJob(id!))).not.toContain("very-secret-token");
  });
});

describe("claim groups", () => {
  test("no claim may hand an action more jobs than its free slots", () => {
    const free = new Map([["a", 16], ["b", 1], ["c", 9], ["d", 3]]);
    const groups = claimGroups(free, 32);
    for (const g of groups) for (const a of g.actions) expect(g.limit).toBeLessThanOrEqual(free.get(a)!);
    expect(groups.flatMap((g) => g.actions).sort()).toEqual(["a", "b", "c", "d"]);
  });

  test("a nearly full action does not hold the roomy ones down to its size", () => {
    expect(claimGroups(new Map([["http", 16], ["exec", 1]]), 32)).toEqual([
      { actions: ["http"], limit: 16 },
      { actions: ["exec"], limit: 1 },
    ]);
  });

  test("one claim when all actions are alike, capped by the batch size", () => {
    expect(claimGroups(new Map([["a", 64], ["b", 40]]), 32)).toEqual([{ actions: ["a", "b"], limit: 32 }]);
    expect(claimGroups(new Map(), 32)).toEqual([]);
  });
});
