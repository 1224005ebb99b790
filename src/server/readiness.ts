// What /health/ready answers. A ping (SELECT 1) only shows that the store reads: with the disk
// full or the file system read-only, SQLite still answers it while every commit fails, and a
// receiver that cannot commit must leave the load balancer. So readiness also follows the commits
// of acks: after `unreadyAfter` failures in a row it is 503, and the next commit that succeeds
// makes it 200 again. Taken out of rotation, no webhook arrives to succeed, so while unready
// readiness commits a probe of its own (at most one per `probeEveryMs`).
//
// Every store call here is single-flight: many probes (or a kubelet with a short timeout) join the
// ping already on its way instead of queueing more behind a busy store; one that times out still
// finishes on its own, and the next check after it sends a new one.
import { waitAtMost } from "./store-snapshot.ts";

export type ReadinessOptions = {
  /** A store call with no answer after this long is "store_unavailable". Default 2 s. */
  timeoutMs?: number;
  /** Consecutive failed commits that make the receiver unready. Default 3. */
  unreadyAfter?: number;
  /** How often, at most, an unready receiver commits a probe. Default 2 s. */
  probeEveryMs?: number;
  now?: () => number;
};

export type ReadyState = { ready: true } | { ready: false; status: "store_unavailable" | "commits_failing"; error?: string };

export class Readiness {
  readonly #ping: () => Promise<void>;
  readonly #probeCommit: () => Promise<unknown>;
  readonly #timeoutMs: number;
  readonly #unreadyAfter: number;
  readonly #probeEveryMs: number;
  readonly #now: () => number;
  #failures = 0;
  #lastError: string | undefined;
  #lastFailure: unknown;
  #pinging: Promise<void> | undefined;
  #probing: Promise<unknown> | undefined;
  #probedAt = -Infinity;

  /** `probeCommit` commits a write the way acks do (app.ts: an expired dedupe record, no jobs). */
  constructor(ping: () => Promise<void>, probeCommit: () => Promise<unknown>, opts: ReadinessOptions = {}) {
    this.#ping = ping;
    this.#probeCommit = probeCommit;
    this.#timeoutMs = opts.timeoutMs ?? 2000;
    this.#unreadyAfter = opts.unreadyAfter ?? 3;
    this.#probeEveryMs = opts.probeEveryMs ?? 2000;
    this.#now = opts.now ?? Date.now;
  }

  commitSucceeded(): void {
    this.#failures = 0;
  }
  /** A failed commit. The callers of one group commit all get its error: that counts once. */
  commitFailed(err: unknown): void {
    if (err === this.#lastFailure) return;
    this.#lastFailure = err;
    this.#failures++;
    this.#lastError = (err as Error)?.message ?? String(err);
  }
  /** Consecutive failed commits, a group commit counting once (0 when the last one succeeded). */
  get commitFailures(): number {
    return this.#failures;
  }

  async check(): Promise<ReadyState> {
    if (this.#failures >= this.#unreadyAfter) {
      this.#probe();
      if (this.#probing) await waitAtMost(this.#probing, this.#timeoutMs);
      if (this.#failures >= this.#unreadyAfter) return { ready: false, status: "commits_failing", error: this.#lastError };
    }
    const ping = (this.#pinging ??= this.#ping().finally(() => (this.#pinging = undefined)));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([ping, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer after ${this.#timeoutMs} ms`)), this.#timeoutMs)))]);
      return { ready: true };
    } catch (err) {
      return { ready: false, status: "store_unavailable", error: (err as Error)?.message ?? String(err) };
    } finally {
      clearTimeout(timer);
    }
  }

  #probe(): void {
    const now = this.#now();
    if (this.#probing || now - this.#probedAt < this.#probeEveryMs) return;
    this.#probedAt = now;
    this.#probing = this.#probeCommit()
      .then(
        () => this.commitSucceeded(),
        (err: unknown) => this.commitFailed(err),
      )
      .finally(() => (this.#probing = undefined));
  }
}
