// The worker's completion committer on a real SQLite store: completions made together share one
// completeJobs write, each caller learns about its own lease, and a failed write fails its callers
// (who retry) without recording anything.
import { afterEach, describe, expect, test } from "bun:test";
import { CompletionCommitter } from "../../src/outbox/completion-committer.ts";
import { StoreUnavailableError } from "../../src/outbox/errors.ts";
import type { CompletedJob, Store } from "../../src/outbox/store.ts";
import { httpAction } from "../actions/helpers.ts";
import { enqueue, tempStore } from "./fixtures.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** `n` jobs leased to worker "w1" in a real store, and a completeJobs in front of it that records its calls. */
async function leasedJobs(n: number) {
  const t = await tempStore();
  cleanups.push(t.cleanup);
  const ids = await enqueue(t.store, httpAction(), Array.from({ length: n }, () => ({})));
  await t.store.claimDueJobs({ worker: "w1", now: Date.now(), leaseMs: 60_000, limit: n });
  const calls: CompletedJob[][] = [];
  const withClaims: CompletedJob[][] = [];
  let failNext = 0;
  const store: Pick<Store, "completeJobs" | "claimDueJobs"> = {
    completeJobs(items, now) {
      calls.push(items);
      if (failNext > 0 && failNext--) return Promise.reject(new StoreUnavailableError("sqlite store unavailable during completeJobs: SQLITE_BUSY"));
      return t.store.completeJobs(items, now);
    },
    claimDueJobs: (o) => t.store.claimDueJobs(o),
  };
  // The same, with completions riding with claims (the real store's completeThenClaim).
  const combined: Pick<Store, "completeJobs" | "claimDueJobs" | "completeThenClaim"> = {
    ...store,
    completeThenClaim(items, completedAt, claim) {
      withClaims.push(items);
      if (failNext > 0 && failNext--) return Promise.reject(new StoreUnavailableError("sqlite store unavailable during completeThenClaim: SQLITE_BUSY"));
      return t.store.completeThenClaim!(items, completedAt, claim);
    },
  };
  return { real: t.store, ids, calls, withClaims, store, combined, failOnce: () => (failNext = 1) };
}

describe("completion committer", () => {
  test("completions made together are one completeJobs write; each caller gets its own answer", async () => {
    const { store, ids, calls, real } = await leasedJobs(20);
    const cc = new CompletionCommitter(store, { maxWaitMs: 5 });
    const results = await Promise.all(ids.map((id) => cc.complete(id, "w1")));
    expect(results).toEqual(ids.map(() => true));
    expect(calls).toHaveLength(1);
    expect(cc.stats).toEqual({ batches: 1, completed: 20, leaseLost: 0, failedBatches: 0, claimsWithCompletions: 0, completionsWithClaims: 0 });
    expect((await real.stats(Date.now())).byState.done).toBe(20);
  });

  test("maxBatch bounds a write; completions arriving during a write form the next one", async () => {
    const { store, ids, calls } = await leasedJobs(10);
    const cc = new CompletionCommitter(store, { maxWaitMs: 50, maxBatch: 4 });
    await Promise.all(ids.map((id) => cc.complete(id, "w1")));
    expect(calls.map((c) => c.length)).toEqual([4, 4, 2]);
  });

  test("a completion whose lease another worker holds resolves false, the others true", async () => {
    const { store, ids } = await leasedJobs(3);
    const cc = new CompletionCommitter(store, { maxWaitMs: 5 });
    const results = await Promise.all([cc.complete(ids[0]!, "w1"), cc.complete(ids[1]!, "w2"), cc.complete(ids[2]!, "w1")]);
    expect(results).toEqual([true, false, true]);
    expect(cc.stats).toMatchObject({ completed: 2, leaseLost: 1 });
  });

  test("a failing write rejects every caller in it and records none; completing again records them", async () => {
    const { store, ids, failOnce, real } = await leasedJobs(5);
    const cc = new CompletionCommitter(store, { maxWaitMs: 5 });
    failOnce();
    const first = await Promise.allSettled(ids.map((id) => cc.complete(id, "w1")));
    expect(first.every((r) => r.status === "rejected" && r.reason instanceof StoreUnavailableError)).toBe(true);
    expect((await real.stats(Date.now())).byState).toMatchObject({ running: 5, done: 0 });
    expect(await Promise.all(ids.map((id) => cc.complete(id, "w1")))).toEqual(ids.map(() => true));
    expect(cc.stats).toEqual({ batches: 2, completed: 5, leaseLost: 0, failedBatches: 1, claimsWithCompletions: 0, completionsWithClaims: 0 });
  });

  test("flush writes what is queued without waiting out maxWaitMs", async () => {
    const { store, ids } = await leasedJobs(2);
    const cc = new CompletionCommitter(store, { maxWaitMs: 60_000 });
    const pending = ids.map((id) => cc.complete(id, "w1"));
    await cc.flush();
    expect(await Promise.all(pending)).toEqual([true, true]);
  });

  test("completions queued when a claim goes ride in its transaction: no completeJobs write, each caller its own answer", async () => {
    const { combined, ids, calls, withClaims, real } = await leasedJobs(4);
    const more = await enqueue(real, httpAction(), [{}, {}]);
    const cc = new CompletionCommitter(combined, { maxWaitMs: 60_000 });
    const pending = [cc.complete(ids[0]!, "w1"), cc.complete(ids[1]!, "w2"), cc.complete(ids[2]!, "w1")];
    const jobs = await cc.claim({ worker: "w1", now: Date.now(), leaseMs: 60_000, limit: 10 });
    expect(await Promise.all(pending)).toEqual([true, false, true]);
    expect(jobs.map((j) => j.id).sort()).toEqual([...more].sort());
    expect(calls).toHaveLength(0);
    expect(withClaims.map((c) => c.length)).toEqual([3]);
    expect(cc.stats).toMatchObject({ batches: 0, completed: 2, leaseLost: 1, claimsWithCompletions: 1, completionsWithClaims: 3 });
    expect((await real.stats(Date.now())).byState).toMatchObject({ done: 2, running: 4 });
    // The attempt history of a completion that rode with a claim is the same as alone.
    expect((await real.getJob(ids[0]!))?.state).toBe("done");
    // Nothing queued: a claim goes alone.
    expect(await cc.claim({ worker: "w1", now: Date.now(), leaseMs: 60_000, limit: 10 })).toEqual([]);
    expect(withClaims).toHaveLength(1);
  });

  test("a failing claim with completions rejects both and records neither; claims then go alone until one succeeds", async () => {
    const { combined, ids, calls, withClaims, real, failOnce } = await leasedJobs(3);
    await enqueue(real, httpAction(), [{}]);
    const cc = new CompletionCommitter(combined, { maxWaitMs: 60_000 });
    failOnce();
    const first = ids.map((id) => cc.complete(id, "w1"));
    const claim = cc.claim({ worker: "w1", now: Date.now(), leaseMs: 60_000, limit: 10 });
    expect(await claim.then(() => "ok", (e) => e instanceof StoreUnavailableError)).toBe(true);
    const settled = await Promise.allSettled(first);
    expect(settled.every((r) => r.status === "rejected" && r.reason instanceof StoreUnavailableError)).toBe(true);
    expect((await real.stats(Date.now())).byState).toMatchObject({ running: 3, done: 0, pending: 1 });
    // Retried completions do not go with the next claim (the last one failed) but with their own write.
    const again = ids.map((id) => cc.complete(id, "w1"));
    expect(await cc.claim({ worker: "w1", now: Date.now(), leaseMs: 60_000, limit: 10 })).toHaveLength(1);
    expect(withClaims).toHaveLength(1);
    await cc.flush();
    expect(await Promise.all(again)).toEqual([true, true, true]);
    expect(calls.map((c) => c.length)).toEqual([3]);
    // After a claim that succeeded alone, completions ride with claims again.
    const last = await enqueue(real, httpAction(), [{}]);
    const claimed = await real.claimDueJobs({ worker: "w1", now: Date.now(), leaseMs: 60_000, limit: 10 });
    expect(claimed.map((j) => j.id)).toEqual(last);
    const done = cc.complete(last[0]!, "w1");
    await cc.claim({ worker: "w1", now: Date.now(), leaseMs: 60_000, limit: 10 });
    expect(await done).toBe(true);
    expect(withClaims).toHaveLength(2);
  });
});
