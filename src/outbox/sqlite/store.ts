// Store over SQLite (bun:sqlite on Bun, node:sqlite on Deno: driver.ts): one connection, WAL,
// explicit PRAGMA synchronous. Both drivers are synchronous, so each operation runs to completion on the event loop and the single connection
// is the single writer; BEGIN IMMEDIATE and busy_timeout cover other processes on the same file
// (a second `serve`, or `kratos-hooks outbox retry`). A wait on another process's lock blocks this
// process's event loop for up to busy_timeout, then surfaces StoreUnavailableError.
import type { SqliteDb } from "./driver.ts";
import type { Acceptance, AcceptResult, Attempt, AttemptRecord, ClaimOptions, CompletedJob, Job, JobFilter, Stats, Store } from "../store.ts";
import { acceptRowsIn, releaseAcceptStatements } from "./accept-batch.ts";
import { acceptResults, acceptRows, type AcceptRows, type Duplicates } from "./accept-rows.ts";
import { claimDueJobRows, claimDueJobs, claimedJob, completeThenClaimRows, type ClaimedRow } from "./claim-due-jobs.ts";
import { Framed } from "./framed.ts";
import { completeJobRows, completeJobs } from "./complete-jobs.ts";
import { completionCount, completionRows, type CompletionRows } from "./record-attempts.ts";
import { guard, openSqlite, type SqliteOptions } from "./connection.ts";
import { DedupeLog, FLUSH_SLICES } from "./dedupe-log.ts";
import { completeJob, failJob, releaseJob } from "./finish-job.ts";
import { expireJobs, purgeJobs, retryJobs } from "./manage-jobs.ts";
import { migrate } from "./migrate.ts";
import { getJob, listAttempts, listJobs, stats } from "./read-jobs.ts";

export type { SqliteOptions };

/**
 * The worker's own bookkeeping (claims, completions, failures, releases) commits at
 * synchronous=NORMAL whatever `serve.synchronous` says: after a power loss a lost claim or
 * completion only means the job is delivered again, which at-least-once delivery and the
 * Idempotency-Key already cover. Acknowledgements (acceptBatch) and operator writes keep the
 * configured level. In WAL mode the setting applies per commit, and a FULL commit's fsync also
 * makes every earlier frame durable. These writes were two thirds of the worker's thread while
 * draining (bench/results/drain.md).
 */
const BOOKKEEPING_LEVEL = "NORMAL";

export class SqliteStore implements Store {
  readonly kind = "sqlite";
  readonly #db: SqliteDb;
  readonly #ackLevel: "FULL" | "NORMAL";
  #level: "FULL" | "NORMAL";
  readonly #dedupe: DedupeLog;
  #flushing = false;
  #closed = false;

  constructor(readonly path: string, opts: SqliteOptions = {}) {
    this.#db = guard("open", () => openSqlite(path, opts));
    this.#ackLevel = this.#level = opts.synchronous === "normal" ? "NORMAL" : "FULL";
    this.#dedupe = new DedupeLog(opts.dedupeFlushRows);
  }

  #at(level: "FULL" | "NORMAL"): SqliteDb {
    if (this.#level !== level) {
      this.#db.run(`PRAGMA synchronous = ${level}`);
      this.#level = level;
    }
    return this.#db;
  }
  /** For acknowledgements and operator writes. */
  get #ack(): SqliteDb {
    return this.#at(this.#ackLevel);
  }
  /** For the worker's bookkeeping. */
  get #bookkeeping(): SqliteDb {
    return this.#at(BOOKKEEPING_LEVEL);
  }

  async migrate(): Promise<void> {
    guard("migrate", () => migrate(this.#ack, Date.now()));
  }
  async acceptBatch(batch: Acceptance[]): Promise<AcceptResult[]> {
    if (!batch.length) return [];
    return acceptResults(batch.length, this.acceptRows(acceptRows(batch)));
  }
  /** acceptBatch in the form the store thread receives it (accept-rows.ts); returns the duplicates. */
  acceptRows(rows: AcceptRows): Duplicates {
    if (!rows.fields.length) return [];
    const duplicates = guard("acceptBatch", () => acceptRowsIn(this.#ack, this.#dedupe, rows));
    if (this.#dedupe.pending >= this.#dedupe.flushRows) void this.#flushInBackground();
    return duplicates;
  }
  /** Moves appended dedupe records into the key index at once (dedupe-log.ts). Derived data: NORMAL is enough. */
  flushDedupeIndex(limit?: number): number {
    return guard("flushDedupeIndex", () => this.#dedupe.flushIndex(this.#bookkeeping, limit));
  }
  /**
   * Indexes the dedupe log once enough has piled up, after these callers are answered, one slice
   * per turn of the event loop so that acceptances arriving meanwhile commit in between. A failure
   * loses nothing (the rows stay in the log and in memory); the next acceptance starts it again.
   */
  async #flushInBackground(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    const turn = () => new Promise((resolve) => setTimeout(resolve, 0));
    try {
      await turn();
      const plan = this.#closed ? null : guard("flushDedupeIndex", () => this.#dedupe.planFlush(this.#bookkeeping));
      if (!plan) return;
      for (let slice = 0; slice < FLUSH_SLICES; slice++) {
        if (this.#closed) return;
        guard("flushDedupeIndex", () => this.#dedupe.flushSlice(this.#bookkeeping, plan, slice));
        await turn();
      }
      if (!this.#closed) guard("flushDedupeIndex", () => this.#dedupe.finishFlush(this.#bookkeeping, plan));
    } catch {
      // Retried by the next acceptance (see above).
    } finally {
      this.#flushing = false;
    }
  }
  async claimDueJobs(opts: ClaimOptions): Promise<Job[]> {
    return guard("claimDueJobs", () => claimDueJobs(this.#bookkeeping, opts));
  }
  /**
   * claimDueJobs with the jobs as compact rows, each payload's text moved to the reply's tail and
   * its length left in its place: what the store thread sends (thread-store.ts makes them Jobs).
   */
  async claimDueJobsFramed(opts: ClaimOptions): Promise<Framed> {
    return framedClaim(guard("claimDueJobs", () => claimDueJobRows(this.#bookkeeping, opts)));
  }
  async completeThenClaim(items: CompletedJob[], completedAt: number, opts: ClaimOptions): Promise<{ completed: string[]; jobs: Job[] }> {
    const { completed, claimed } = guard("completeThenClaim", () => completeThenClaimRows(this.#bookkeeping, completionRows(items), completedAt, opts));
    return { completed, jobs: claimed.map((r) => claimedJob(r, opts)) };
  }
  /**
   * completeThenClaim as the store thread receives it (record-attempts.ts CompletionRows) and
   * answers it: framed, its head [completed, claimed rows], `completed` null when every completion
   * was marked done (allDone), else their ids.
   */
  async completeThenClaimFramed(rows: CompletionRows, completedAt: number, opts: ClaimOptions): Promise<Framed> {
    const { completed, claimed } = guard("completeThenClaim", () => completeThenClaimRows(this.#bookkeeping, rows, completedAt, opts));
    const framed = framedClaim(claimed);
    return new Framed([allDone(rows, completed), framed.head], framed.tail);
  }
  async completeJob(id: string, worker: string, now: number): Promise<boolean> {
    return guard("completeJob", () => completeJob(this.#bookkeeping, id, worker, now));
  }
  async completeJobs(items: CompletedJob[], now: number): Promise<string[]> {
    return items.length ? guard("completeJobs", () => completeJobs(this.#bookkeeping, items, now)) : [];
  }
  /** completeJobs as the store thread receives it (CompletionRows) and answers it: null when every one was marked done (allDone), else their ids. */
  async completeJobRows(rows: CompletionRows, now: number): Promise<string[] | null> {
    return allDone(rows, completionCount(rows) ? guard("completeJobs", () => completeJobRows(this.#bookkeeping, rows, now)) : []);
  }
  async failJob(id: string, worker: string, error: string, retryAt: number | null, now: number, attempt?: AttemptRecord): Promise<boolean> {
    return guard("failJob", () => failJob(this.#bookkeeping, id, worker, error, retryAt, now, attempt));
  }
  async releaseJob(id: string, worker: string, now: number): Promise<boolean> {
    return guard("releaseJob", () => releaseJob(this.#bookkeeping, id, worker, now));
  }
  async getJob(id: string): Promise<Job | undefined> {
    return guard("getJob", () => getJob(this.#db, id));
  }
  async listJobs(filter: JobFilter): Promise<Job[]> {
    return guard("listJobs", () => listJobs(this.#db, filter));
  }
  async listAttempts(jobId: string): Promise<Attempt[]> {
    return guard("listAttempts", () => listAttempts(this.#db, jobId));
  }
  async retryJobs(filter: JobFilter, now: number): Promise<number> {
    return guard("retryJobs", () => retryJobs(this.#ack, filter, now));
  }
  async purgeJobs(filter: JobFilter): Promise<number> {
    return guard("purgeJobs", () => purgeJobs(this.#ack, filter));
  }
  /** Retention's deletes are derived housekeeping, like the dedupe purge: NORMAL is enough. */
  async expireJobs(state: "done" | "dead", before: number, limit: number): Promise<number> {
    return guard("expireJobs", () => expireJobs(this.#bookkeeping, state, before, limit));
  }
  async purgeExpiredDedupe(now: number): Promise<number> {
    return guard("purgeExpiredDedupe", () => this.#dedupe.purgeExpired(this.#bookkeeping, now));
  }
  async stats(now: number): Promise<Stats> {
    return guard("stats", () => stats(this.#db, now));
  }
  /** The PRAGMA synchronous acknowledgements commit at, read back from SQLite (for tests and `serve` startup logs). */
  synchronous(): "full" | "normal" | "other" {
    const level = (this.#ack.query("PRAGMA synchronous").get() as { synchronous: number }).synchronous;
    return level === 2 ? "full" : level === 1 ? "normal" : "other";
  }
  /** The PRAGMA synchronous the worker's bookkeeping commits at, read back from SQLite. */
  bookkeepingSynchronous(): "full" | "normal" | "other" {
    const level = (this.#bookkeeping.query("PRAGMA synchronous").get() as { synchronous: number }).synchronous;
    return level === 2 ? "full" : level === 1 ? "normal" : "other";
  }
  async ping(): Promise<void> {
    guard("ping", () => this.#db.query("SELECT 1").get());
  }
  async close(): Promise<void> {
    this.#closed = true;
    releaseAcceptStatements(this.#db);
    this.#db.close();
  }
}

/**
 * The completed ids as the store thread answers them: null when every completion sent was marked
 * done, which is the usual answer, so the ids (the caller has them) do not travel back and get
 * parsed again for every delivery; else the ids marked done.
 */
function allDone(rows: CompletionRows, completed: string[]): string[] | null {
  return completed.length === completionCount(rows) ? null : completed;
}

/**
 * Claimed rows as the store thread sends them: each payload's text moved to the reply's tail and
 * its length left in its place (thread-store.ts makes them Jobs).
 */
function framedClaim(rows: ClaimedRow[]): Framed {
  let tail = "";
  for (const r of rows) {
    // A column edited into a BLOB comes back as bytes: sent as the text JSON.parse would read.
    const text = typeof r[3] === "string" ? r[3] : String(r[3]);
    tail += text;
    (r as unknown[])[3] = text.length;
  }
  return new Framed(rows, tail);
}
