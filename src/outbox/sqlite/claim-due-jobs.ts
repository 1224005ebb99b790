// Leases up to `limit` due jobs to one worker. Due = pending with run_at ≤ now, or running with
// an expired lease (its worker died: reclaim). One UPDATE ... WHERE id IN (SELECT ... LIMIT)
// RETURNING inside BEGIN IMMEDIATE, so two claimers (even in two processes) never get the same
// job. A claim counts an attempt (graphile-worker's rule): a job that keeps killing its worker
// still runs out of attempts. An expired lease on the last attempt is buried instead of reclaimed.
import type { Database } from "bun:sqlite";
import type { ClaimOptions, Job } from "../store.ts";
import { LEASE_EXPIRED_ON_LAST_ATTEMPT } from "../store-rules.ts";
import { byDueThenId, toJob, type JobRow } from "./rows.ts";

export function claimDueJobs(db: Database, o: ClaimOptions): Job[] {
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
        SELECT id FROM jobs
        WHERE ((state = 'pending' AND run_at <= $now) OR (state = 'running' AND locked_until <= $now))
          ${actionFilter}
        ORDER BY run_at, id
        LIMIT $limit)
      RETURNING *`).all({ worker: o.worker, lockedUntil: o.now + o.leaseMs, now: o.now, limit: o.limit, ...actionParam }) as JobRow[];
    // RETURNING order is unspecified in SQLite; hand jobs out in due order.
    return rows.map(toJob).sort(byDueThenId);
  }).immediate();
}
