// Row ↔ Job mapping. bun:sqlite and node:sqlite (readBigInts off) return INTEGER columns as JS numbers (safe for epoch ms until
// year 287396), so no conversion beyond the JSON payload.
import type { Job, JobState } from "../store.ts";

export type JobRow = {
  id: string;
  hook: string;
  action: string;
  payload: string;
  state: JobState;
  attempts: number;
  max_attempts: number;
  run_at: number;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  locked_by: string | null;
  locked_until: number | null;
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
    runAt: r.run_at,
    state: r.state,
    attempts: r.attempts,
    lastError: r.last_error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    lockedBy: r.locked_by,
    lockedUntil: r.locked_until,
    triggerId: r.trigger_id ?? null,
    identityId: r.identity_id ?? null,
    traceparent: r.traceparent ?? null,
    ...(r.attempts_recorded !== undefined ? { attemptsRecorded: r.attempts_recorded } : {}),
  };
}
