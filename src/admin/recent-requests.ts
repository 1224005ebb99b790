// The admin page's Webhooks view: the last requests each hook answered, kept in memory by this
// process (a ring per hook), never in the store, so recording one costs the ack path an array
// write. Only ids, status and outcome are kept: never a body, header value or secret. After a
// restart, or on another instance, the outbox (jobs by trigger id or identity) still has them.

export type RequestOutcome = "accepted" | "enriched" | "denied" | "skipped" | "error";

export type RecentRequest = {
  at: number;
  hook: string;
  status: number;
  outcome: RequestOutcome;
  /** A repeat answered from the dedupe record. */
  duplicate: boolean;
  triggerId: string | null;
  requestId: string | null;
  identityId: string | null;
  traceId: string | null;
  /** The receiver's error code (unauthorized, invalid_body, ...) when it refused the request. */
  error: string | null;
  /** Jobs the request enqueued. */
  jobIds: string[];
};

export class RecentRequests {
  readonly #perHook = new Map<string, RecentRequest[]>();
  readonly #next = new Map<string, number>();

  /** Keeps the last `perHook` requests of each hook. */
  constructor(readonly perHook = 200) {}

  record(r: RecentRequest): void {
    let ring = this.#perHook.get(r.hook);
    if (!ring) this.#perHook.set(r.hook, (ring = []));
    if (ring.length < this.perHook) {
      ring.push(r);
      return;
    }
    const i = this.#next.get(r.hook) ?? 0;
    ring[i] = r;
    this.#next.set(r.hook, (i + 1) % this.perHook);
  }

  /**
   * Newest first, optionally of one hook and matching `q`: a trigger id, identity id, request id or
   * job id (exact), or an outcome (accepted, denied, duplicate, error, ...).
   */
  list(opts: { hook?: string; q?: string; limit?: number } = {}): RecentRequest[] {
    const q = opts.q?.trim();
    const rings = opts.hook !== undefined ? [this.#perHook.get(opts.hook) ?? []] : [...this.#perHook.values()];
    const all = rings.flat().filter((r) => !q || matches(r, q));
    all.sort((a, b) => b.at - a.at);
    return all.slice(0, opts.limit ?? 100);
  }
}

function matches(r: RecentRequest, q: string): boolean {
  if (q === r.triggerId || q === r.identityId || q === r.requestId || q === r.traceId || r.jobIds.includes(q)) return true;
  return q === r.outcome || (q === "duplicate" && r.duplicate);
}
