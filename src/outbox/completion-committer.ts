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
import { Batcher } from "./batcher.ts";
import type { AttemptRecord, CompletedJob, Store } from "./store.ts";

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
};

export class CompletionCommitter {
  #completed = 0;
  #leaseLost = 0;
  readonly #batcher: Batcher<CompletedJob, boolean>;

  constructor(store: Pick<Store, "completeJobs">, opts: CompletionCommitOptions = {}) {
    const now = opts.now ?? Date.now;
    this.#batcher = new Batcher(
      async (batch) => {
        const done = new Set(await store.completeJobs(batch, now()));
        return batch.map((item) => {
          const ok = done.has(item.id);
          if (ok) this.#completed++;
          else this.#leaseLost++;
          return ok;
        });
      },
      { maxWaitMs: opts.maxWaitMs ?? 1, maxBatch: opts.maxBatch ?? 256 },
    );
  }

  get stats(): CompletionCommitStats {
    const { batches, failedBatches } = this.#batcher.counts;
    return { batches, completed: this.#completed, leaseLost: this.#leaseLost, failedBatches };
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

  /** Commits whatever is queued and waits for it (and for the batch in flight). */
  flush(): Promise<void> {
    return this.#batcher.flush();
  }
}
