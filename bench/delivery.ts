// Delivery throughput of one Worker: N jobs already in the outbox, delivered to an HTTP sink on
// 127.0.0.1 that answers at once, per store, with the action's concurrency C. Measures jobs/s from
// start() to the last job:delivered, and how many claims it took.
// Usage: bun bench/delivery.ts [N=5000] [C=16]   (Postgres at 127.0.0.1:5432/test, or
// KH_BENCH_POSTGRES_URL; skipped with a note if unreachable). Results: bench/results/delivery.md
import { SQL } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ResolvedHttpAction } from "../src/config/types.ts";
import { openStore } from "../src/outbox/open-store.ts";
import type { Store } from "../src/outbox/store.ts";
import { Worker } from "../src/outbox/worker.ts";
import { fillOutbox } from "./prefill.ts";

const N = Number(process.argv[2] ?? 5000);
const C = Number(process.argv[3] ?? 16);
const PG_URL = process.env.KH_BENCH_POSTGRES_URL ?? `postgres://${process.env.PGUSER ?? process.env.USER ?? "postgres"}@127.0.0.1:5432/test`;

const sink = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(null, { status: 204 }) });
const action: ResolvedHttpAction = {
  kind: "http", id: "bench.crm", hook: "bench", retry: { attempts: 5, baseMs: 1000, capMs: 60_000 }, concurrency: C,
  method: "POST", url: `http://127.0.0.1:${sink.port}/contacts/{{body.id}}`, headers: { Authorization: "Bearer {{env.TOKEN}}" },
  body: { email: "{{body.email}}", n: "{{body.n}}" }, timeoutMs: 5000, retry4xx: false,
};


async function measure(label: string, store: Store): Promise<string> {
  await fillOutbox(store, action.id, N, { expiresInMs: 600_000 });
  let claims = 0;
  // Methods bound to the real store (its private fields need the real `this`); claims counted.
  const counted = new Proxy(store, {
    get(target, key) {
      if (key === "claimDueJobs") return (o: Parameters<Store["claimDueJobs"]>[0]) => (claims++, target.claimDueJobs(o));
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  const worker = new Worker({ store: counted, actions: [action], leaseMs: 30_000, pollMs: 200, env: { TOKEN: "t" } });
  worker.events.on("worker:error", (e) => console.error("worker error:", e.op, e.error));
  let delivered = 0;
  const done = new Promise<void>((r) => worker.events.on("job:delivered", () => ++delivered === N && r()));
  const t0 = performance.now();
  worker.start();
  await done;
  const secs = (performance.now() - t0) / 1000;
  await worker.stop(1000);
  return `| ${label} | ${N} | ${C} | ${Math.round(N / secs)} | ${claims} |`;
}

const rows: string[] = [];
for (const sync of ["full", "normal"] as const) {
  const dir = mkdtempSync(join(tmpdir(), "kh-bench-"));
  const store = await openStore(`sqlite:${join(dir, "o.db")}`, { synchronous: sync });
  rows.push(await measure(`sqlite synchronous=${sync}`, store));
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
const admin = new SQL(PG_URL, { max: 1, connectionTimeout: 3 });
try {
  await admin`SELECT 1`;
  const schema = `kh_bench_${process.pid}`;
  const store = await openStore(PG_URL, { schema });
  rows.push(await measure("postgres", store));
  await store.close();
  await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
} catch (err) {
  rows.push(`| postgres | skipped: ${(err as Error).message} | | | |`);
}
await admin.close();
sink.stop(true);

console.log(["| store | jobs | concurrency | jobs/s | claims |", "|---|---|---|---|---|", ...rows].join("\n"));
