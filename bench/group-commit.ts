// Accept throughput with and without group commit, per store and synchronous setting.
// N acceptances (2 jobs each) from C concurrent callers: "direct" calls store.acceptBatch([one])
// per request (one transaction each), "grouped" goes through GroupCommitter (default 2 ms, 64).
// Usage: bun bench/group-commit.ts [N=2000] [C=64]   (Postgres at 127.0.0.1:5432/test, or
// KH_BENCH_POSTGRES_URL; skipped with a note if unreachable). Results: bench/results/group-commit.md
import { SQL } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GroupCommitter } from "../src/outbox/group-commit.ts";
import { openStore } from "../src/outbox/open-store.ts";
import type { Acceptance, Store } from "../src/outbox/store.ts";

const N = Number(process.argv[2] ?? 2000);
const C = Number(process.argv[3] ?? 64);
const PG_URL = process.env.KH_BENCH_POSTGRES_URL ?? `postgres://${process.env.PGUSER ?? process.env.USER ?? "postgres"}@127.0.0.1:5432/test`;

let seq = 0;
function acceptance(): Acceptance {
  const now = Date.now();
  const job = (action: string) => ({ id: Bun.randomUUIDv7(), hook: "bench", action, payload: { email: "a@example.com", n: seq }, maxAttempts: 5, runAt: now });
  return { hook: "bench", key: `k${++seq}`, response: { status: 200, body: null }, expiresAt: now + 600_000, jobs: [job("bench.mail"), job("bench.http")], now };
}

async function run(accept: (a: Acceptance) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: C }, async () => {
    while (next++ < N) await accept(acceptance());
  }));
  return N / ((performance.now() - t0) / 1000);
}

async function measure(label: string, open: () => Promise<{ store: Store; done(): Promise<void> }>) {
  for (const mode of ["direct", "grouped"] as const) {
    const { store, done } = await open();
    let rate: number;
    let batches = N;
    if (mode === "direct") rate = await run((a) => store.acceptBatch([a]));
    else {
      const gc = new GroupCommitter(store);
      rate = await run((a) => gc.accept(a));
      batches = gc.stats.batches;
    }
    console.log(`| ${label} | ${mode} | ${Math.round(rate)} | ${batches} | ${(N / batches).toFixed(1)} |`);
    await done();
  }
}

console.log(`N=${N} acceptances (2 jobs each), C=${C} concurrent callers, bun ${Bun.version}\n`);
console.log("| store | mode | accepts/s | transactions | accepts per transaction |\n|---|---|---|---|---|");
for (const synchronous of ["full", "normal"] as const) {
  await measure(`sqlite synchronous=${synchronous}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "kh-bench-"));
    const store = await openStore(`sqlite:${join(dir, "b.db")}`, { synchronous });
    return { store, done: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
  });
}
const admin = new SQL(PG_URL, { max: 1, connectionTimeout: 3 });
const reachable = await admin`SELECT 1`.then(() => true, () => false);
if (reachable) {
  await measure("postgres (pool 10)", async () => {
    const schema = `kh_bench_${process.pid}_${++seq}`;
    const store = await openStore(PG_URL, { schema });
    return { store, done: async () => (await store.close(), await admin.unsafe(`DROP SCHEMA "${schema}" CASCADE`)) };
  });
} else console.log(`| postgres | - | unreachable at ${PG_URL}, skipped | | |`);
await admin.close();
