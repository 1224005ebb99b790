// Row → Job. Quirks (Bun 1.4.5): int8 columns arrive as strings unless the pool is created with
// bigint: true (then as BigInt), so epoch-ms bigint columns are converted with Number() here.
// No Date is ever bound or read: times are plain epoch-ms numbers, which Bun binds as int8 when
// Number.isSafeInteger holds. The json payload is selected as text (payload::text) and parsed
// here, so Bun's automatic json decoding cannot differ between prepared and simple queries.
import type { Job, JobState } from "../store.ts";
import { num } from "./connection.ts";

/** The select list every job query returns (qualified: claimDueJobs joins a subquery that also has `id`). */
export const JOB_COLUMNS =
  "jobs.id, jobs.hook, jobs.action, jobs.payload::text AS payload, jobs.state, jobs.attempts, jobs.max_attempts, jobs.run_at, " +
  "jobs.last_error, jobs.created_at, jobs.updated_at, jobs.locked_by, jobs.locked_until, jobs.trigger_id, jobs.identity_id, jobs.traceparent";

export type JobRow = {
  id: string;
  hook: string;
  action: string;
  payload: string;
  state: JobState;
  attempts: number;
  max_attempts: number;
  run_at: string;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  locked_by: string | null;
  locked_until: string | null;
  trigger_id: string | null;
  identity_id: string | null;
  traceparent: string | null;
  /** Only in reads that count the history (read-jobs.ts). */
  attempts_recorded?: number;
};

export function toJob(r: JobRow): Job {
  return {
    id: r.id,
    hook: r.hook,
    action: r.action,
    payload: JSON.parse(r.payload),
    maxAttempts: r.max_attempts,
    runAt: num(r.run_at),
    state: r.state,
    attempts: r.attempts,
    lastError: r.last_error,
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    lockedBy: r.locked_by,
    lockedUntil: r.locked_until === null ? null : num(r.locked_until),
    triggerId: r.trigger_id ?? null,
    identityId: r.identity_id ?? null,
    traceparent: r.traceparent ?? null,
    ...(r.attempts_recorded !== undefined ? { attemptsRecorded: r.attempts_recorded } : {}),
  };
}
