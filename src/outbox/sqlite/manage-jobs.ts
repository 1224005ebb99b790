// Operator actions: retry and purge, and retention's expiry. (Expired dedupe records: dedupe-log.ts.)
import type { SqliteDb } from "./driver.ts";
import type { JobFilter } from "../store.ts";
import { purgeableStates, retryableStates } from "../store-rules.ts";
import { jobIdsIn } from "./job-filter.ts";

/** Back to pending with a fresh attempt budget, due now; the history stays. Never touches a running job. */
export function retryJobs(db: SqliteDb, filter: JobFilter, now: number): number {
  const states = retryableStates(filter);
  if (!states.length) return 0;
  const w = jobIdsIn(filter, states);
  return db.transaction(() => {
    // A done job's delivered attempt, kept in its row (complete-jobs.ts), joins job_attempts
    // first, so the next delivery cannot overwrite it.
    db.query(`
      INSERT INTO job_attempts (job_id, n, started_at, duration_ms, outcome, code, detail)
      SELECT id, coalesce((SELECT max(n) FROM job_attempts WHERE job_id = jobs.id), 0) + 1, delivered_at, delivered_ms, 'delivered', delivered_code, NULL
      FROM jobs WHERE (${w.sql}) AND delivered_at IS NOT NULL`).run(w.params);
    return db.query(`
      UPDATE jobs SET state = 'pending', attempts = 0, run_at = $now, locked_by = NULL, locked_until = NULL, updated_at = $now,
        delivered_at = NULL, delivered_ms = NULL, delivered_code = NULL
      WHERE ${w.sql}`).run({ ...w.params, now }).changes;
  }).immediate();
}

export function purgeJobs(db: SqliteDb, filter: JobFilter): number {
  const states = purgeableStates(filter);
  if (!states.length) return 0;
  const w = jobIdsIn(filter, states);
  return db.transaction(() => deleteWithAttempts(db, `DELETE FROM jobs WHERE ${w.sql} RETURNING id`, w.params)).immediate();
}

/**
 * Up to `limit` jobs in `state` finished before `before`. No ORDER BY: any expired ones will do,
 * and without one SQLite reads jobs_done (or jobs_dead) only until it has `limit` of them.
 */
export function expireJobs(db: SqliteDb, state: "done" | "dead", before: number, limit: number): number {
  const sql = `DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = $state AND updated_at < $before LIMIT $limit) RETURNING id`;
  return db.transaction(() => deleteWithAttempts(db, sql, { state, before, limit })).immediate();
}

function deleteWithAttempts(db: SqliteDb, deleteJobs: string, params: Record<string, string | number>): number {
  const ids = (db.query(deleteJobs).all(params) as Array<{ id: string }>).map((r) => r.id);
  if (ids.length) db.query("DELETE FROM job_attempts WHERE job_id IN (SELECT value FROM json_each($ids))").run({ ids: JSON.stringify(ids) });
  return ids.length;
}
