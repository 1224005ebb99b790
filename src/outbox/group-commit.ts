// Group commit in front of Store.acceptBatch: with synchronous=FULL (SQLite) or a Postgres commit,
// every transaction costs one fsync, so one transaction per webhook would cap throughput at the
// disk's fsync rate. Acceptances arriving within `maxWaitMs` of the first one (or until
// `maxBatch` are queued) are committed together; each caller still gets its own AcceptResult.
// Batching itself (one batch in flight, growing with load) is batcher.ts, shared with the worker's
// completions.
import { Batcher } from "./batcher.ts";
import type { Acceptance, AcceptResult, Store } from "./store.ts";

export type GroupCommitOptions = {
  /** How long the first acceptance of a batch waits for company (ms). Default 2; 0 = next tick. */
  maxWaitMs?: number;
  /**
   * With nothing committing, a batch goes right after the current turn instead of waiting
   * maxWaitMs (Batcher's `goWhenIdle`; default false): an idle store has room, and Kratos is
   * waiting for the answer. maxWaitMs then applies only beside a batch still committing.
   */
  goWhenIdle?: boolean;
  /** Commit as soon as this many are queued. Default 64. */
  maxBatch?: number;
  /** Batches committing at once. Default 1; 2 lets the next batch fill while one commits on a store thread. */
  maxInFlight?: number;
};

export type GroupCommitStats = {
  /** acceptBatch calls made (= transactions). */
  batches: number;
  /** Acceptances committed. */
  accepted: number;
  /** Batches whose acceptBatch rejected; all their callers got the error. */
  failedBatches: number;
};

export class GroupCommitter {
  #accepted = 0;
  readonly #batcher: Batcher<Acceptance, AcceptResult>;
  #closed = false;

  constructor(store: Pick<Store, "acceptBatch">, opts: GroupCommitOptions = {}) {
    this.#batcher = new Batcher(
      async (batch) => {
        const results = await store.acceptBatch(batch);
        if (results.length === batch.length) this.#accepted += batch.length;
        return results;
      },
      { maxWaitMs: opts.maxWaitMs ?? 2, maxBatch: opts.maxBatch ?? 64, maxInFlight: opts.maxInFlight ?? 1, goWhenIdle: opts.goWhenIdle ?? false },
    );
  }

  get stats(): GroupCommitStats {
    return { batches: this.#batcher.counts.batches, accepted: this.#accepted, failedBatches: this.#batcher.counts.failedBatches };
  }

  /** Queues one acceptance; resolves once the transaction holding it has committed. */
  accept(acceptance: Acceptance): Promise<AcceptResult> {
    if (this.#closed) return Promise.reject(new Error("GroupCommitter is closed"));
    return this.#batcher.submit(acceptance);
  }

  /** Commits whatever is queued (and waits for the batch in flight). For shutdown. */
  flush(): Promise<void> {
    return this.#batcher.flush();
  }

  /** Refuses new acceptances and commits the queued ones. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }
}
