// Reads for the outbox CLI and the admin surface. Reads retry on a stale connection (connection.ts).
import type { Job, JobFilter, JobState, Stats } from "../store.ts";
import { num, type PgDb } from "./connection.ts";
import { jobWhere, limitClause } from "./job-filter.ts";
import { JOB_COLUMNS, toJob, type JobRow } from "./rows.ts";

export function getJob(db: PgDb, id: string): Promise<Job | undefined> {
  return db.read("getJob", async (sql) => {
    const [row] = (await sql`SELECT ${sql.unsafe(JOB_COLUMNS)} FROM jobs WHERE id = ${id}`) as JobRow[];
    return row ? toJob(row) : undefined;
  });
}

/** Jobs matching the filter, oldest first. */
export function listJobs(db: PgDb, filter: JobFilter): Promise<Job[]> {
  return db.read("listJobs", async (sql) => {
    const rows = (await sql`
      SELECT ${sql.unsafe(JOB_COLUMNS)} FROM jobs WHERE ${jobWhere(sql, filter)}
      ORDER BY created_at, id ${limitClause(sql, filter)}`) as JobRow[];
    return rows.map(toJob);
  });
}

export function stats(db: PgDb, now: number): Promise<Stats> {
  return db.read("stats", async (sql) => {
    const byState: Record<JobState, number> = { pending: 0, running: 0, done: 0, dead: 0 };
    // count(*) is int8, which Bun returns as a string: cast to int4 in SQL.
    for (const r of (await sql`SELECT state, count(*)::int AS n FROM jobs GROUP BY state`) as Array<{ state: JobState; n: number }>) byState[r.state] = r.n;
    const [oldest] = (await sql`SELECT min(run_at) AS t FROM jobs WHERE state = 'pending' AND run_at <= ${now}`) as Array<{ t: string | null }>;
    return { byState, oldestDueAgeMs: oldest!.t === null ? 0 : now - num(oldest!.t) };
  });
}
