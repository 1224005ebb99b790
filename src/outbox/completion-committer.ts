// Group commit for the worker's completions, the way group-commit.ts does it for acceptances:
// marking a delivered job done is a write transaction, one fsync (SQLite synchronous=FULL) or one
// WAL flush and round trip (Postgres) each, and one per delivery capped the worker's drain rate at
// the commit rate. Completions arriving within `maxWaitMs` of the first one (or until `maxBatch`
// are queued) go to Store.completeJobs together; each caller learns whether its own lease was
// still held. Each completion carries its attempt record, written in the same transaction, so the
// attempt history adds a statement to the batch, not a commit. The batching itself is batcher.ts.
//
// A batch that fails rejects every caller in it, and nothing of it is recorded (completeJobs is
// one transaction). The committer does not retry by itself: the worker retries each completion
// until its lease would run out (Worker#settle), and those retries batch again here.
//
// Completions ride with claims: the worker claims through claim() here, and when the store can
// (Store.completeThenClaim, SQLite) the completions still queued go in the claim's transaction, one
// commit (and one message to the store thread and back) instead of two. Nothing waits longer for
// it: a completion goes with whichever comes first, a claim or its batch's timer; holding them for
// the next claim instead made the drain slower (bench/results/drain.md, seventh session). After a
// combined call fails, claims go alone until one succeeds, so a claim that keeps failing does not
// take the completions down with it until their leases run out.
import { Batcher } from "./batcher.ts";
import type { AttemptRecord, ClaimOptions, CompletedJob, Job, Store } from "./store.ts";

export type CompletionCommitOptions = {
  /** How long the first completion of a batch waits for company (ms). Default 1; 0 = next tick. */
  maxWaitMs?: number;
  /** Commit as soon as this many are queued. Default 256. */
  maxBatch?: number;
  /** Clock for the `updated_at` of the batch. Default Date.now. */
  now?: () => number;
};

export type CompletionCommitStats = {
  /** completeJobs calls made (= write transactions). */
  batches: number;
  /** Completions recorded as done. */
  completed: number;
  /** Completions refused because the worker no longer held the lease. */
  leaseLost: number;
  /** Batches whose completeJobs rejected; all their callers got the error. */
  failedBatches: number;
  /** Claims that carried completions (Store.completeThenClaim), and how many. */
  claimsWithCompletions: number;
  completionsWithClaims: number;
};

export class CompletionCommitter {
  #completed = 0;
  #leaseLost = 0;
  #claimsWith = 0;
  #completionsWith = 0;
  /** The last claim that carried completions failed: claims go alone until one succeeds. */
  #claimFailed = false;
  readonly #store: Pick<Store, "completeJobs" | "claimDueJobs" | "completeThenClaim">;
  readonly #now: () => number;
  readonly #batcher: Batcher<CompletedJob, boolean>;

  constructor(store: Pick<Store, "completeJobs" | "claimDueJobs" | "completeThenClaim">, opts: CompletionCommitOptions = {}) {
    this.#store = store;
    this.#now = opts.now ?? Date.now;
    this.#batcher = new Batcher(async (batch) => this.#results(batch, await store.completeJobs(batch, this.#now())), { maxWaitMs: opts.maxWaitMs ?? 1, maxBatch: opts.maxBatch ?? 256 });
  }

  get stats(): CompletionCommitStats {
    const { batches, failedBatches } = this.#batcher.counts;
    return { batches, completed: this.#completed, leaseLost: this.#leaseLost, failedBatches, claimsWithCompletions: this.#claimsWith, completionsWithClaims: this.#completionsWith };
  }

  /**
   * Store.claimDueJobs, carrying the completions queued now in the same transaction when the store
   * has completeThenClaim. Their callers settle as if their own batch had committed them.
   */
  async claim(opts: ClaimOptions): Promise<Job[]> {
    const taken = this.#canRide ? this.#batcher.take() : undefined;
    if (!taken) {
      const jobs = await this.#store.claimDueJobs(opts);
      this.#claimFailed = false;
      return jobs;
    }
    let result: { completed: string[]; jobs: Job[] };
    try {
      result = await this.#store.completeThenClaim!(taken.items, this.#now(), opts);
    } catch (err) {
      this.#claimFailed = true;
      taken.reject(err);
      throw err;
    }
    this.#claimsWith++;
    this.#completionsWith += taken.items.length;
    taken.resolve(this.#results(taken.items, result.completed));
    return result.jobs;
  }

  /** Each item's outcome: marked done, or its lease was lost (missing from `done`). */
  #results(batch: CompletedJob[], done: string[]): boolean[] {
    // Usually every one was done, listed in the batch's order: then no Set of the ids is needed.
    if (done.length === batch.length && batch.every((item, i) => item.id === done[i])) {
      this.#completed += batch.length;
      return batch.map(() => true);
    }
    const ids = new Set(done);
    return batch.map((item) => {
      const ok = ids.has(item.id);
      if (ok) this.#completed++;
      else this.#leaseLost++;
      return ok;
    });
  }

  /**
   * Completions queued that the next claim() would carry (0 when the store cannot, or while claims
   * go alone after a failure): the worker does not count them against its cap on unrecorded
   * outcomes, since the claim records them before it takes new jobs.
   */
  get riding(): number {
    return this.#canRide ? this.#batcher.queued : 0;
  }

  /** Whether the next claim carries the queued completions: the store can, and claims are not going alone after a failure. */
  get #canRide(): boolean {
    return this.#store.completeThenClaim !== undefined && !this.#claimFailed;
  }

  /** Completions queued or being written. */
  get pending(): number {
    return this.#batcher.pending;
  }

  /**
   * Queues one completion. Resolves true once the batch holding it has committed it as done,
   * false if `worker` no longer held the job's lease; rejects with the store's error.
   */
  complete(id: string, worker: string, attempt?: AttemptRecord): Promise<boolean> {
    return this.#batcher.submit(attempt ? { id, worker, attempt } : { id, worker });
  }

  /** complete() with callbacks instead of a promise: `done` with the same answer, `failed` with the same error. */
  completeThen(id: string, worker: string, attempt: AttemptRecord, done: (ok: boolean) => void, failed: (err: unknown) => void): void {
    this.#batcher.submitTo({ id, worker, attempt }, done, failed);
  }

  /** Commits whatever is queued and waits for it (and for the batch in flight; completions a claim in flight carries settle with that claim). */
  flush(): Promise<void> {
    return this.#batcher.flush();
  }
}
