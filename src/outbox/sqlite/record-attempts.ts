// Appends delivery attempts to their jobs' histories. Called inside the transaction that records
// the outcome (completeJobs, failJob), so an attempt is kept exactly when its outcome is. The
// attempts travel as one JSON parameter (json_each), so the statement text does not depend on how
// many there are; each gets the next number of its job (max + 1, found through the primary key).
// Each attempt is a compact array [job id, worker, started, duration, outcome, code, detail]
// (attemptRow), the same rows completeJobs reads its ids from, so a completion batch is encoded
// once for both statements; rows without an attempt (started null) are skipped.
import type { SqliteDb } from "./driver.ts";
import type { AttemptRecord, CompletedJob } from "../store.ts";

export type AttemptRow = [id: string, worker: string, startedAt: number | null, durationMs: number | null, outcome: string | null, code: number | null, detail: string | null];

export function attemptRow(id: string, worker: string, a: AttemptRecord | undefined): AttemptRow {
  return a ? [id, worker, a.startedAt, a.durationMs, a.outcome, a.code, a.detail] : [id, worker, null, null, null, null, null];
}

/**
 * A batch of completions as the event loop sends it to the store thread (thread-store.ts): the
 * usual completion, a plain delivered attempt (no detail) of the batch's worker, as four values in
 * one flat list, `delivered` = [id, startedAt, durationMs, code, id, ...]; any other (another
 * worker, another attempt, none) as its AttemptRow in `others`. Seven values per completion, the
 * worker's name and "delivered" among them, in an array of its own, were what the event loop
 * encoded and the thread decoded for every delivery.
 */
export type CompletionRows = { worker: string; delivered: (string | number | null)[]; others: AttemptRow[] };

export function completionRows(items: CompletedJob[]): CompletionRows {
  const worker = items[0]?.worker ?? "";
  const delivered: (string | number | null)[] = [];
  const others: AttemptRow[] = [];
  for (const i of items) {
    const a = i.attempt;
    if (a !== undefined && i.worker === worker && a.outcome === "delivered" && a.detail === null) delivered.push(i.id, a.startedAt, a.durationMs, a.code);
    else others.push(attemptRow(i.id, i.worker, a));
  }
  return { worker, delivered, others };
}

/** How many completions a CompletionRows holds. */
export function completionCount(rows: CompletionRows): number {
  return rows.delivered.length / 4 + rows.others.length;
}

/** Records the attempts of `rows`, a JSON array of AttemptRow. */
export function recordAttempts(db: SqliteDb, rows: string): void {
  db.query(`
    INSERT INTO job_attempts (job_id, n, started_at, duration_ms, outcome, code, detail)
    SELECT value ->> 0,
      coalesce((SELECT max(n) FROM job_attempts WHERE job_id = value ->> 0), 0) + 1,
      value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6
    FROM json_each($rows) WHERE value ->> 2 IS NOT NULL`).run({ rows });
}
