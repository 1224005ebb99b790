// Marks many delivered jobs done in one statement, in one IMMEDIATE transaction: one commit (one
// fsync with synchronous=FULL) for the whole batch instead of one per job. Each row keeps the
// lease check of completeJob (running, locked_by = its worker), so a batch may mix workers and a
// job whose lease was lost is left alone and simply missing from the returned ids. The attempts
// of the jobs marked done join their histories in the same transaction: a plain delivered one in
// the job's own row (delivered_*, migration 4), any other in job_attempts (record-attempts.ts).
// The items travel as one JSON parameter read by json_each, so the statement text does not depend
// on the batch size. `+jobs.state` keeps the planner off the state index (it would scan every
// running job and probe json_each for each); checked with EXPLAIN QUERY PLAN on SQLite 3.54.1
// (Bun 1.4.5): json_each is scanned and each id found through the primary key.
import type { SqliteDb } from "./driver.ts";
import type { CompletedJob } from "../store.ts";
import { attemptRow, recordAttempts, type AttemptRow } from "./record-attempts.ts";

/** Whether a completion's attempt needs a job_attempts row (not a plain delivered one, kept in the job's row). */
const hasOwnRow = (r: AttemptRow) => r[2] !== null && (r[4] !== "delivered" || r[6] !== null);

export function completeJobs(db: SqliteDb, items: CompletedJob[], now: number): string[] {
  return completeJobRows(db, items.map((i) => attemptRow(i.id, i.worker, i.attempt)), now);
}

/** completeJobs of items already in AttemptRow form (the store thread receives them so: thread-store.ts). */
export function completeJobRows(db: SqliteDb, rows: AttemptRow[], now: number): string[] {
  if (!rows.length) return [];
  const json = JSON.stringify(rows);
  return db.transaction(() => {
    const ids = (db.query(`
      UPDATE jobs SET state = 'done', last_error = NULL, locked_by = NULL, locked_until = NULL, updated_at = $now,
        delivered_at = done.s, delivered_ms = done.d, delivered_code = done.c
      FROM (SELECT value ->> 0 AS id, value ->> 1 AS worker,
          CASE WHEN value ->> 4 = 'delivered' AND value ->> 6 IS NULL THEN value ->> 2 END AS s,
          CASE WHEN value ->> 4 = 'delivered' AND value ->> 6 IS NULL THEN value ->> 3 END AS d,
          CASE WHEN value ->> 4 = 'delivered' AND value ->> 6 IS NULL THEN value ->> 5 END AS c
        FROM json_each($items)) AS done
      WHERE jobs.id = done.id AND jobs.locked_by = done.worker AND +jobs.state = 'running'
      RETURNING jobs.id`).all({ now, items: json }) as Array<{ id: string }>).map((r) => r.id);
    // A plain delivered attempt (the worker's) lives in the job's row (migration 4); any other
    // goes to job_attempts, for the jobs marked done.
    const other = rows.filter(hasOwnRow);
    if (other.length && ids.length) {
      const done = new Set(ids);
      const kept = other.filter((r) => done.has(r[0]));
      if (kept.length) recordAttempts(db, JSON.stringify(kept));
    }
    return ids;
  }).immediate();
}
