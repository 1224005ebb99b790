// Reads for the outbox CLI and the admin surface. Reads retry on a stale connection (connection.ts).
import type { Attempt, AttemptOutcome, Job, JobFilter, JobState, Stats } from "../store.ts";
import { num, type PgDb } from "./connection.ts";
import { jobWhere, limitClause } from "./job-filter.ts";
import { JOB_COLUMNS, toJob, type JobRow } from "./rows.ts";

export function getJob(db: PgDb, id: string): Promise<Job | undefined> {
  return db.read("getJob", async (sql) => {
    const [row] = (await sql`SELECT ${sql.unsafe(WITH_RECORDED)} FROM jobs WHERE id = ${id}`) as JobRow[];
    return row ? toJob(row) : undefined;
  });
}

/**
 * Jobs matching the filter, newest first. Job ids are uuid v7, so id order is creation order and
 * the primary key serves the order and the `beforeId` cursor without a sort.
 */
export function listJobs(db: PgDb, filter: JobFilter): Promise<Job[]> {
  return db.read("listJobs", async (sql) => {
    const rows = (await sql`
      SELECT ${sql.unsafe(WITH_RECORDED)} FROM jobs WHERE ${jobWhere(sql, filter)}
      ORDER BY id DESC ${limitClause(sql, filter)}`) as JobRow[];
    return rows.map(toJob);
  });
}

type AttemptRow = { job_id: string; n: number; started_at: string; duration_ms: number; outcome: AttemptOutcome; code: number | null; detail: string | null };

export function listAttempts(db: PgDb, jobId: string): Promise<Attempt[]> {
  return db.read("listAttempts", async (sql) => {
    const rows = (await sql`SELECT job_id, n, started_at, duration_ms, outcome, code, detail FROM job_attempts WHERE job_id = ${jobId} ORDER BY n`) as AttemptRow[];
    return rows.map((r) => ({ jobId: r.job_id, n: r.n, startedAt: num(r.started_at), durationMs: r.duration_ms, outcome: r.outcome, code: r.code, detail: r.detail }));
  });
}

/** A job row with the length of its history (count(*) is int8, which Bun returns as a string: cast). */
const WITH_RECORDED = `${JOB_COLUMNS}, (SELECT count(*)::int FROM job_attempts WHERE job_id = jobs.id) AS attempts_recorded`;

export function stats(db: PgDb, now: number): Promise<Stats> {
  return db.read("stats", async (sql) => {
    const byState: Record<JobState, number> = { pending: 0, running: 0, done: 0, dead: 0 };
    // count(*) is int8, which Bun returns as a string: cast to int4 in SQL.
    for (const r of (await sql`SELECT state, count(*)::int AS n FROM jobs GROUP BY state`) as Array<{ state: JobState; n: number }>) byState[r.state] = r.n;
    const [oldest] = (await sql`SELECT min(run_at) AS t FROM jobs WHERE state = 'pending' AND run_at <= ${now}`) as Array<{ t: string | null }>;
    return { byState, oldestDueAgeMs: oldest!.t === null ? 0 : now - num(oldest!.t) };
  });
}
