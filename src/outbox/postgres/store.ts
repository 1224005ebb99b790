// Store over Postgres with Bun's built-in client (`import { SQL } from "bun"`, no extra driver).
// Tables live in one schema (search_path per connection); migrations run under an advisory lock.
// Workers poll claimDueJobs. Bun 1.4.5 does have sql.listen/notify, but the store does not use
// them: polling works the same on SQLite, and a NOTIFY lost across a reconnect would stall work
// until the next poll anyway.
import type { Acceptance, AcceptResult, Attempt, AttemptRecord, ClaimOptions, CompletedJob, Job, JobFilter, LimitedClaim, SharedRateLimit, Stats, Store } from "../store.ts";
import { acceptBatch } from "./accept-batch.ts";
import { claimDueJobs } from "./claim-due-jobs.ts";
import { claimDueJobsWithin } from "./claim-within-limits.ts";
import { completeJobs } from "./complete-jobs.ts";
import { PgDb, type PostgresOptions } from "./connection.ts";
import { completeJob, failJob, releaseJob } from "./finish-job.ts";
import { expireJobs, purgeExpiredDedupe, purgeJobs, retryJobs } from "./manage-jobs.ts";
import { migrate } from "./migrate.ts";
import { getJob, listAttempts, listJobs, stats } from "./read-jobs.ts";

export type { PostgresOptions };

export class PostgresStore implements Store {
  readonly kind = "postgres";
  readonly #db: PgDb;

  constructor(url: string, opts: PostgresOptions = {}) {
    this.#db = new PgDb(url, opts);
  }

  get schema(): string {
    return this.#db.schema;
  }

  migrate(): Promise<void> {
    return migrate(this.#db, Date.now());
  }
  async acceptBatch(batch: Acceptance[]): Promise<AcceptResult[]> {
    return batch.length ? acceptBatch(this.#db, batch) : [];
  }
  claimDueJobs(opts: ClaimOptions): Promise<Job[]> {
    return claimDueJobs(this.#db, opts);
  }
  claimDueJobsWithin(opts: ClaimOptions, limits: SharedRateLimit[]): Promise<LimitedClaim> {
    return claimDueJobsWithin(this.#db, opts, limits);
  }
  completeJob(id: string, worker: string, now: number): Promise<boolean> {
    return completeJob(this.#db, id, worker, now);
  }
  async completeJobs(items: CompletedJob[], now: number): Promise<string[]> {
    return items.length ? completeJobs(this.#db, items, now) : [];
  }
  failJob(id: string, worker: string, error: string, retryAt: number | null, now: number, attempt?: AttemptRecord): Promise<boolean> {
    return failJob(this.#db, id, worker, error, retryAt, now, attempt);
  }
  releaseJob(id: string, worker: string, now: number): Promise<boolean> {
    return releaseJob(this.#db, id, worker, now);
  }
  getJob(id: string): Promise<Job | undefined> {
    return getJob(this.#db, id);
  }
  listJobs(filter: JobFilter): Promise<Job[]> {
    return listJobs(this.#db, filter);
  }
  listAttempts(jobId: string): Promise<Attempt[]> {
    return listAttempts(this.#db, jobId);
  }
  retryJobs(filter: JobFilter, now: number): Promise<number> {
    return retryJobs(this.#db, filter, now);
  }
  purgeJobs(filter: JobFilter): Promise<number> {
    return purgeJobs(this.#db, filter);
  }
  expireJobs(state: "done" | "dead", before: number, limit: number): Promise<number> {
    return expireJobs(this.#db, state, before, limit);
  }
  purgeExpiredDedupe(now: number): Promise<number> {
    return purgeExpiredDedupe(this.#db, now);
  }
  stats(now: number): Promise<Stats> {
    return stats(this.#db, now);
  }
  async ping(): Promise<void> {
    await this.#db.read("ping", (sql) => sql`SELECT 1`);
  }
  close(): Promise<void> {
    return this.#db.close();
  }
}
