// The worker on the real Postgres at 127.0.0.1:5432 (database `test`, one schema per test), with
// two workers on two connections pools, as two `serve` instances would run.
import { SQL } from "bun";
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { PostgresStore } from "../../src/outbox/postgres/store.ts";
import type { Store } from "../../src/outbox/store.ts";
import { seededRandom } from "../../src/outbox/retry.ts";
import { Worker } from "../../src/outbox/worker.ts";
import { httpAction } from "../actions/helpers.ts";
import { enqueue, freePort, recordEvents, startSink, until } from "./fixtures.ts";

const PG_USER = process.env.PGUSER ?? process.env.USER ?? "postgres";
const PG_URL = process.env.KH_TEST_POSTGRES_URL ?? `postgres://${PG_USER}@127.0.0.1:5432/test`;
const admin = new SQL(PG_URL, { max: 1, connectionTimeout: 5 });
afterAll(() => admin.close());

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let n = 0;
async function pgStores(count: number): Promise<Store[]> {
  const schema = `kh_worker_${process.pid}_${Date.now().toString(36)}_${++n}`;
  cleanups.push(() => admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
  const stores: Store[] = [];
  for (let i = 0; i < count; i++) {
    const s = new PostgresStore(PG_URL, { schema, applicationName: schema, poolMax: 4 });
    await s.migrate();
    stores.push(s);
    cleanups.push(() => s.close());
  }
  return stores;
}

describe("worker on postgres", () => {
  test("two workers share the outbox: every job is delivered exactly once when nothing fails", async () => {
    const sink = startSink({ delayMs: 5 });
    cleanups.push(sink.stop);
    const action = httpAction({ url: sink.url, concurrency: 4 });
    const [s1, s2] = await pgStores(2);
    const ids = await enqueue(s1!, action, Array.from({ length: 60 }, (_, i) => ({ i })));
    const workers = [s1!, s2!].map((store, i) => new Worker({ store, actions: [action], leaseMs: 10_000, pollMs: 50, minPollMs: 5, workerId: `w${i}` }));
    const evs = workers.map(recordEvents);
    for (const w of workers) {
      cleanups.push(() => w.stop(1000));
      w.start();
    }
    await until(() => evs[0]!.of("job:delivered").length + evs[1]!.of("job:delivered").length === 60, "60 deliveries");
    expect(sink.deliveries.map((d) => d.jobId).sort()).toEqual([...ids].sort());
    // Both took part.
    expect(evs[0]!.of("job:delivered").length).toBeGreaterThan(0);
    expect(evs[1]!.of("job:delivered").length).toBeGreaterThan(0);
    expect((await s1!.stats(Date.now())).byState).toEqual({ pending: 0, running: 0, done: 60, dead: 0 });
  });

  test("an action's rate limit holds across workers on one Postgres: together they keep to it", async () => {
    // The sink takes 100 ms, and the first worker may run 1 delivery at a time: at most 10/s from it,
    // so the second must take part to reach the limit (which worker wins a token is first come,
    // first served, so with equal workers one of them could take all 40). Each alone, unshared,
    // would send at 20/s: 40/s together, or 30/s here.
    const sink = startSink({ delayMs: 100 });
    cleanups.push(sink.stop);
    const action = httpAction({ url: sink.url, concurrency: 8, rateLimit: 20 });
    const [s1, s2] = await pgStores(2);
    await enqueue(s1!, action, Array.from({ length: 40 }, (_, i) => ({ i })));
    const workers = [s1!, s2!].map((store, i) => new Worker({ store, actions: [{ ...action, concurrency: i === 0 ? 1 : 8 }], leaseMs: 10_000, pollMs: 50, minPollMs: 5, workerId: `w${i}` }));
    const evs = workers.map(recordEvents);
    for (const w of workers) cleanups.push(() => w.stop(1000));
    // The first worker starts alone and the second joins once it has a delivery: started together,
    // the second (8 slots, polling as often) could win every token, 1 run in 10 here.
    workers[0]!.start();
    await until(() => evs[0]!.of("job:delivered").length > 0, "the first worker's first delivery", 5_000);
    workers[1]!.start();
    await until(() => evs[0]!.of("job:delivered").length + evs[1]!.of("job:delivered").length === 40, "40 deliveries", 10_000);
    const times = sink.deliveries.map((d) => d.at).sort((x, y) => x - y);
    // Any one-second window: the burst (2) + 20 refilled, plus slack for the edges.
    for (let i = 0; i < times.length; i++) expect(times.filter((t) => t >= times[i]! && t < times[i]! + 1000).length).toBeLessThanOrEqual(24);
    // 40 jobs at 20/s after a burst of 2 take 1.9 s, however many workers share them.
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(1700);
    expect(evs[0]!.of("job:delivered").length).toBeGreaterThan(0);
    expect(evs[1]!.of("job:delivered").length).toBeGreaterThan(0);
  });

  test("an outage on postgres: retries, dead letters, and retryJobs replays them", async () => {
    const port = freePort();
    const action = httpAction({ url: `http://127.0.0.1:${port}/`, retry: { attempts: 3, baseMs: 20, capMs: 80 } });
    const [store] = await pgStores(1);
    const worker = new Worker({ store: store!, actions: [action], leaseMs: 5000, pollMs: 50, minPollMs: 5, random: seededRandom(3) });
    cleanups.push(() => worker.stop(1000));
    const ev = recordEvents(worker);
    await enqueue(store!, action, [{}, {}]);
    worker.start();
    await until(() => ev.of("job:dead").length === 2, "2 dead jobs");
    expect(ev.of("job:retry")).toHaveLength(4);
    const sink = startSink({ port });
    cleanups.push(sink.stop);
    expect(await store!.retryJobs({ state: "dead" }, Date.now())).toBe(2);
    worker.wake();
    await until(() => ev.of("job:delivered").length === 2, "2 replayed deliveries");
  });
});
