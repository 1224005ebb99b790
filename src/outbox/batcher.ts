// The batching both committers share: items arriving within `maxWaitMs` of the first one (or until
// `maxBatch` are queued) go to one `commit` call, and each caller gets its own result. One batch is
// in flight at a time: items arriving meanwhile form the next batch, which goes as soon as the
// current one finishes, so batches grow with load and the wait only applies when the store is idle.
// A failing commit rejects every caller of its batch.

export type BatcherOptions = {
  /** How long the first item of a batch waits for company (ms); 0 = next tick. */
  maxWaitMs: number;
  /** Commit as soon as this many are queued. */
  maxBatch: number;
};

type Waiter<In, Out> = { item: In; resolve(r: Out): void; reject(e: unknown): void };

export class Batcher<In, Out> {
  /** commit calls made, and those that rejected. */
  readonly counts = { batches: 0, failedBatches: 0 };
  readonly #commit: (items: In[]) => Promise<Out[]>;
  readonly #maxWaitMs: number;
  readonly #maxBatch: number;
  #queue: Waiter<In, Out>[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight: Promise<void> | undefined;

  /** `commit` must return one result per item, in order. */
  constructor(commit: (items: In[]) => Promise<Out[]>, opts: BatcherOptions) {
    this.#commit = commit;
    this.#maxWaitMs = Math.max(0, opts.maxWaitMs);
    this.#maxBatch = Math.max(1, Math.trunc(opts.maxBatch));
  }

  /** Items queued, plus one while a batch is being committed. */
  get pending(): number {
    return this.#queue.length + (this.#inFlight ? 1 : 0);
  }

  submit(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
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
    this.#inFlight = this.#run(batch).finally(() => {
      this.#inFlight = undefined;
      // Whatever queued up meanwhile has already waited at least one commit: go now.
      if (this.#queue.length) this.#commitNow();
    });
  }

  async #run(batch: Waiter<In, Out>[]): Promise<void> {
    this.counts.batches++;
    let results: Out[];
    try {
      results = await this.#commit(batch.map((w) => w.item));
      if (results.length !== batch.length) throw new Error(`commit returned ${results.length} results for ${batch.length} items`);
    } catch (err) {
      this.counts.failedBatches++;
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => w.resolve(results[i]!));
  }
}
