// Reads for the outbox CLI and the admin surface.
import type { SqliteDb } from "./driver.ts";
import type { Job, JobFilter, JobState, Stats } from "../store.ts";
import { jobWhere } from "./job-filter.ts";
import { toJob, type JobRow } from "./rows.ts";

export function getJob(db: SqliteDb, id: string): Job | undefined {
  const row = db.query("SELECT * FROM jobs WHERE id = $id").get({ id }) as JobRow | null;
  return row ? toJob(row) : undefined;
}

/** Jobs matching the filter, oldest first. */
export function listJobs(db: SqliteDb, filter: JobFilter): Job[] {
  const w = jobWhere(filter);
  const limit = filter.limit !== undefined ? ` LIMIT ${Math.max(0, Math.trunc(filter.limit))}` : "";
  return (db.query(`SELECT * FROM jobs WHERE ${w.sql} ORDER BY created_at, id${limit}`).all(w.params) as JobRow[]).map(toJob);
}

/**
 * Jobs by state and the oldest due job's age, from one snapshot. Pending, running and dead are
 * counted through their partial indexes; done is the rest of count(*), which SQLite reads from
 * the smallest index. There is no (state, created_at) index to group by (migration 3).
 */
export function stats(db: SqliteDb, now: number): Stats {
  return db.transaction(() => {
    const count = (sql: string) => (db.query(sql).get() as { n: number }).n;
    const pending = count("SELECT count(*) AS n FROM jobs INDEXED BY jobs_due WHERE state = 'pending'");
    const running = count("SELECT count(*) AS n FROM jobs INDEXED BY jobs_lease WHERE state = 'running'");
    const dead = count("SELECT count(*) AS n FROM jobs INDEXED BY jobs_dead WHERE state = 'dead'");
    const done = count("SELECT count(*) AS n FROM jobs") - pending - running - dead;
    const byState: Record<JobState, number> = { pending, running, done, dead };
    const oldest = db.query("SELECT min(run_at) AS t FROM jobs WHERE state = 'pending' AND run_at <= $now").get({ now }) as { t: number | null };
    return { byState, oldestDueAgeMs: oldest.t === null ? 0 : now - oldest.t };
  }).deferred();
}
