// The batching under GroupCommitter and the completion committer (src/outbox/batcher.ts): how many
// commits run at once, and when a partial batch goes.
import { describe, expect, test } from "bun:test";
import { Batcher } from "../../src/outbox/batcher.ts";

/** A commit function whose calls stay open until released, recording what overlapped. */
function gatedCommit() {
  const calls: { items: number[]; release(): void }[] = [];
  let open = 0;
  let maxOpen = 0;
  const commit = (items: number[]) =>
    new Promise<number[]>((resolve) => {
      open++;
      maxOpen = Math.max(maxOpen, open);
      calls.push({
        items,
        release: () => {
          open--;
          resolve(items.map((i) => i * 10));
        },
      });
    });
  return { commit, calls, maxOpen: () => maxOpen };
}
const tick = () => new Promise((r) => setImmediate(r));

describe("Batcher", () => {
  test("by default one batch is in flight: items arriving meanwhile wait and go together when it finishes", async () => {
    const g = gatedCommit();
    const b = new Batcher(g.commit, { maxWaitMs: 0, maxBatch: 2 });
    const results = [1, 2, 3, 4, 5].map((i) => b.submit(i));
    await tick();
    expect(g.calls.map((c) => c.items)).toEqual([[1, 2]]);
    g.calls[0]!.release();
    await tick();
    expect(g.calls.map((c) => c.items)).toEqual([[1, 2], [3, 4]]);
    g.calls[1]!.release();
    await tick();
    g.calls[2]!.release();
    expect(await Promise.all(results)).toEqual([10, 20, 30, 40, 50]);
    expect(g.maxOpen()).toBe(1);
  });

  test("maxInFlight 2: a second batch commits while the first is open, a third waits for one of them", async () => {
    const g = gatedCommit();
    const b = new Batcher(g.commit, { maxWaitMs: 0, maxBatch: 2, maxInFlight: 2 });
    const results = [1, 2, 3, 4, 5, 6].map((i) => b.submit(i));
    await tick();
    expect(g.calls.map((c) => c.items)).toEqual([[1, 2], [3, 4]]);
    g.calls[1]!.release(); // the second finishes first: results still reach their own callers
    await tick();
    expect(g.calls.map((c) => c.items)).toEqual([[1, 2], [3, 4], [5, 6]]);
    expect(await Promise.all(results.slice(2, 4))).toEqual([30, 40]);
    g.calls[0]!.release();
    g.calls[2]!.release();
    expect(await Promise.all(results)).toEqual([10, 20, 30, 40, 50, 60]);
    expect(g.maxOpen()).toBe(2);
    expect(b.counts.batches).toBe(3);
  });

  test("with another batch still committing, a finished batch does not send the few items queued since: they wait for company", async () => {
    const g = gatedCommit();
    const b = new Batcher(g.commit, { maxWaitMs: 1000, maxBatch: 2, maxInFlight: 2 });
    const results = [1, 2, 3, 4].map((i) => b.submit(i));
    await tick();
    const late = b.submit(5);
    g.calls[0]!.release();
    await tick();
    expect(g.calls.map((c) => c.items)).toEqual([[1, 2], [3, 4]]); // 5 waits: [3, 4] is still committing
    const full = b.submit(6);
    await tick();
    expect(g.calls.map((c) => c.items)).toEqual([[1, 2], [3, 4], [5, 6]]); // a full batch goes at once
    g.calls[1]!.release();
    g.calls[2]!.release();
    expect(await Promise.all([...results, late, full])).toEqual([10, 20, 30, 40, 50, 60]);
  });

  test("once nothing is committing, what queued meanwhile goes at once, however few", async () => {
    const g = gatedCommit();
    const b = new Batcher(g.commit, { maxWaitMs: 1000, maxBatch: 8 });
    const first = [b.submit(1), b.submit(2)];
    void b.flush(); // sends [1, 2] now instead of after the 1 s wait
    await tick();
    const late = b.submit(3);
    g.calls[0]!.release();
    await tick();
    expect(g.calls.map((c) => c.items)).toEqual([[1, 2], [3]]);
    g.calls[1]!.release();
    expect(await Promise.all([...first, late])).toEqual([10, 20, 30]);
  });

  test("flush waits for every batch in flight and commits what is queued", async () => {
    const g = gatedCommit();
    const b = new Batcher(g.commit, { maxWaitMs: 1000, maxBatch: 2, maxInFlight: 2 });
    const results = [1, 2, 3, 4, 5].map((i) => b.submit(i));
    let flushed = false;
    const flushing = b.flush().then(() => (flushed = true));
    await tick();
    expect(g.calls.map((c) => c.items)).toEqual([[1, 2], [3, 4]]);
    for (const c of g.calls) c.release();
    await tick();
    expect(flushed).toBe(false);
    expect(g.calls.map((c) => c.items)).toEqual([[1, 2], [3, 4], [5]]); // not after the 1 s wait
    g.calls[2]!.release();
    await flushing;
    expect(await Promise.all(results)).toEqual([10, 20, 30, 40, 50]);
  });

  test("maxWaitMs 0 commits a partial batch right after the current turn, before an already-due timer", async () => {
    const order: string[] = [];
    const b = new Batcher(async (items: number[]) => (order.push(`commit ${items.join(",")}`), items), { maxWaitMs: 0, maxBatch: 64 });
    const timer = new Promise<void>((r) => setTimeout(() => (order.push("timer"), r()), 0));
    await Promise.all([b.submit(1), b.submit(2), timer]);
    expect(order).toEqual(["commit 1,2", "timer"]);
  });

  test("goWhenIdle: with nothing committing, a partial batch goes after the current turn, not after maxWaitMs", async () => {
    const g = gatedCommit();
    const b = new Batcher(g.commit, { maxWaitMs: 60_000, maxBatch: 64, maxInFlight: 2, goWhenIdle: true });
    const results = [b.submit(1), b.submit(2)];
    await tick();
    expect(g.calls.map((c) => c.items)).toEqual([[1, 2]]);
    g.calls[0]!.release();
    expect(await Promise.all(results)).toEqual([10, 20]);
  });

  test("goWhenIdle: beside a batch still committing, a partial batch waits for company until it finishes", async () => {
    const g = gatedCommit();
    const b = new Batcher(g.commit, { maxWaitMs: 60_000, maxBatch: 64, maxInFlight: 2, goWhenIdle: true });
    const first = b.submit(1);
    await tick();
    const later = [b.submit(2), b.submit(3)];
    await tick();
    await Bun.sleep(5);
    expect(g.calls.map((c) => c.items)).toEqual([[1]]); // room for a second batch, but not for a small one
    g.calls[0]!.release();
    await first;
    await tick();
    expect(g.calls.map((c) => c.items)).toEqual([[1], [2, 3]]);
    g.calls[1]!.release();
    expect(await Promise.all(later)).toEqual([20, 30]);
  });

  test("without goWhenIdle a partial batch waits maxWaitMs even when nothing is committing", async () => {
    const g = gatedCommit();
    const b = new Batcher(g.commit, { maxWaitMs: 30, maxBatch: 64 });
    const result = b.submit(1);
    await tick();
    expect(g.calls).toHaveLength(0);
    await Bun.sleep(60);
    expect(g.calls.map((c) => c.items)).toEqual([[1]]);
    g.calls[0]!.release();
    expect(await result).toBe(10);
  });
});
