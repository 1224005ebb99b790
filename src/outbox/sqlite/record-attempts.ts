// Appends delivery attempts to their jobs' histories. Called inside the transaction that records
// the outcome (completeJobs, failJob), so an attempt is kept exactly when its outcome is. The
// attempts travel as one JSON parameter (json_each), so the statement text does not depend on how
// many there are; each gets the next number of its job (max + 1, found through the primary key).
import type { SqliteDb } from "./driver.ts";
import type { AttemptRecord } from "../store.ts";

export function recordAttempts(db: SqliteDb, attempts: Array<{ id: string; attempt: AttemptRecord }>): void {
  if (!attempts.length) return;
  const rows = attempts.map(({ id, attempt: a }) => ({ id, s: a.startedAt, d: a.durationMs, o: a.outcome, c: a.code, t: a.detail }));
  db.query(`
    INSERT INTO job_attempts (job_id, n, started_at, duration_ms, outcome, code, detail)
    SELECT value ->> 'id',
      coalesce((SELECT max(n) FROM job_attempts WHERE job_id = value ->> 'id'), 0) + 1,
      value ->> 's', value ->> 'd', value ->> 'o', value ->> 'c', value ->> 't'
    FROM json_each($rows)`).run({ rows: JSON.stringify(rows) });
}
