// The three ways a worker gives a leased job back. Each checks `locked_by = worker` on a running
// job, so a worker whose lease expired and was reclaimed by another cannot clobber that one's work.
import type { SqliteDb } from "./driver.ts";
import type { AttemptRecord } from "../store.ts";
import { attemptRow, recordAttempts } from "./record-attempts.ts";

/** Lease held → done. */
export function completeJob(db: SqliteDb, id: string, worker: string, now: number): boolean {
  return db.query(`
    UPDATE jobs SET state = 'done', last_error = NULL, locked_by = NULL, locked_until = NULL, updated_at = $now,
      delivered_at = NULL, delivered_ms = NULL, delivered_code = NULL
    WHERE id = $id AND state = 'running' AND locked_by = $worker`).run({ id, worker, now }).changes === 1;
}

/** Lease held → pending at retryAt, or dead when retryAt is null. The attempt was counted at claim; `attempt` joins the history. */
export function failJob(db: SqliteDb, id: string, worker: string, error: string, retryAt: number | null, now: number, attempt?: AttemptRecord): boolean {
  const fail = () => db.query(`
    UPDATE jobs SET
      state = CASE WHEN $retryAt IS NULL THEN 'dead' ELSE 'pending' END,
      run_at = coalesce($retryAt, run_at), last_error = $error,
      locked_by = NULL, locked_until = NULL, updated_at = $now
    WHERE id = $id AND state = 'running' AND locked_by = $worker`).run({ id, worker, error, retryAt, now }).changes === 1;
  if (!attempt) return fail();
  return db.transaction(() => {
    const ok = fail();
    if (ok) recordAttempts(db, JSON.stringify([attemptRow(id, worker, attempt)]));
    return ok;
  }).immediate();
}

/** Lease held → pending, due as before, and the attempt the claim counted is given back. */
export function releaseJob(db: SqliteDb, id: string, worker: string, now: number): boolean {
  return db.query(`
    UPDATE jobs SET state = 'pending', attempts = max(attempts - 1, 0),
      locked_by = NULL, locked_until = NULL, updated_at = $now
    WHERE id = $id AND state = 'running' AND locked_by = $worker`).run({ id, worker, now }).changes === 1;
}
