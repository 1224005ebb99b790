// CPU per acceptance of the ack path's store hand-off, in-process: acceptances built as the hook
// route builds them (one job, a Kratos-shaped payload object) go through `serve`'s GroupCommitter
// (32 per batch, 2 in flight, no idle wait) into the SQLite store thread (synchronous=full), from 64
// concurrent callers (as wrk -c64 keeps 64 requests in flight). Reported per acceptance: the event
// loop's CPU (this thread's, CLOCK_THREAD_CPUTIME_ID through bun:ffi; it includes building the
// acceptances, the same work in every checkout), the store thread's (/proc task stat, 10 ms ticks),
// the average batch, and how long an accept waited for its commit (wall time, medians of the rounds'
// percentiles). For comparing checkouts in one process, alternating rounds:
//
//   bun bench/handoff-cpu.ts <dir> [<dir> ...]     (a dir holds a checkout's src/)
//
// `nostore` as a dir: the first checkout's GroupCommitter over a store that answers every batch
// "all new" at once, so the event loop's share of building acceptances and batching them is seen
// apart from the hand-off to the thread.
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ownThreadCpuUs, threadCpu } from "./thread-cpu.ts";

const N = Number(process.env.N ?? 40_000);
const CALLERS = 64;
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const dirs = process.argv.length > 2 ? process.argv.slice(2) : [join(import.meta.dir, "..")];
const tmp = mkdtempSync(join(tmpdir(), "kh-bench-handoff-"));

type Committer = { accept(a: unknown): Promise<{ duplicate: boolean }>; stats: { batches: number; accepted: number }; close(): Promise<void> };
type Store = { migrate(): Promise<void>; close(): Promise<void> };
const realDir = dirs.find((d) => d !== "nostore") ?? join(import.meta.dir, "..");
const setups = await Promise.all(
  dirs.map(async (dir, i) => {
    const { GroupCommitter } = await import(join(resolve(dir === "nostore" ? realDir : dir), "src/outbox/group-commit.ts"));
    const { SqliteThreadStore } = await import(join(resolve(dir === "nostore" ? realDir : dir), "src/outbox/sqlite/thread-store.ts"));
    const store: Store =
      dir === "nostore"
        ? ({ migrate: async () => {}, close: async () => {}, acceptBatch: async (b: unknown[]) => b.map(() => ({ duplicate: false })) } as Store)
        : (new SqliteThreadStore(join(tmp, `outbox-${i}.db`), { synchronous: "full" }) as Store);
    await store.migrate();
    const committer = new GroupCommitter(store, { maxWaitMs: 2, maxBatch: 32, maxInFlight: 2, goWhenIdle: true }) as Committer;
    return { dir, store, committer };
  }),
);

let seq = 0;
function acceptance() {
  const id = crypto.randomUUID();
  const now = Date.now();
  const body = { email: `user${++seq}@example.org`, flow_id: id, identity_id: id };
  const payload = { body, hook: "bench", trigger_id: id, request_id: id, received_at: new Date(now).toISOString() };
  const jobs = [{ id: Bun.randomUUIDv7(), hook: "bench", action: "bench.crm", payload, maxAttempts: 5, runAt: now, triggerId: id, identityId: id, traceparent: null }];
  return { hook: "bench", key: `bench:trigger:${id}`, response: { status: 204, body: null }, expiresAt: now + 86_400_000, jobs, now };
}

async function measure(c: Committer, n: number) {
  const b0 = c.stats.batches;
  const w0 = threadCpu().get("Worker") ?? 0;
  const t0 = ownThreadCpuUs();
  let left = n;
  let dups = 0;
  const waits: number[] = [];
  const caller = async () => {
    while (left-- > 0) {
      const a = acceptance();
      const sent = performance.now();
      if ((await c.accept(a)).duplicate) dups++;
      waits.push(performance.now() - sent);
    }
  };
  await Promise.all(Array.from({ length: CALLERS }, caller));
  const loop = (ownThreadCpuUs() - t0) / n;
  const store = (((threadCpu().get("Worker") ?? 0) - w0) * 1e6) / n;
  if (dups) throw new Error(`${dups} duplicates among fresh keys`);
  waits.sort((x, y) => x - y);
  return { loop, store, batch: n / (c.stats.batches - b0), p50: waits[Math.floor(n * 0.5)]!, p99: waits[Math.floor(n * 0.99)]!, max: waits[n - 1]! };
}

for (const s of setups) await measure(s.committer, 5_000); // warm-up
const results = new Map<string, Awaited<ReturnType<typeof measure>>[]>();
for (let r = 0; r < ROUNDS; r++) {
  for (const s of r % 2 ? [...setups].reverse() : setups) results.set(s.dir, [...(results.get(s.dir) ?? []), await measure(s.committer, N)]);
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`N=${N} per round, ${ROUNDS} rounds, ${CALLERS} callers; load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
for (const [dir, xs] of results) {
  console.log(
    `${dir}: event loop median ${med(xs.map((x) => x.loop)).toFixed(2)} µs/acceptance (${xs.map((x) => x.loop.toFixed(1)).join(", ")}); ` +
      `store thread ${med(xs.map((x) => x.store)).toFixed(2)} (${xs.map((x) => x.store.toFixed(1)).join(", ")}); batch ${med(xs.map((x) => x.batch)).toFixed(1)}; ` +
      `wait for the commit ms p50 ${med(xs.map((x) => x.p50)).toFixed(2)}, p99 ${med(xs.map((x) => x.p99)).toFixed(2)} (${xs.map((x) => x.p99.toFixed(1)).join(", ")}), max ${Math.max(...xs.map((x) => x.max)).toFixed(1)}`,
  );
}
for (const s of setups) {
  await s.committer.close();
  await s.store.close();
}
rmSync(tmp, { recursive: true, force: true });
