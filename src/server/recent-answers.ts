// The answers this process committed lately, by dedupe key, so a Kratos retry (same Trigger-Id,
// same body, up to 3 attempts within seconds: CONTRACT §4.2) is answered before rules and enrich
// steps run again. The store's dedupe record stays the authority: a retry that reaches another
// instance, or one older than this memo holds, still gets the first answer from the commit
// (acceptBatch), after its rules ran. Bounded: the oldest entries go first.
import type { StoredResponse } from "../outbox/store.ts";

type Entry = { response: StoredResponse; expiresAt: number };

/**
 * Two generations of at most capacity/2 entries each: new entries go into the current one; when
 * it is full it becomes the previous one and the old previous is dropped whole. Evicting the
 * oldest single entry of one Map instead (`keys().next()` after a delete at the front) cost ~10 %
 * of the event loop under load (bench/results/ack.md): JavaScriptCore walks over the deleted
 * slots at the front of the Map on every call.
 */
export class RecentAnswers {
  #current = new Map<string, Entry>();
  #previous = new Map<string, Entry>();
  readonly #generation: number;
  constructor(readonly capacity = 4096) {
    this.#generation = Math.max(1, Math.floor(capacity / 2));
  }

  /** The committed answer for `key`, unless its dedupe window has passed. */
  get(key: string, now: number): StoredResponse | undefined {
    const e = this.#current.get(key) ?? this.#previous.get(key);
    if (!e) return undefined;
    if (e.expiresAt > now) return e.response;
    this.#current.delete(key);
    this.#previous.delete(key);
    return undefined;
  }

  /** Records an answer the store committed as the first for `key` (expiresAt: its dedupe record's). */
  set(key: string, response: StoredResponse, expiresAt: number): void {
    this.#previous.delete(key);
    this.#current.set(key, { response, expiresAt });
    if (this.#current.size >= this.#generation) {
      this.#previous = this.#current;
      this.#current = new Map();
    }
  }

  /** How many answers it holds (at most `capacity`). */
  get size(): number {
    return this.#current.size + this.#previous.size;
  }
}
