// Reads for the outbox CLI and the admin surface.
import type { SqliteDb } from "./driver.ts";
import type { Attempt, AttemptOutcome, Job, JobFilter, JobState, Stats } from "../store.ts";
import { jobWhere } from "./job-filter.ts";
import { toJob, type JobRow } from "./rows.ts";

/**
 * A job row with the length of its history (a primary-key range count per job), counting the
 * delivered attempt kept in the row itself (complete-jobs.ts).
 */
const WITH_RECORDED = "*, (SELECT count(*) FROM job_attempts WHERE job_id = jobs.id) + (delivered_at IS NOT NULL) AS attempts_recorded";

export function getJob(db: SqliteDb, id: string): Job | undefined {
  const row = db.query(`SELECT ${WITH_RECORDED} FROM jobs WHERE id = $id`).get({ id }) as JobRow | null;
  return row ? toJob(row) : undefined;
}

/**
 * The statement of listJobs. Newest first: job ids are uuid v7, so id order is creation order and
 * the primary key serves the order and the `beforeId` cursor without a sort. Pending, running and
 * dead jobs are few among the done ones: for those `+id` keeps SQLite 3.54.1 (no ANALYZE stats)
 * from walking every job in id order, and it reads the state's partial index and sorts the few
 * it finds instead (EXPLAIN QUERY PLAN in test/store/sqlite.test.ts).
 */
export function listJobsSql(filter: JobFilter): { sql: string; params: Record<string, string | number> } {
  const w = jobWhere(filter);
  const limit = filter.limit !== undefined ? ` LIMIT ${Math.max(0, Math.trunc(filter.limit))}` : "";
  const few = filter.state !== undefined && filter.state !== "done";
  return { sql: `SELECT ${WITH_RECORDED} FROM jobs WHERE ${w.sql} ORDER BY ${few ? "+id" : "id"} DESC${limit}`, params: w.params };
}

export function listJobs(db: SqliteDb, filter: JobFilter): Job[] {
  const q = listJobsSql(filter);
  return (db.query(q.sql).all(q.params) as JobRow[]).map(toJob);
}

type AttemptRow = { job_id: string; n: number; started_at: number; duration_ms: number; outcome: AttemptOutcome; code: number | null; detail: string | null };

export function listAttempts(db: SqliteDb, jobId: string): Attempt[] {
  // The delivered attempt in the job's row comes last: it ended the job.
  const rows = db.query(`
    SELECT job_id, n, started_at, duration_ms, outcome, code, detail FROM job_attempts WHERE job_id = $jobId
    UNION ALL
    SELECT id, (SELECT count(*) FROM job_attempts WHERE job_id = $jobId) + 1, delivered_at, delivered_ms, 'delivered', delivered_code, NULL
      FROM jobs WHERE id = $jobId AND delivered_at IS NOT NULL
    ORDER BY n`).all({ jobId }) as AttemptRow[];
  return rows.map((r) => ({ jobId: r.job_id, n: r.n, startedAt: r.started_at, durationMs: r.duration_ms, outcome: r.outcome, code: r.code, detail: r.detail }));
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
