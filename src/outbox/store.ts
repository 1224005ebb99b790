// The one seam between the receiver/outbox and the database. Two implementations pass the same
// suite (test/store/store.suite.ts): SQLite (src/outbox/sqlite/, on bun:sqlite, or node:sqlite
// under Deno) and Postgres via Bun.SQL (src/outbox/postgres/). Each operation is one named function there, readable in one screen.
// Both raise StoreUnavailableError (src/outbox/errors.ts) when the database cannot be reached.

export type JobState = "pending" | "running" | "done" | "dead";

/** The answer given to Kratos for a delivery; replayed verbatim to a duplicate. */
export type StoredResponse = { status: number; body: string | null; contentType?: string };

export type NewJob = {
  /** Stable job id (uuid v7 text); also the Idempotency-Key header of every delivery. */
  id: string;
  hook: string;
  /** Action id, `<hook>.<action name>`. */
  action: string;
  /** The rendered input of the action (JSON-serialisable). Never holds secrets: env refs are resolved at delivery. */
  payload: unknown;
  maxAttempts: number;
  /** Epoch ms when the job is first due. */
  runAt: number;
  /** The webhook's Ory-Webhook-Trigger-Id, for search and for every log line of the job. */
  triggerId?: string | null;
  /** The identity the webhook was about (its ctx identity.id, when the hook's body carries it), for search. */
  identityId?: string | null;
  /** The W3C traceparent Kratos sent with the webhook; http deliveries carry a child of it. */
  traceparent?: string | null;
};

export type Job = Omit<NewJob, "triggerId" | "identityId" | "traceparent"> & {
  triggerId: string | null;
  identityId: string | null;
  traceparent: string | null;
  state: JobState;
  /**
   * Attempts started against the budget, counting the one in progress: claimDueJobs adds 1 (so a
   * job whose worker dies still uses up attempts), releaseJob takes it back, retryJobs resets it
   * to 0 (a new budget; the attempt history is kept). A worker that fails a job dead-letters it
   * (retryAt = null) when `attempts >= maxAttempts`.
   */
  attempts: number;
  /** Attempts recorded in its history over its whole life, retries included. Set by getJob and listJobs. */
  attemptsRecorded?: number;
  /** The error of the last failed attempt; cleared when the job is done (the history keeps it). */
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  lockedBy: string | null;
  lockedUntil: number | null;
};

/** One accepted webhook request: its dedupe record and the jobs it enqueues, committed together. */
export type Acceptance = {
  hook: string;
  /** Idempotency key (Trigger-Id, declared key or body hash), already namespaced by hook. */
  key: string;
  response: StoredResponse;
  /** Epoch ms after which a repeat is treated as new. */
  expiresAt: number;
  jobs: NewJob[];
  now: number;
};
export type AcceptResult = { duplicate: false } | { duplicate: true; response: StoredResponse };

export type ClaimOptions = {
  worker: string;
  now: number;
  leaseMs: number;
  limit: number;
  /** Only jobs of these actions (the ones with free concurrency). Undefined = any. */
  actions?: string[];
};

/**
 * A rate limit kept in the store, shared by every worker on it (Store.claimDueJobsWithin): a token
 * bucket of `rate` per second holding at most rateLimitBurst(rate). Each job claimed of one of
 * `actions` takes a token.
 */
export type SharedRateLimit = { key: string; rate: number; actions: string[] };

/** A claim under shared rate limits: the jobs, and per limit key when its next whole token is due (epoch ms; `now` if one is left). */
export type LimitedClaim = { jobs: Job[]; nextTokenAt: Record<string, number> };

/**
 * The most tokens a rate-limit bucket holds: a tenth of a second's worth, at least 1. So a
 * destination limited to n/s sees at most n + n/10 deliveries in any one second, even after an
 * idle spell, and a backlog goes out in about ten claims a second rather than one per job.
 */
export const rateLimitBurst = (rate: number): number => Math.max(1, rate / 10);

/** How one delivery attempt ended: done, failed with a retry scheduled, or failed for good. */
export type AttemptOutcome = "delivered" | "retry" | "dead";

/**
 * One delivery attempt as the worker saw it. It is recorded by the same write that records the
 * outcome (completeJobs, failJob), so the history costs no extra commit.
 */
export type AttemptRecord = {
  /** Epoch ms when the delivery started. */
  startedAt: number;
  durationMs: number;
  outcome: AttemptOutcome;
  /** The HTTP status, SMTP reply code or exit code, when there was one. */
  code: number | null;
  /** The error or response excerpt: secrets already redacted, at most ATTEMPT_DETAIL_MAX characters. */
  detail: string | null;
};

/** An attempt in a job's history; `n` counts from 1 over the job's whole life (retries keep counting). */
export type Attempt = AttemptRecord & { jobId: string; n: number };

/** The longest attempt detail kept (characters); longer text is cut with an ellipsis. */
export const ATTEMPT_DETAIL_MAX = 1024;

/** A job a worker delivered and wants marked done (Store.completeJobs), with the attempt to record. */
export type CompletedJob = { id: string; worker: string; attempt?: AttemptRecord };

export type JobFilter = {
  state?: JobState;
  hook?: string;
  action?: string;
  ids?: string[];
  triggerId?: string;
  identityId?: string;
  /** Only jobs created at or after this epoch ms. */
  createdFrom?: number;
  /** Only jobs created before this epoch ms. */
  createdBefore?: number;
  /** listJobs paging: only jobs older than this job id (ids are uuid v7, ordered by creation). */
  beforeId?: string;
  limit?: number;
  /** Only jobs last changed before this epoch ms (for done/dead: when they finished). `outbox purge --older-than`. */
  updatedBefore?: number;
};

export type Stats = {
  byState: Record<JobState, number>;
  /** Age in ms of the oldest pending job that is due (0 if none). */
  oldestDueAgeMs: number;
};

export interface Store {
  readonly kind: "sqlite" | "postgres";
  /** Applies versioned migrations, under a lock so instances starting together do not race. */
  migrate(): Promise<void>;
  /**
   * Commits every acceptance in one transaction (group commit). For each, the dedupe record is
   * inserted with a unique constraint (never read-then-write); a live duplicate enqueues nothing
   * and returns the first answer; an expired record is replaced.
   */
  acceptBatch(batch: Acceptance[]): Promise<AcceptResult[]>;
  /**
   * Leases up to `limit` due jobs (pending and due, or running with an expired lease), earliest
   * run_at first, each with attempts + 1. An expired lease on the last attempt is made dead instead.
   */
  claimDueJobs(opts: ClaimOptions): Promise<Job[]>;
  /**
   * claimDueJobs under rate limits held in the store, so that every worker on it shares them
   * (Postgres). The claim takes no more jobs than the emptiest bucket has whole tokens, and takes
   * one token per job from each bucket whose `actions` hold the job's action, in the same
   * transaction. A store without it (SQLite: one process) leaves rate limits to each worker.
   */
  claimDueJobsWithin?(opts: ClaimOptions, limits: SharedRateLimit[]): Promise<LimitedClaim>;
  /** Marks a job done, if `worker` still holds its lease. Returns false if the lease was lost. */
  completeJob(id: string, worker: string, now: number): Promise<boolean>;
  /**
   * completeJob for many jobs in one transaction (one commit, one fsync): each job is marked done
   * if its `worker` still holds the lease. Returns the ids that were marked done; an id missing
   * from the result had lost its lease (or was not running). All or nothing: on an error, none is.
   */
  completeJobs(items: CompletedJob[], now: number): Promise<string[]>;
  /**
   * completeJobs and then claimDueJobs in one transaction (one commit instead of two): the worker
   * sends the completions still waiting for their write with its next claim. The completions are
   * recorded exactly as by completeJobs (`completed`: the ids marked done), the claim is
   * claimDueJobs; on an error neither is. Optional: without it, the two go separately.
   */
  completeThenClaim?(items: CompletedJob[], completedAt: number, claim: ClaimOptions): Promise<{ completed: string[]; jobs: Job[] }>;
  /**
   * Records a failed attempt: back to pending at `retryAt`, or dead when `retryAt` is null. With
   * `attempt`, the attempt joins the job's history in the same transaction.
   */
  failJob(id: string, worker: string, error: string, retryAt: number | null, now: number, attempt?: AttemptRecord): Promise<boolean>;
  /** Gives a leased job back without counting an attempt (shutdown). */
  releaseJob(id: string, worker: string, now: number): Promise<boolean>;
  getJob(id: string): Promise<Job | undefined>;
  /** Jobs matching the filter, newest first (by id: uuid v7), up to `limit`. */
  listJobs(filter: JobFilter): Promise<Job[]>;
  /** A job's attempt history, oldest first. */
  listAttempts(jobId: string): Promise<Attempt[]>;
  /**
   * Dead (or given) jobs back to pending with a fresh attempt budget (attempts 0), due now. Their
   * attempt history is kept. Returns how many.
   */
  retryJobs(filter: JobFilter, now: number): Promise<number>;
  /** Deletes jobs matching the filter (done/dead only unless ids are given), with their attempts. Returns how many. */
  purgeJobs(filter: JobFilter): Promise<number>;
  /**
   * Retention: deletes up to `limit` jobs in `state` that finished before `before` (epoch ms),
   * with their attempts, in one short transaction. Returns how many; fewer than `limit` means
   * none is left.
   */
  expireJobs(state: "done" | "dead", before: number, limit: number): Promise<number>;
  /** Deletes dedupe records that expired before `now`. */
  purgeExpiredDedupe(now: number): Promise<number>;
  stats(now: number): Promise<Stats>;
  /** Cheap round trip for /health/ready. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export { StoreUnavailableError } from "./errors.ts";
