// Reads for the outbox CLI and the admin surface.
import type { Database } from "bun:sqlite";
import type { Job, JobFilter, JobState, Stats } from "../store.ts";
import { jobWhere } from "./job-filter.ts";
import { toJob, type JobRow } from "./rows.ts";

export function getJob(db: Database, id: string): Job | undefined {
  const row = db.query("SELECT * FROM jobs WHERE id = $id").get({ id }) as JobRow | null;
  return row ? toJob(row) : undefined;
}

/** Jobs matching the filter, oldest first. */
export function listJobs(db: Database, filter: JobFilter): Job[] {
  const w = jobWhere(filter);
  const limit = filter.limit !== undefined ? ` LIMIT ${Math.max(0, Math.trunc(filter.limit))}` : "";
  return (db.query(`SELECT * FROM jobs WHERE ${w.sql} ORDER BY created_at, id${limit}`).all(w.params) as JobRow[]).map(toJob);
}

export function stats(db: Database, now: number): Stats {
  const byState: Record<JobState, number> = { pending: 0, running: 0, done: 0, dead: 0 };
  for (const r of db.query("SELECT state, count(*) AS n FROM jobs GROUP BY state").all() as Array<{ state: JobState; n: number }>) byState[r.state] = r.n;
  const oldest = db.query("SELECT min(run_at) AS t FROM jobs WHERE state = 'pending' AND run_at <= $now").get({ now }) as { t: number | null };
  return { byState, oldestDueAgeMs: oldest.t === null ? 0 : now - oldest.t };
}
