// The job gauges of /metrics come from a snapshot of the store, not from a query per scrape.
// Counting jobs by state reads an index of every job (about 12 ms with a million done jobs on
// SQLite); run once per scrape on the store's one connection, 32 scrapers pushed the median ack
// to 745 ms and timed-out calls kept the queue full for ~50 s. Here a refresh starts only when the
// snapshot is older than `maxAgeMs`, and only one is in flight at a time: a scrape waits for it at
// most `waitMs`, then answers with the last snapshot and its age. A refresh that never settles
// keeps the gauges old (and kratos_hooks_store_up 0 once it has run `maxAgeMs`) but never adds a
// second call. `serve` gives it a reader of its own (open-store.ts `openStatsReader`), so a
// refresh never waits behind the commits of acks either.
import type { Stats, Store } from "../outbox/store.ts";

export type SnapshotOptions = {
  /** A snapshot younger than this is served as is. Default 5 s. */
  maxAgeMs?: number;
  /** How long a scrape waits for a refresh it found in flight. Default 1 s. */
  waitMs?: number;
  now?: () => number;
};

export type SnapshotRead = {
  /** The last stats read, if any ever was. */
  stats: Stats | undefined;
  /** ms since `stats` was read (undefined if never). */
  ageMs: number | undefined;
  /** False when the last refresh failed, or one has been in flight for longer than maxAgeMs. */
  ok: boolean;
  /** Why the last refresh failed, once per failure (for the log). */
  error?: string;
};

export class StoreSnapshot {
  readonly #store: Pick<Store, "stats">;
  readonly #maxAgeMs: number;
  readonly #waitMs: number;
  readonly #now: () => number;
  #stats: Stats | undefined;
  #takenAt: number | undefined;
  #failed = false;
  #unreportedError: string | undefined;
  #inflight: Promise<void> | undefined;
  #startedAt = 0;
  /** Refreshes started (tests: the count stays small whatever the scrape rate). */
  refreshes = 0;

  constructor(store: Pick<Store, "stats">, opts: SnapshotOptions = {}) {
    this.#store = store;
    this.#maxAgeMs = opts.maxAgeMs ?? 5000;
    this.#waitMs = opts.waitMs ?? 1000;
    this.#now = opts.now ?? Date.now;
  }

  async read(): Promise<SnapshotRead> {
    const now = this.#now();
    if (!this.#inflight && (this.refreshes === 0 || now - this.#startedAt >= this.#maxAgeMs)) this.#refresh(now);
    if (this.#inflight) await waitAtMost(this.#inflight, this.#waitMs);
    const at = this.#now();
    const slow = this.#inflight !== undefined && at - this.#startedAt >= this.#maxAgeMs;
    const error = this.#unreportedError;
    this.#unreportedError = undefined;
    return { stats: this.#stats, ageMs: this.#takenAt === undefined ? undefined : at - this.#takenAt, ok: !this.#failed && !slow && this.#stats !== undefined, ...(error ? { error } : {}) };
  }

  #refresh(now: number): void {
    this.#startedAt = now;
    this.refreshes++;
    this.#inflight = this.#store
      .stats(now)
      .then(
        (stats) => {
          this.#stats = stats;
          this.#takenAt = now;
          this.#failed = false;
        },
        (err: unknown) => {
          this.#failed = true;
          this.#unreportedError = (err as Error)?.message ?? String(err);
        },
      )
      .finally(() => {
        this.#inflight = undefined;
      });
  }
}

/** Resolves when `p` settles or after `ms`, whichever is first; never rejects. */
export function waitAtMost(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.then(
      () => {},
      () => {},
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
