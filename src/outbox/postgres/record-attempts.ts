// Appends delivery attempts to their jobs' histories, inside the transaction that records the
// outcome (completeJobs, failJob): one set-based INSERT from parallel arrays whatever their number.
// Each gets the next number of its job (max + 1, found through the primary key).
import type { TransactionSQL } from "bun";
import type { AttemptRecord } from "../store.ts";

export async function recordAttempts(tx: TransactionSQL, attempts: Array<{ id: string; attempt: AttemptRecord }>): Promise<void> {
  if (!attempts.length) return;
  const col = <T>(f: (a: { id: string; attempt: AttemptRecord }) => T) => attempts.map(f);
  await tx`
    INSERT INTO job_attempts (job_id, n, started_at, duration_ms, outcome, code, detail)
    SELECT t.id, coalesce((SELECT max(n) FROM job_attempts a WHERE a.job_id = t.id), 0) + 1, t.s, t.d, t.o, t.c, t.t
    FROM unnest(
      ${tx.array(col((a) => a.id), "TEXT")}::text[],
      ${tx.array(col((a) => a.attempt.startedAt), "BIGINT")}::bigint[],
      ${tx.array(col((a) => a.attempt.durationMs), "INT")}::int[],
      ${tx.array(col((a) => a.attempt.outcome), "TEXT")}::text[],
      ${tx.array(col((a) => a.attempt.code), "INT")}::int[],
      ${tx.array(col((a) => a.attempt.detail), "TEXT")}::text[]
    ) AS t(id, s, d, o, c, t)`;
}
