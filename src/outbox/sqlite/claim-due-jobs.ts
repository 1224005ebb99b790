// Leases up to `limit` due jobs to one worker. Due = pending with run_at ≤ now, or running with
// an expired lease (its worker died: reclaim). One UPDATE ... WHERE id IN (SELECT ... LIMIT)
// RETURNING inside BEGIN IMMEDIATE, so two claimers (even in two processes) never get the same
// job. A claim counts an attempt (graphile-worker's rule): a job that keeps killing its worker
// still runs out of attempts. An expired lease on the last attempt is buried instead of reclaimed.
//
// Due jobs are found through the two partial indexes, each read in order and only as far as
// `limit`: one `(pending AND due) OR (running AND expired)` query made SQLite 3.54.1 (no ANALYZE
// stats) pick the (state, created_at) index that migration 3 dropped, read every pending job and
// sort them, ~2.5 ms per claim with 20,000 queued, 0.03 ms this way (EXPLAIN QUERY PLAN: SEARCH
// jobs USING INDEX jobs_due). Hence INDEXED BY, which also fails loudly should a migration ever
// drop those indexes. Jobs due at the same ms go in insertion order (the index's rowid order),
// which is their creation order.
import type { SqliteDb } from "./driver.ts";
import type { ClaimOptions, Job } from "../store.ts";
import { LEASE_EXPIRED_ON_LAST_ATTEMPT } from "../store-rules.ts";
import { byDueThenId, toJob, type JobRow } from "./rows.ts";

export function claimDueJobs(db: SqliteDb, o: ClaimOptions): Job[] {
  if (o.limit <= 0 || o.actions?.length === 0) return [];
  const actionFilter = o.actions ? "AND action IN (SELECT value FROM json_each($actions))" : "";
  const actionParam: Record<string, string> = o.actions ? { actions: JSON.stringify(o.actions) } : {};
  return db.transaction(() => {
    db.query(`
      UPDATE jobs SET state = 'dead', last_error = $error, locked_by = NULL, locked_until = NULL, updated_at = $now
      WHERE state = 'running' AND locked_until <= $now AND attempts >= max_attempts ${actionFilter}`).run({ now: o.now, error: LEASE_EXPIRED_ON_LAST_ATTEMPT, ...actionParam });
    const rows = db.query(`
      UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $worker,
        locked_until = $lockedUntil, updated_at = $now
      WHERE id IN (
        SELECT id FROM (
          SELECT * FROM (
            SELECT id, run_at FROM jobs INDEXED BY jobs_due
            WHERE state = 'pending' AND run_at <= $now ${actionFilter}
            ORDER BY run_at LIMIT $limit)
          UNION ALL
          SELECT * FROM (
            SELECT id, run_at FROM jobs INDEXED BY jobs_lease
            WHERE state = 'running' AND locked_until <= $now ${actionFilter}
            ORDER BY locked_until LIMIT $limit))
        ORDER BY run_at LIMIT $limit)
      RETURNING *`).all({ worker: o.worker, lockedUntil: o.now + o.leaseMs, now: o.now, limit: o.limit, ...actionParam }) as JobRow[];
    // RETURNING order is unspecified in SQLite; hand jobs out in due order.
    return rows.map(toJob).sort(byDueThenId);
  }).immediate();
}
