// Store CPU of the drain's bookkeeping alone: claim + completeJobs (each with the worker's
// delivered attempt) on an in-process SqliteStore, synchronous=full, N jobs in batches of 64, as
// CPU µs per job. No HTTP, no thread: what the store thread spends per delivery in bench/drain.ts,
// without its noise. Pass an older checkout (a `git worktree`) to measure that one's store.
//
//   bun bench/complete-cpu.ts [checkout=.] [N=20000]
//
// Results: bench/results/drain.md ("Attempt history on the drain path").
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fillOutbox } from "./prefill.ts";

const root = resolve(process.argv[2] ?? ".");
const N = Number(process.argv[3] ?? 20000);
const B = 64;
const { SqliteStore } = await import(join(root, "src/outbox/sqlite/store.ts"));
const { acceptedWebhook } = await import(join(root, "src/actions/index.ts"));
const dir = mkdtempSync(join(tmpdir(), "kh-bench-complete-"));
try {
  const store = new SqliteStore(join(dir, "outbox.db"), { synchronous: "full" });
  await store.migrate();
  await fillOutbox(store, "a", N, { acceptedWebhook });
  const cpu0 = process.cpuUsage();
  let done = 0;
  for (;;) {
    const jobs = (await store.claimDueJobs({ worker: "w", now: Date.now(), leaseMs: 60_000, limit: B })) as Array<{ id: string }>;
    if (!jobs.length) break;
    const items = jobs.map((j) => ({ id: j.id, worker: "w", attempt: { startedAt: Date.now(), durationMs: 3, outcome: "delivered", code: 200, detail: null } }));
    done += (await store.completeJobs(items, Date.now())).length;
  }
  const cpu = process.cpuUsage(cpu0);
  if (done !== N) throw new Error(`completed ${done} of ${N}`);
  console.log(`${root}: ${((cpu.user + cpu.system) / N).toFixed(1)} µs store CPU per job (claim + complete, batches of ${B}, N=${N})`);
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
