// The three ways a worker gives a leased job back. Each checks `locked_by = worker` on a running
// job, so a worker whose lease expired and was reclaimed by another cannot clobber that one's work.
// Each runs as a one-statement sql.begin so a dropped connection is retried only when it provably
// did not commit (see connection.ts).
import type { AttemptRecord } from "../store.ts";
import type { PgDb } from "./connection.ts";
import { recordAttempts } from "./record-attempts.ts";

/** Lease held → done. */
export function completeJob(db: PgDb, id: string, worker: string, now: number): Promise<boolean> {
  return db.tx("completeJob", async (tx) => {
    const r = await tx`
      UPDATE jobs SET state = 'done', last_error = NULL, locked_by = NULL, locked_until = NULL, updated_at = ${now}
      WHERE id = ${id} AND state = 'running' AND locked_by = ${worker}`;
    return r.count === 1;
  });
}

/** Lease held → pending at retryAt, or dead when retryAt is null. The attempt was counted at claim. */
export function failJob(db: PgDb, id: string, worker: string, error: string, retryAt: number | null, now: number, attempt?: AttemptRecord): Promise<boolean> {
  return db.tx("failJob", async (tx) => {
    // A null parameter Postgres cannot type fails with 42P18 ("could not determine data type of
    // parameter"), seen on Bun 1.4.5 / Postgres 15: the casts make it a bigint.
    const r = await tx`
      UPDATE jobs SET
        state = CASE WHEN ${retryAt}::bigint IS NULL THEN 'dead' ELSE 'pending' END,
        run_at = coalesce(${retryAt}::bigint, run_at), last_error = ${error},
        locked_by = NULL, locked_until = NULL, updated_at = ${now}
      WHERE id = ${id} AND state = 'running' AND locked_by = ${worker}`;
    if (r.count === 1 && attempt) await recordAttempts(tx, [{ id, attempt }]);
    return r.count === 1;
  });
}

/** Lease held → pending, due as before, and the attempt the claim counted is given back. */
export function releaseJob(db: PgDb, id: string, worker: string, now: number): Promise<boolean> {
  return db.tx("releaseJob", async (tx) => {
    const r = await tx`
      UPDATE jobs SET state = 'pending', attempts = greatest(attempts - 1, 0),
        locked_by = NULL, locked_until = NULL, updated_at = ${now}
      WHERE id = ${id} AND state = 'running' AND locked_by = ${worker}`;
    return r.count === 1;
  });
}
