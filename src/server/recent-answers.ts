// The answers this process committed lately, by dedupe key, so a Kratos retry (same Trigger-Id,
// same body, up to 3 attempts within seconds: CONTRACT §4.2) is answered before rules and enrich
// steps run again. The store's dedupe record stays the authority: a retry that reaches another
// instance, or one older than this memo holds, still gets the first answer from the commit
// (acceptBatch), after its rules ran. Bounded: the oldest entries go first.
import type { StoredResponse } from "../outbox/store.ts";

export class RecentAnswers {
  readonly #entries = new Map<string, { response: StoredResponse; expiresAt: number }>();
  constructor(readonly capacity = 4096) {}

  /** The committed answer for `key`, unless its dedupe window has passed. */
  get(key: string, now: number): StoredResponse | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt > now) return e.response;
    this.#entries.delete(key);
    return undefined;
  }

  /** Records an answer the store committed as the first for `key` (expiresAt: its dedupe record's). */
  set(key: string, response: StoredResponse, expiresAt: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { response, expiresAt });
    if (this.#entries.size > this.capacity) this.#entries.delete(this.#entries.keys().next().value!);
  }
}
