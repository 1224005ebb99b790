// Operator actions: retry, purge, and dropping expired dedupe records.
import type { JobFilter } from "../store.ts";
import { purgeableStates, retryableStates } from "../store-rules.ts";
import type { PgDb } from "./connection.ts";
import { jobIdsIn } from "./job-filter.ts";

/** Back to pending, attempts reset, due now. Never touches a running job. */
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

export function purgeJobs(db: PgDb, filter: JobFilter): Promise<number> {
  const states = purgeableStates(filter);
  if (!states.length) return Promise.resolve(0);
  return db.tx("purgeJobs", async (tx) => (await tx`DELETE FROM jobs WHERE ${jobIdsIn(tx, filter, states)}`).count);
}

export function purgeExpiredDedupe(db: PgDb, now: number): Promise<number> {
  return db.tx("purgeExpiredDedupe", async (tx) => (await tx`DELETE FROM dedupe WHERE expires_at <= ${now}`).count);
}
