// The worker records completions in batches (one completeJobs write for many deliveries) and
// claims for its free slots in few, large claims. A write that fails is retried until recorded;
// a job whose lease was lost meanwhile is reported, not counted as delivered.
import { afterEach, describe, expect, test } from "bun:test";
import { StoreUnavailableError } from "../../src/outbox/errors.ts";
import type { Store } from "../../src/outbox/store.ts";
import { Worker } from "../../src/outbox/worker.ts";
import { httpAction } from "../actions/helpers.ts";
import { enqueue, recordEvents, startSink, tempStore, until } from "./fixtures.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Hooks = { completeJobs?: (items: Parameters<Store["completeJobs"]>[0], real: Store) => Promise<void>; claim?: () => Promise<void> };

/** A real SQLite store behind a proxy that counts the worker's store calls (and can intervene). */
async function countedStore(hooks: Hooks = {}) {
  const t = await tempStore();
  cleanups.push(t.cleanup);
  // withClaims: completions that rode with a claim (Store.completeThenClaim), a claim and a completion write in one.
  const calls = { claimDueJobs: 0, claimSizes: [] as number[], completeJobs: 0, withClaims: 0, completeJob: 0, completedItems: [] as string[][] };
  const store = new Proxy(t.store, {
    get(target, key) {
      if (key === "claimDueJobs") {
        return async (o: Parameters<Store["claimDueJobs"]>[0]) => {
          calls.claimDueJobs++;
          await hooks.claim?.();
          const jobs = await target.claimDueJobs(o);
          calls.claimSizes.push(jobs.length);
          return jobs;
        };
      }
      if (key === "completeThenClaim") {
        return async (items: Parameters<Store["completeJobs"]>[0], now: number, o: Parameters<Store["claimDueJobs"]>[0]) => {
          calls.claimDueJobs++;
          calls.withClaims++;
          calls.completedItems.push(items.map((i) => i.id));
          await hooks.claim?.();
          await hooks.completeJobs?.(items, target);
          const r = await target.completeThenClaim!(items, now, o);
          calls.claimSizes.push(r.jobs.length);
          return r;
        };
      }
      if (key === "completeJob") return (id: string, w: string, now: number) => (calls.completeJob++, target.completeJob(id, w, now));
      if (key === "completeJobs") {
        return async (items: Parameters<Store["completeJobs"]>[0], now: number) => {
          calls.completeJobs++;
          calls.completedItems.push(items.map((i) => i.id));
          await hooks.completeJobs?.(items, target);
          return target.completeJobs(items, now);
        };
      }
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { real: t.store, store, calls };
}

function worker(store: Store, actions: Parameters<typeof httpAction>[0][], over: Partial<ConstructorParameters<typeof Worker>[0]> = {}) {
  const w = new Worker({ store, actions: actions.map(httpAction), leaseMs: 10_000, pollMs: 50, minPollMs: 5, workerId: "w1", ...over });
  cleanups.push(() => w.stop(1000));
  return { w, events: recordEvents(w) };
}

describe("worker: batched completions and claims", () => {
  test("200 deliveries are recorded in far fewer completion writes, and each job once", async () => {
    const sink = startSink();
    cleanups.push(sink.stop);
    const { real, store, calls } = await countedStore();
    const action = { url: sink.url, concurrency: 32 };
    const ids = await enqueue(real, httpAction(action), Array.from({ length: 200 }, (_, i) => ({ i })));
    const { w, events } = worker(store, [action]);
    w.start();
    await until(() => events.of("job:delivered").length === 200, "200 deliveries");
    expect(calls.completeJob).toBe(0);
    expect(calls.completeJobs + calls.withClaims).toBeLessThanOrEqual(200 / 4);
    expect(calls.claimDueJobs).toBeLessThanOrEqual(200 / 4);
    // Completions still collected when the loop claims go in the claim's transaction (SQLite).
    expect(calls.withClaims).toBeGreaterThan(0);
    expect(calls.completedItems.flat().sort()).toEqual([...ids].sort());
    expect((await real.stats(Date.now())).byState).toEqual({ pending: 0, running: 0, done: 200, dead: 0 });
    expect(new Set(sink.deliveries.map((d) => d.jobId)).size).toBe(200);
  });

  test("completions still collected when the worker claims are recorded by that claim's transaction, with no completion write of their own", async () => {
    const sink = startSink();
    cleanups.push(sink.stop);
    // Slow claims: more deliveries end, and their completions queue, while each claim is in flight.
    const { real, store, calls } = await countedStore({ claim: () => Bun.sleep(30) });
    const action = { url: sink.url, concurrency: 4 };
    const ids = await enqueue(real, httpAction(action), Array.from({ length: 40 }, () => ({})));
    // Completion batches never go on their own timer here: only claims (and the idle polls' claims) record them.
    const { w, events } = worker(store, [action], { completionWaitMs: 60_000 });
    w.start();
    await until(() => events.of("job:delivered").length === 40, "40 recorded deliveries");
    expect(calls.completeJobs).toBe(0);
    expect(calls.completedItems.flat().sort()).toEqual([...ids].sort());
    expect((await real.stats(Date.now())).byState).toEqual({ pending: 0, running: 0, done: 40, dead: 0 });
  });

  test("a completion write that fails is retried until recorded: every job done, delivered once, errors reported", async () => {
    const sink = startSink();
    cleanups.push(sink.stop);
    let failures = 2;
    const { real, store, calls } = await countedStore({
      completeJobs: async () => {
        if (failures > 0 && failures--) throw new StoreUnavailableError("sqlite store unavailable during completeJobs: SQLITE_BUSY");
      },
    });
    const action = { url: sink.url, concurrency: 8 };
    const ids = await enqueue(real, httpAction(action), Array.from({ length: 8 }, () => ({})));
    const { w, events } = worker(store, [action]);
    w.start();
    await until(() => events.of("job:delivered").length === 8, "8 recorded deliveries");
    const errors = events.of("worker:error");
    expect(errors.length).toBeGreaterThan(0);
    // A write that carried a claim too fails that claim as well (the worker backs off and claims again).
    expect(errors.some((e) => e.op === "complete")).toBe(true);
    expect(errors.every((e) => (e.op === "complete" || e.op === "claim") && e.error.includes("StoreUnavailableError") && e.retryInMs! > 0)).toBe(true);
    // The failed writes held jobs that were written again later; nothing was delivered twice.
    expect(calls.completeJobs + calls.withClaims).toBeGreaterThanOrEqual(3);
    expect(sink.deliveries.map((d) => d.jobId).sort()).toEqual([...ids].sort());
    expect((await real.stats(Date.now())).byState.done).toBe(8);
  });

  test("a job whose lease was lost before its completion was written is reported as such, not as delivered", async () => {
    const sink = startSink();
    cleanups.push(sink.stop);
    let stolen: string | undefined;
    const { real, store } = await countedStore({
      // Before the first write: another worker ends up holding the first job's lease.
      completeJobs: async (items, target) => {
        if (stolen) return;
        stolen = items[0]!.id;
        await target.releaseJob(stolen, "w1", Date.now());
        const [taken] = await target.claimDueJobs({ worker: "ghost", now: Date.now(), leaseMs: 60_000, limit: 1 });
        expect(taken?.id).toBe(stolen);
      },
    });
    const action = { url: sink.url, concurrency: 8 };
    const ids = await enqueue(real, httpAction(action), Array.from({ length: 5 }, () => ({})));
    const { w, events } = worker(store, [action]);
    w.start();
    await until(() => events.of("job:delivered").length + events.of("worker:error").length === 5, "5 outcomes");
    expect(events.of("job:delivered").map((e) => e.jobId).sort()).toEqual(ids.filter((id) => id !== stolen).sort());
    expect(events.of("worker:error")).toEqual([expect.objectContaining({ op: "lease", jobId: stolen })]);
    expect(await real.getJob(stolen!)).toMatchObject({ state: "running", lockedBy: "ghost" });
  });

  test("a claim takes as many jobs as there are free slots, beyond the old cap of 32 (without prefetch)", async () => {
    const sink = startSink({ delayMs: 200 });
    cleanups.push(sink.stop);
    const { real, store, calls } = await countedStore();
    const action = { url: sink.url, concurrency: 48 };
    await enqueue(real, httpAction(action), Array.from({ length: 60 }, () => ({})));
    const { w, events } = worker(store, [action], { prefetch: false });
    w.start();
    await until(() => events.of("job:delivered").length === 60, "60 deliveries");
    expect(calls.claimSizes[0]).toBe(48);
    expect(sink.state.maxInFlight).toBeLessThanOrEqual(48);
  });
  test("stop waits for completions still being written, then the jobs are done", async () => {
    const sink = startSink();
    cleanups.push(sink.stop);
    const { real, store } = await countedStore();
    const action = { url: sink.url, concurrency: 4 };
    const ids = await enqueue(real, httpAction(action), Array.from({ length: 4 }, () => ({})));
    const { w, events } = worker(store, [action], { completionWaitMs: 300 });
    w.start();
    await until(() => sink.deliveries.length === 4, "4 requests at the sink");
    await w.stop(5000);
    expect(events.of("job:delivered").map((e) => e.jobId).sort()).toEqual([...ids].sort());
    expect((await real.stats(Date.now())).byState.done).toBe(4);
    expect(events.of("job:released")).toHaveLength(0);
  });
});

describe("worker: prefetch", () => {
  test("claims its concurrency ahead, twice that once its deliveries prove short, delivers the queued jobs as slots free, never beyond the concurrency", async () => {
    const sink = startSink({ delayMs: 150 });
    cleanups.push(sink.stop);
    const { real, store, calls } = await countedStore();
    const action = { url: sink.url, concurrency: 8 };
    const ids = await enqueue(real, httpAction(action), Array.from({ length: 40 }, () => ({})));
    const { w, events } = worker(store, [action]);
    w.start();
    // The first claim fills the slots and the queue behind them.
    await until(() => sink.state.inFlight === 8 && w.queued === 8, "8 in flight and 8 queued");
    expect(calls.claimSizes[0]).toBe(16);
    let maxQueued = 0;
    const poll = setInterval(() => (maxQueued = Math.max(maxQueued, w.queued)), 2);
    cleanups.push(() => clearInterval(poll));
    await until(() => events.of("job:delivered").length === 40, "40 deliveries");
    expect(sink.state.maxInFlight).toBe(8);
    // 150 ms deliveries against a 10 s lease: short, so the queue deepened, up to twice the concurrency.
    expect(maxQueued).toBeGreaterThan(8);
    expect(maxQueued).toBeLessThanOrEqual(16);
    expect(new Set(sink.deliveries.map((d) => d.jobId))).toEqual(new Set(ids));
    for (const id of ids) expect(await real.getJob(id)).toMatchObject({ state: "done", attempts: 1 });
    expect(w.queued).toBe(0);
  });

  test("against a slow destination whose answers come one by one, each claim refills a whole concurrency", async () => {
    // 20-59 ms per answer, varied, so the slots free one at a time rather than in waves.
    let n = 0;
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: async () => (await Bun.sleep(20 + ((n++ * 17) % 40)), new Response("ok")) });
    cleanups.push(() => server.stop(true));
    const { real, store, calls } = await countedStore();
    const action = { url: `http://127.0.0.1:${server.port}`, concurrency: 8 };
    await enqueue(real, httpAction(action), Array.from({ length: 64 }, () => ({})));
    const { w, events } = worker(store, [action]);
    w.start();
    await until(() => events.of("job:delivered").length === 64, "64 deliveries");
    const sizes = calls.claimSizes.filter((k) => k > 0);
    // The slots and the queue, then (deliveries far shorter than the lease: a deep queue) refills
    // of 8 or more, the concurrency: at most 1 + 48 / 8 claims, where refilling after each freed
    // slot would take dozens.
    expect(sizes[0]).toBe(16);
    expect(sizes.slice(1, -1).every((k) => k >= 8)).toBe(true);
    expect(sizes.length).toBeLessThanOrEqual(7);
  });

  test("deliveries longer than an eighth of the lease keep the queue one concurrency deep, so queued jobs start well within their lease", async () => {
    // Lease 2 s, 400 ms per delivery (> 250 ms): a queue of twice the concurrency would have its
    // last jobs wait 800 ms; this one stays at 2.
    const sink = startSink({ delayMs: 400 });
    cleanups.push(sink.stop);
    const { real, store, calls } = await countedStore();
    const action = { url: sink.url, concurrency: 2, timeoutMs: 1000 };
    await enqueue(real, httpAction(action), Array.from({ length: 12 }, () => ({})));
    const { w, events } = worker(store, [action], { leaseMs: 2000 });
    let maxQueued = 0;
    const poll = setInterval(() => (maxQueued = Math.max(maxQueued, w.queued)), 5);
    cleanups.push(() => clearInterval(poll));
    w.start();
    await until(() => events.of("job:delivered").length === 12, "12 deliveries", 10_000);
    expect(maxQueued).toBe(2);
    expect(calls.claimSizes[0]).toBe(4);
    expect(events.of("job:released")).toHaveLength(0);
  });

  test("stop() gives queued jobs back without counting their attempt", async () => {
    const sink = startSink({ delayMs: 5000 });
    cleanups.push(sink.stop);
    const { real, store } = await countedStore();
    const action = { url: sink.url, concurrency: 2, timeoutMs: 10_000 };
    const ids = await enqueue(real, httpAction(action), Array.from({ length: 4 }, () => ({})));
    const { w, events } = worker(store, [action], { leaseMs: 30_000 });
    w.start();
    await until(() => sink.state.inFlight === 2 && w.queued === 2, "2 in flight, 2 queued");
    await w.stop(200);
    expect(events.of("job:released").map((e) => e.jobId).sort()).toEqual([...ids].sort());
    expect(events.of("job:released").every((e) => e.reason === "shutdown")).toBe(true);
    for (const id of ids) expect(await real.getJob(id)).toMatchObject({ state: "pending", attempts: 0, lockedBy: null });
    expect(sink.deliveries).toHaveLength(0);
    expect(w.queued).toBe(0);
  });

  test("a queued job whose lease is half gone when a slot frees is given back, then claimed again and delivered", async () => {
    // Lease 2 s; the sink takes 1.2 s, so the job queued behind the first waits ≥ 1.2 s and has
    // ≤ 0.8 s of its lease left when the slot frees (< half): released, not delivered on a lease
    // that could run out under it. (Each delivery is cut at 1.8 s: 0.6 s of slack for a slow machine.)
    const sink = startSink({ delayMs: 1200 });
    cleanups.push(sink.stop);
    const { real, store } = await countedStore();
    const action = { url: sink.url, concurrency: 1, timeoutMs: 5000 };
    const [first, second] = await enqueue(real, httpAction(action), [{}, {}]);
    const { w, events } = worker(store, [action], { leaseMs: 2000 });
    w.start();
    await until(() => events.of("job:delivered").length === 2, "2 deliveries");
    expect(events.of("job:released").map((e) => [e.jobId, e.reason])).toEqual([[second!, "lease"]]);
    expect(events.of("job:retry")).toHaveLength(0);
    expect(sink.deliveries.map((d) => d.jobId)).toEqual([first!, second!]);
    // The give-back did not count: one attempt each.
    expect(await real.getJob(first!)).toMatchObject({ state: "done", attempts: 1 });
    expect(await real.getJob(second!)).toMatchObject({ state: "done", attempts: 1 });
  });

  test("a rate-limited action is not prefetched: its claims never run ahead of its tokens", async () => {
    // Tokens to spare (50/s) but one slot, held 100 ms per delivery: a prefetching worker would
    // queue a job behind the slot.
    const sink = startSink({ delayMs: 100 });
    cleanups.push(sink.stop);
    const { real, store, calls } = await countedStore();
    const action = { url: sink.url, concurrency: 1, rateLimit: 50 };
    await enqueue(real, httpAction(action), Array.from({ length: 4 }, () => ({})));
    const { w, events } = worker(store, [action]);
    w.start();
    let maxQueued = 0;
    const poll = setInterval(() => (maxQueued = Math.max(maxQueued, w.queued)), 5);
    cleanups.push(() => clearInterval(poll));
    await until(() => events.of("job:delivered").length === 4, "4 deliveries", 5000);
    expect(maxQueued).toBe(0);
    expect(calls.claimSizes.every((n) => n <= 1)).toBe(true);
  });
});
