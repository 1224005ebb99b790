// serve.retention: done and dead jobs (their payload, the accepted webhook with its traits, and
// their attempt history) are deleted once they finished longer ago than configured. It runs in
// the background of `serve`, in small batches (Store.expireJobs: one short transaction each) with
// a pause between them, so acknowledgements and completions queued on the same connection (the
// SQLite store thread) or competing for the same rows (Postgres) wait for at most one batch.
import type { Store } from "./store.ts";

export type RetentionOptions = {
  /** Keep done jobs this long after they finished; null = forever. */
  doneMs: number | null;
  /** Keep dead jobs this long after they died; null = forever. */
  deadMs: number | null;
  /** Jobs deleted per transaction. Default 200. */
  batchSize?: number;
  /** Pause between batches, ms. Default 20. */
  pauseMs?: number;
  /** How often a sweep starts, ms. Default 60 000. */
  everyMs?: number;
  now?: () => number;
  /** Told what a sweep deleted (when it deleted something) or why it failed. */
  onSweep?: (result: { done: number; dead: number; ms: number }) => void;
  onError?: (err: unknown) => void;
};

export class RetentionSweeper {
  readonly #store: Pick<Store, "expireJobs">;
  readonly #o: Required<Omit<RetentionOptions, "onSweep" | "onError">> & Pick<RetentionOptions, "onSweep" | "onError">;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(store: Pick<Store, "expireJobs">, opts: RetentionOptions) {
    this.#store = store;
    this.#o = { batchSize: 200, pauseMs: 20, everyMs: 60_000, now: Date.now, ...opts };
  }

  /** Sweeps now, then every `everyMs`. */
  start(): void {
    const tick = () => {
      this.#running = this.sweep()
        .then(() => {}, (err: unknown) => this.#o.onError?.(err))
        .finally(() => {
          this.#running = undefined;
          if (!this.#stopped) {
            this.#timer = setTimeout(tick, this.#o.everyMs);
            this.#timer.unref?.();
          }
        });
    };
    tick();
  }

  /** Stops after the batch in flight (never mid-transaction); resolves when it is done. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => {});
  }

  /** One sweep: every expired done job, then every expired dead job, batch by batch. */
  async sweep(): Promise<{ done: number; dead: number }> {
    const started = this.#o.now();
    const done = await this.#expire("done", this.#o.doneMs);
    const dead = await this.#expire("dead", this.#o.deadMs);
    if (done + dead > 0) this.#o.onSweep?.({ done, dead, ms: this.#o.now() - started });
    return { done, dead };
  }

  async #expire(state: "done" | "dead", keepMs: number | null): Promise<number> {
    if (keepMs === null) return 0;
    // One cutoff for the whole sweep: jobs finishing meanwhile wait for the next one.
    const before = this.#o.now() - keepMs;
    let total = 0;
    while (!this.#stopped) {
      const n = await this.#store.expireJobs(state, before, this.#o.batchSize);
      total += n;
      if (n < this.#o.batchSize) break;
      await Bun.sleep(this.#o.pauseMs);
    }
    return total;
  }
}
