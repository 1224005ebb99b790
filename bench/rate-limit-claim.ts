// What a shared rate limit adds to a Postgres claim: N one-job claims with claimDueJobs, then N
// with claimDueJobsWithin under one limit that never runs out, in alternating rounds, sequential
// (one claimer: the bucket's row lock is never contended here), on one schema of the local Postgres
// (KH_BENCH_POSTGRES_URL or postgres://$USER@127.0.0.1:5432/test), dropped after.
//
//   bun bench/rate-limit-claim.ts [N=300] [rounds=3]
//
// Results: docs/delivery.md "Rate limits" (what it costs).
import { SQL } from "bun";
import { cpus } from "node:os";
import { PostgresStore } from "../src/outbox/postgres/store.ts";

const PG = process.env.KH_BENCH_POSTGRES_URL ?? `postgres://${process.env.PGUSER ?? process.env.USER ?? "postgres"}@127.0.0.1:5432/test`;
const n = Number(process.argv[2] ?? 300);
const rounds = Number(process.argv[3] ?? 3);
const schema = `kh_bench_rate_${process.pid}`;
const store = new PostgresStore(PG, { schema, poolMax: 2 });
const admin = new SQL(PG, { max: 1 });
try {
  await store.migrate();
  const now = Date.now();
  const jobs = Array.from({ length: 2 * n * rounds }, () => ({ id: Bun.randomUUIDv7(), hook: "h", action: "h.a", payload: {}, maxAttempts: 3, runAt: now - 1000 }));
  await store.acceptBatch([{ hook: "h", key: "k", response: { status: 204, body: null }, expiresAt: now + 1e6, now, jobs }]);
  await admin.unsafe(`ANALYZE "${schema}".jobs`);
  const limits = [{ key: "destination:https://crm.example.com", rate: 1e9, actions: ["h.a"] }];
  const claim = { worker: "w", leaseMs: 1e7, limit: 1, actions: ["h.a"] };
  console.log(`machine: ${cpus().length} cores, ${cpus()[0]?.model}; bun ${Bun.version}; ${new Date().toISOString().slice(0, 16)}Z; ${n} claims per round`);
  for (let r = 1; r <= rounds; r++) {
    let t = performance.now();
    for (let i = 0; i < n; i++) if ((await store.claimDueJobs({ ...claim, now: now + i })).length !== 1) throw new Error("no job claimed");
    const plain = (performance.now() - t) / n;
    t = performance.now();
    for (let i = 0; i < n; i++) if ((await store.claimDueJobsWithin({ ...claim, now: now + i }, limits)).jobs.length !== 1) throw new Error("no job claimed");
    const within = (performance.now() - t) / n;
    console.log(`round ${r}: one-job claim ${plain.toFixed(2)} ms plain, ${within.toFixed(2)} ms under a shared limit (+${(within - plain).toFixed(2)} ms)`);
  }
} finally {
  await store.close();
  await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.close();
}
