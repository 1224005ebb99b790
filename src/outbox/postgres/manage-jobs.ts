// Operator actions: retry, purge, retention's expiry, and dropping expired dedupe records.
import type { JobFilter } from "../store.ts";
import { purgeableStates, retryableStates } from "../store-rules.ts";
import type { PgDb } from "./connection.ts";
import { jobIdsIn } from "./job-filter.ts";

/** Back to pending with a fresh attempt budget, due now; the history stays. Never touches a running job. */
export function retryJobs(db: PgDb, filter: JobFilter, now: number): Promise<number> {
  const states = retryableStates(filter);
  if (!states.length) return Promise.resolve(0);
  return db.tx("retryJobs", async (tx) => {
    const r = await tx`
      UPDATE jobs SET state = 'pending', attempts = 0, run_at = ${now}, locked_by = NULL, locked_until = NULL, updated_at = ${now}
      WHERE ${jobIdsIn(tx, filter, states)}`;
    return r.count;
  });
}

/** Deleted jobs take their attempts with them, in the same statement (a data-modifying CTE). */
export function purgeJobs(db: PgDb, filter: JobFilter): Promise<number> {
  const states = purgeableStates(filter);
  if (!states.length) return Promise.resolve(0);
  return db.tx("purgeJobs", async (tx) => {
    const [row] = await tx`
      WITH gone AS (DELETE FROM jobs WHERE ${jobIdsIn(tx, filter, states)} RETURNING id),
      attempts AS (DELETE FROM job_attempts USING gone WHERE job_attempts.job_id = gone.id)
      SELECT count(*)::int AS n FROM gone`;
    return (row as { n: number }).n;
  });
}

/** Up to `limit` jobs in `state` finished before `before`, found through jobs_done / jobs_dead; SKIP LOCKED so two instances split the work. */
export function expireJobs(db: PgDb, state: "done" | "dead", before: number, limit: number): Promise<number> {
  return db.tx("expireJobs", async (tx) => {
    const [row] = await tx`
      WITH gone AS (
        DELETE FROM jobs WHERE id IN (
          SELECT id FROM jobs WHERE state = ${state} AND updated_at < ${before} LIMIT ${limit} FOR UPDATE SKIP LOCKED)
        RETURNING id),
      attempts AS (DELETE FROM job_attempts USING gone WHERE job_attempts.job_id = gone.id)
      SELECT count(*)::int AS n FROM gone`;
    return (row as { n: number }).n;
  });
}

export function purgeExpiredDedupe(db: PgDb, now: number): Promise<number> {
  return db.tx("purgeExpiredDedupe", async (tx) => (await tx`DELETE FROM dedupe WHERE expires_at <= ${now}`).count);
}
