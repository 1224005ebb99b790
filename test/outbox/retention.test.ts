// serve.retention against a real SQLite store on its own thread (as serve runs it).
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../src/outbox/open-store.ts";
import { RetentionSweeper } from "../../src/outbox/retention.ts";
import type { Store } from "../../src/outbox/store.ts";

const DAY = 86_400_000;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function storeWith(finished: Array<{ state: "done" | "dead"; at: number; n: number }>): Promise<Store> {
  const dir = mkdtempSync(join(tmpdir(), "kh-retention-"));
  const store = await openStore(`sqlite:${join(dir, "outbox.db")}`, { synchronous: "normal", thread: true });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => store.close());
  let k = 0;
  for (const { state, at, n } of finished) {
    const jobs = Array.from({ length: n }, () => ({ id: Bun.randomUUIDv7(), hook: "welcome", action: "welcome.crm", payload: { body: { email: "pii@example.com" } }, maxAttempts: 1, runAt: at }));
    await store.acceptBatch([{ hook: "welcome", key: `k${k++}`, response: { status: 204, body: null }, expiresAt: at + 1, now: at, jobs }]);
    const claimed = await store.claimDueJobs({ worker: "w", now: at, leaseMs: 60_000, limit: n });
    if (state === "done") await store.completeJobs(claimed.map((j) => ({ id: j.id, worker: "w", attempt: { startedAt: at, durationMs: 1, outcome: "delivered", code: 200, detail: null } })), at);
    else for (const j of claimed) await store.failJob(j.id, "w", "gone", null, at, { startedAt: at, durationMs: 1, outcome: "dead", code: 410, detail: "gone" });
  }
  return store;
}

describe("retention", () => {
  test("deletes done jobs past serve.retention.done and dead ones past .dead, keeping the younger ones", async () => {
    const now = Date.now();
    const store = await storeWith([
      { state: "done", at: now - 8 * DAY, n: 5 },
      { state: "done", at: now - 6 * DAY, n: 2 },
      { state: "dead", at: now - 31 * DAY, n: 3 },
      { state: "dead", at: now - 8 * DAY, n: 1 },
    ]);
    const sweeps: unknown[] = [];
    const r = new RetentionSweeper(store, { doneMs: 7 * DAY, deadMs: 30 * DAY, batchSize: 2, pauseMs: 1, onSweep: (s) => sweeps.push(s) });
    expect(await r.sweep()).toEqual({ done: 5, dead: 3 });
    expect((await store.stats(now)).byState).toMatchObject({ done: 2, dead: 1 });
    expect(sweeps).toHaveLength(1);
    expect(await r.sweep()).toEqual({ done: 0, dead: 0 });
  });

  test("forever keeps them", async () => {
    const now = Date.now();
    const store = await storeWith([{ state: "done", at: now - 400 * DAY, n: 2 }]);
    expect(await new RetentionSweeper(store, { doneMs: null, deadMs: null }).sweep()).toEqual({ done: 0, dead: 0 });
    expect((await store.stats(now)).byState.done).toBe(2);
  });

  test("works in bounded batches and lets an acknowledgement through between them", async () => {
    const now = Date.now();
    const store = await storeWith([{ state: "done", at: now - 8 * DAY, n: 600 }]);
    const limits: number[] = [];
    const events: string[] = [];
    const counting: Pick<Store, "expireJobs"> = {
      async expireJobs(state, before, limit) {
        limits.push(limit);
        const n = await store.expireJobs(state, before, limit);
        events.push(`batch ${n}`);
        return n;
      },
    };
    const sweeper = new RetentionSweeper(counting, { doneMs: 7 * DAY, deadMs: null, batchSize: 100, pauseMs: 5 });
    const sweep = sweeper.sweep();
    await Bun.sleep(1);
    await store.acceptBatch([{ hook: "welcome", key: "during", response: { status: 204, body: null }, expiresAt: now + 1000, now, jobs: [] }]);
    events.push("ack");
    expect(await sweep).toEqual({ done: 600, dead: 0 });
    expect(limits.every((l) => l === 100)).toBe(true);
    expect(limits.length).toBe(7); // six full batches, then an empty one that ends the sweep
    // The acknowledgement did not wait for the whole sweep.
    expect(events.indexOf("ack")).toBeLessThan(events.length - 1);
  });
});
