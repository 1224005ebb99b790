// The batching both committers share: items arriving within `maxWaitMs` of the first one (or until
// `maxBatch` are queued) go to one `commit` call, and each caller gets its own result. At most
// `maxInFlight` batches are in flight (default 1): items arriving meanwhile form the next batch,
// which goes as soon as one finishes, so batches grow with load and the wait only applies when the
// store is idle. More than one in flight pays when the commit runs elsewhere (a store thread, a
// database server): the next batch is filled while the previous one commits. A failing commit
// rejects every caller of its batch.

export type BatcherOptions = {
  /** How long the first item of a batch waits for company (ms); 0 = next tick. */
  maxWaitMs: number;
  /** Commit as soon as this many are queued. */
  maxBatch: number;
  /** Batches committing at once (default 1). The commit function must accept overlapping calls. */
  maxInFlight?: number;
  /**
   * With nothing committing, a partial batch goes right after the current turn of the event loop
   * instead of waiting maxWaitMs (default false): an idle store has room, so the wait would only
   * add latency. maxWaitMs then applies only beside a batch that is still committing.
   */
  goWhenIdle?: boolean;
};

type Waiter<In, Out> = { item: In; resolve(r: Out): void; reject(e: unknown): void };

export class Batcher<In, Out> {
  /** commit calls made, and those that rejected. */
  readonly counts = { batches: 0, failedBatches: 0 };
  readonly #commit: (items: In[]) => Promise<Out[]>;
  readonly #maxWaitMs: number;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  readonly #goWhenIdle: boolean;
  #queue: Waiter<In, Out>[] = [];
  #timer: { cancel(): void } | undefined;
  readonly #inFlight = new Set<Promise<void>>();

  /** `commit` must return one result per item, in order. */
  constructor(commit: (items: In[]) => Promise<Out[]>, opts: BatcherOptions) {
    this.#commit = commit;
    this.#maxWaitMs = Math.max(0, opts.maxWaitMs);
    this.#maxBatch = Math.max(1, Math.trunc(opts.maxBatch));
    this.#maxInFlight = Math.max(1, Math.trunc(opts.maxInFlight ?? 1));
    this.#goWhenIdle = opts.goWhenIdle ?? false;
  }

  /** Items queued, plus one per batch being committed. */
  get pending(): number {
    return this.#queue.length + this.#inFlight.size;
  }

  /** Items queued, not yet in a batch being committed. */
  get queued(): number {
    return this.#queue.length;
  }

  submit(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => this.submitTo(item, resolve, reject));
  }

  /** submit() with the caller's own callbacks instead of a promise (the worker's completions: one per delivery). */
  submitTo(item: In, resolve: (r: Out) => void, reject: (e: unknown) => void): void {
    this.#queue.push({ item, resolve, reject });
    this.#schedule(false);
  }

  /**
   * Takes the queued items (up to maxBatch) out of the queue for the caller to commit some other
   * way (completion-committer.ts sends them with a claim): the caller must settle them, with one
   * result per item in order, or an error. Undefined when nothing is queued.
   */
  take(): { items: In[]; resolve(results: Out[]): void; reject(err: unknown): void } | undefined {
    if (!this.#queue.length) return undefined;
    const batch = this.#queue.splice(0, this.#maxBatch);
    if (!this.#queue.length) {
      this.#timer?.cancel();
      this.#timer = undefined;
    }
    return {
      items: batch.map((w) => w.item),
      resolve: (results) => batch.forEach((w, i) => w.resolve(results[i]!)),
      reject: (err) => batch.forEach((w) => w.reject(err)),
    };
  }

  /** Commits whatever is queued and waits for it (and for the batches in flight). */
  async flush(): Promise<void> {
    while (this.#inFlight.size || this.#queue.length) {
      if (this.#inFlight.size < this.#maxInFlight) this.#commitNow();
      await Promise.race(this.#inFlight);
    }
  }

  #commitNow(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#inFlight.size >= this.#maxInFlight) return;
    const batch = this.#queue.splice(0, this.#maxBatch);
    if (!batch.length) return;
    const running: Promise<void> = this.#run(batch).finally(() => {
      this.#inFlight.delete(running);
      // With the store now idle, whatever queued up meanwhile has waited long enough: it goes now.
      this.#schedule(this.#inFlight.size === 0);
    });
    this.#inFlight.add(running);
    this.#schedule(false); // room for another batch?
  }

  /**
   * What the queue does next: nothing while `maxInFlight` batches commit (a batch finishing calls
   * this again); a full batch goes now, and so does a partial one when `idle` (nothing committing);
   * otherwise a partial batch waits for company, so that it does not go out small beside another
   * commit (each commit has a fixed cost), or, with `goWhenIdle` and nothing committing, only until
   * the end of this turn.
   */
  #schedule(idle: boolean): void {
    if (!this.#queue.length || this.#inFlight.size >= this.#maxInFlight) return;
    if (idle || this.#queue.length >= this.#maxBatch) this.#commitNow();
    else this.#timer ??= this.#wait(this.#goWhenIdle && this.#inFlight.size === 0 ? 0 : this.#maxWaitMs);
  }

  /** Schedules the commit of a partial batch: after `ms`, or right after this turn of the event loop for 0 (a 0 ms timer can wait a whole millisecond). */
  #wait(ms: number): { cancel(): void } {
    if (ms === 0) {
      const handle = setImmediate(() => this.#commitNow());
      return { cancel: () => clearImmediate(handle) };
    }
    const handle = setTimeout(() => this.#commitNow(), ms);
    return { cancel: () => clearTimeout(handle) };
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
