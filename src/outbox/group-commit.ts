// Group commit in front of Store.acceptBatch: with synchronous=FULL (SQLite) or a Postgres commit,
// every transaction costs one fsync, so one transaction per webhook would cap throughput at the
// disk's fsync rate. Acceptances arriving within `maxWaitMs` of the first one (or until
// `maxBatch` are queued) are committed together; each caller still gets its own AcceptResult.
// One batch is in flight at a time: acceptances arriving meanwhile form the next batch, so
// batches grow with load and the wait only applies when the store is idle.
import type { Acceptance, AcceptResult, Store } from "./store.ts";

export type GroupCommitOptions = {
  /** How long the first acceptance of a batch waits for company (ms). Default 2; 0 = next tick. */
  maxWaitMs?: number;
  /** Commit as soon as this many are queued. Default 64. */
  maxBatch?: number;
};

export type GroupCommitStats = {
  /** acceptBatch calls made (= transactions). */
  batches: number;
  /** Acceptances committed. */
  accepted: number;
  /** Batches whose acceptBatch rejected; all their callers got the error. */
  failedBatches: number;
};

type Waiter = { acceptance: Acceptance; resolve(r: AcceptResult): void; reject(e: unknown): void };

export class GroupCommitter {
  readonly stats: GroupCommitStats = { batches: 0, accepted: 0, failedBatches: 0 };
  readonly #store: Pick<Store, "acceptBatch">;
  readonly #maxWaitMs: number;
  readonly #maxBatch: number;
  #queue: Waiter[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight: Promise<void> | undefined;
  #closed = false;

  constructor(store: Pick<Store, "acceptBatch">, opts: GroupCommitOptions = {}) {
    this.#store = store;
    this.#maxWaitMs = Math.max(0, opts.maxWaitMs ?? 2);
    this.#maxBatch = Math.max(1, Math.trunc(opts.maxBatch ?? 64));
  }

  /** Queues one acceptance; resolves once the transaction holding it has committed. */
  accept(acceptance: Acceptance): Promise<AcceptResult> {
    if (this.#closed) return Promise.reject(new Error("GroupCommitter is closed"));
    return new Promise<AcceptResult>((resolve, reject) => {
      this.#queue.push({ acceptance, resolve, reject });
      if (this.#inFlight) return; // the batch after the one in flight picks it up
      if (this.#queue.length >= this.#maxBatch) this.#commitNow();
      else this.#timer ??= setTimeout(() => this.#commitNow(), this.#maxWaitMs);
    });
  }

  /** Commits whatever is queued (and waits for the batch in flight). For shutdown. */
  async flush(): Promise<void> {
    while (this.#inFlight || this.#queue.length) {
      if (!this.#inFlight) this.#commitNow();
      await this.#inFlight;
    }
  }

  /** Refuses new acceptances and commits the queued ones. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
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
    try {
      const results = await this.#store.acceptBatch(batch.map((w) => w.acceptance));
      if (results.length !== batch.length) throw new Error(`acceptBatch returned ${results.length} results for ${batch.length} acceptances`);
      this.stats.accepted += batch.length;
      batch.forEach((w, i) => w.resolve(results[i]!));
    } catch (err) {
      this.stats.failedBatches++;
      for (const w of batch) w.reject(err);
    }
  }
}
