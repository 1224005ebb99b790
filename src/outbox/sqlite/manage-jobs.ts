// Operator actions: retry and purge. (Expired dedupe records: dedupe-log.ts.)
import type { SqliteDb } from "./driver.ts";
import type { JobFilter } from "../store.ts";
import { purgeableStates, retryableStates } from "../store-rules.ts";
import { jobIdsIn } from "./job-filter.ts";

/** Back to pending, attempts reset, due now. Never touches a running job. */
export function retryJobs(db: SqliteDb, filter: JobFilter, now: number): number {
  const states = retryableStates(filter);
  if (!states.length) return 0;
  const w = jobIdsIn(filter, states);
  return db.query(`
    UPDATE jobs SET state = 'pending', attempts = 0, run_at = $now, locked_by = NULL, locked_until = NULL, updated_at = $now
    WHERE ${w.sql}`).run({ ...w.params, now }).changes;
}

export function purgeJobs(db: SqliteDb, filter: JobFilter): number {
  const states = purgeableStates(filter);
  if (!states.length) return 0;
  const w = jobIdsIn(filter, states);
  return db.query(`DELETE FROM jobs WHERE ${w.sql}`).run(w.params).changes;
}
