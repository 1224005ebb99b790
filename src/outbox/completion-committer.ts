// Group commit for the worker's completions, the way group-commit.ts does it for acceptances:
// marking a delivered job done is a write transaction, one fsync (SQLite synchronous=FULL) or one
// WAL flush and round trip (Postgres) each, and one per delivery capped the worker's drain rate at
// the commit rate. Completions arriving within `maxWaitMs` of the first one (or until `maxBatch`
// are queued) go to Store.completeJobs together; each caller learns whether its own lease was
// still held. One batch is in flight at a time: completions arriving meanwhile form the next
// batch, which goes as soon as the current one finishes, so batches grow with load.
//
// A batch that fails rejects every caller in it, and nothing of it is recorded (completeJobs is
// one transaction). The committer does not retry by itself: the worker retries each completion
// until its lease would run out (Worker#settle), and those retries batch again here.
import type { CompletedJob, Store } from "./store.ts";

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

type Waiter = { item: CompletedJob; resolve(done: boolean): void; reject(e: unknown): void };

export class CompletionCommitter {
  readonly stats: CompletionCommitStats = { batches: 0, completed: 0, leaseLost: 0, failedBatches: 0 };
  readonly #store: Pick<Store, "completeJobs">;
  readonly #maxWaitMs: number;
  readonly #maxBatch: number;
  readonly #now: () => number;
  #queue: Waiter[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight: Promise<void> | undefined;

  constructor(store: Pick<Store, "completeJobs">, opts: CompletionCommitOptions = {}) {
    this.#store = store;
    this.#maxWaitMs = Math.max(0, opts.maxWaitMs ?? 1);
    this.#maxBatch = Math.max(1, Math.trunc(opts.maxBatch ?? 256));
    this.#now = opts.now ?? Date.now;
  }

  /** Completions queued or being written. */
  get pending(): number {
    return this.#queue.length + (this.#inFlight ? 1 : 0);
  }

  /**
   * Queues one completion. Resolves true once the batch holding it has committed it as done,
   * false if `worker` no longer held the job's lease; rejects with the store's error.
   */
  complete(id: string, worker: string): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.#queue.push({ item: { id, worker }, resolve, reject });
      if (this.#inFlight) return; // the batch after the one in flight picks it up
      if (this.#queue.length >= this.#maxBatch) this.#commitNow();
      else this.#timer ??= setTimeout(() => this.#commitNow(), this.#maxWaitMs);
    });
  }

  /** Commits whatever is queued and waits for it (and for the batch in flight). */
  async flush(): Promise<void> {
    while (this.#inFlight || this.#queue.length) {
      if (!this.#inFlight) this.#commitNow();
      await this.#inFlight;
    }
  }

  #commitNow(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#queue.splice(0, this.#maxBatch);
    if (!batch.length) return;
    this.#inFlight = this.#commit(batch).finally(() => {
      this.#inFlight = undefined;
      // Whatever queued up meanwhile has already waited at least one commit: go now.
      if (this.#queue.length) this.#commitNow();
    });
  }

  async #commit(batch: Waiter[]): Promise<void> {
    this.stats.batches++;
    let done: Set<string>;
    try {
      done = new Set(await this.#store.completeJobs(batch.map((w) => w.item), this.#now()));
    } catch (err) {
      this.stats.failedBatches++;
      for (const w of batch) w.reject(err);
      return;
    }
    for (const w of batch) {
      const ok = done.has(w.item.id);
      if (ok) this.stats.completed++;
      else this.stats.leaseLost++;
      w.resolve(ok);
    }
  }
}
