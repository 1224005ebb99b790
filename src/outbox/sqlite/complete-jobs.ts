// Marks many delivered jobs done in one IMMEDIATE transaction: one commit (one fsync with
// synchronous=FULL) for the whole batch instead of one per job. Each row keeps the lease check of
// completeJob (running, locked_by = its worker), so a batch may mix workers and a job whose lease
// was lost is left alone and simply missing from the returned ids. The attempts of the jobs marked
// done join their histories in the same transaction: a plain delivered one in the job's own row
// (delivered_*, migration 4), any other in job_attempts (record-attempts.ts).
//
// One prepared UPDATE per job, found by its primary key, rather than one UPDATE ... FROM
// json_each(batch) RETURNING: SQLite materialises the FROM join and the RETURNING rows in
// temporary b-trees, and the per-row statement was cheaper, 4.0 against 5.5 µs of CPU per job
// (batches of 64, bench/results/drain.md, seventh session).
import type { SqliteDb, SqliteStatement } from "./driver.ts";
import type { CompletedJob } from "../store.ts";
import { completionCount, completionRows, recordAttempts, type AttemptRow, type CompletionRows } from "./record-attempts.ts";

/** Whether a completion's attempt is a plain delivered one, kept in the job's own row (delivered_*). */
const isPlain = (r: AttemptRow) => r[2] !== null && r[4] === "delivered" && r[6] === null;
/** Whether a completion's attempt needs a job_attempts row (not a plain delivered one). */
const hasOwnRow = (r: AttemptRow) => r[2] !== null && !isPlain(r);

const COMPLETE = `
  UPDATE jobs SET state = 'done', last_error = NULL, locked_by = NULL, locked_until = NULL, updated_at = ?1,
    delivered_at = ?2, delivered_ms = ?3, delivered_code = ?4
  WHERE id = ?5 AND locked_by = ?6 AND state = 'running'`;

export function completeJobs(db: SqliteDb, items: CompletedJob[], now: number): string[] {
  return completeJobRows(db, completionRows(items), now);
}

/** completeJobs of items already in CompletionRows form (the store thread receives them so: thread-store.ts). */
export function completeJobRows(db: SqliteDb, rows: CompletionRows, now: number): string[] {
  if (!completionCount(rows)) return [];
  return db.transaction(() => completeJobRowsIn(db, rows, now)).immediate();
}

/**
 * completeJobRows inside the caller's transaction (completeThenClaim in claim-due-jobs.ts shares
 * one). The ids marked done: the plain delivered ones first, in their order, then the others.
 */
export function completeJobRowsIn(db: SqliteDb, rows: CompletionRows, now: number): string[] {
  const update = db.query(COMPLETE);
  const ids: string[] = [];
  const { worker, delivered } = rows;
  for (let i = 0; i < delivered.length; i += 4) {
    const id = delivered[i] as string;
    if (update.run(now, delivered[i + 1] ?? null, delivered[i + 2] ?? null, delivered[i + 3] ?? null, id, worker).changes === 1) ids.push(id);
  }
  if (rows.others.length) completeOtherRowsIn(db, update, rows.others, now, ids);
  return ids;
}

/** The completions of AttemptRows: each marked done as above, its attempt in the row if plain, else in job_attempts. */
function completeOtherRowsIn(db: SqliteDb, update: SqliteStatement, rows: AttemptRow[], now: number, ids: string[]): void {
  let other: AttemptRow[] | undefined;
  for (const r of rows) {
    const plain = isPlain(r);
    if (update.run(now, plain ? r[2] : null, plain ? r[3] : null, plain ? r[5] : null, r[0], r[1]).changes !== 1) continue;
    ids.push(r[0]);
    // Any other attempt goes to job_attempts, for the jobs marked done.
    if (hasOwnRow(r)) (other ??= []).push(r);
  }
  if (other) recordAttempts(db, JSON.stringify(other));
}
