// Marks many delivered jobs done in one set-based UPDATE, one transaction: one commit (one WAL
// flush) and one round trip for the whole batch instead of one each per job. Each row keeps the
// lease check of completeJob (running, locked_by = its worker), so a batch may mix workers and a
// job whose lease was lost is left alone and simply missing from the returned ids.
// Ids go in sorted, so two batches touching the same rows (only possible after a lost lease) tend
// to lock them in the same order; should Postgres still pick a deadlock victim (40P01), the
// caller's retry of a failed batch covers it. Like every write, it runs through db.tx, so a stale
// connection is retried only when the statement provably did not commit (see connection.ts).
import type { CompletedJob } from "../store.ts";
import type { PgDb } from "./connection.ts";
import { recordAttempts } from "./record-attempts.ts";

export function completeJobs(db: PgDb, items: CompletedJob[], now: number): Promise<string[]> {
  if (!items.length) return Promise.resolve([]);
  const sorted = [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return db.tx("completeJobs", async (tx) => {
    const rows = (await tx`
      UPDATE jobs SET state = 'done', last_error = NULL, locked_by = NULL, locked_until = NULL, updated_at = ${now}
      FROM unnest(${tx.array(sorted.map((i) => i.id), "TEXT")}::text[], ${tx.array(sorted.map((i) => i.worker), "TEXT")}::text[]) AS done(id, worker)
      WHERE jobs.id = done.id AND jobs.locked_by = done.worker AND jobs.state = 'running'
      RETURNING jobs.id`) as Array<{ id: string }>;
    const done = new Set(rows.map((r) => r.id));
    // The attempts of the jobs marked done, in the same transaction (one more statement, no more commits).
    await recordAttempts(tx, sorted.filter((i) => i.attempt && done.has(i.id)) as Array<{ id: string; attempt: NonNullable<CompletedJob["attempt"]> }>);
    return rows.map((r) => r.id);
  });
}
