// The destination of the http actions in the resilience tests: an HTTP server on 127.0.0.1 that
// records every delivery (start, end, Idempotency-Key, which serve instance sent it) and applies
// its effect once per Idempotency-Key, as a receiver that honours the key would. Deliveries may
// repeat (at least once); effects may not. With `failRate` some deliveries get a 503 (no effect),
// so jobs go through retries and may be picked up by another instance.
export type SinkDelivery = {
  key: string;
  path: string;
  /** X-Instance header: the serve process that delivered it. */
  instance: string;
  /** The trigger's identity, from the action body. */
  identity: string;
  start: number;
  end: number;
  /** False when the sink answered 503 on purpose (no effect applied; the worker retries). */
  ok: boolean;
};

export type Sink = ReturnType<typeof startRecordingSink>;

export function startRecordingSink(opts: { minDelayMs?: number; maxDelayMs?: number; failRate?: number } = {}) {
  const deliveries: SinkDelivery[] = [];
  /** Deliveries being answered right now, by instance. */
  const inFlight = new Map<string, number>();
  /** Idempotency-Key → the effect, applied once. */
  const effects = new Map<string, { path: string; identity: string }>();
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const start = performance.now();
      const key = req.headers.get("idempotency-key") ?? "";
      const instance = req.headers.get("x-instance") ?? "";
      inFlight.set(instance, (inFlight.get(instance) ?? 0) + 1);
      const body = (await req.json().catch(() => ({}))) as { identity?: string };
      const min = opts.minDelayMs ?? 0;
      if (opts.maxDelayMs) await Bun.sleep(min + Math.floor(Math.random() * (opts.maxDelayMs - min)));
      inFlight.set(instance, inFlight.get(instance)! - 1);
      const path = new URL(req.url).pathname;
      const identity = String(body.identity ?? "");
      const ok = Math.random() >= (opts.failRate ?? 0);
      if (ok && !effects.has(key)) effects.set(key, { path, identity });
      deliveries.push({ key, path, instance, identity, start, end: performance.now(), ok });
      return new Response(null, { status: ok ? 204 : 503 });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    deliveries,
    effects,
    inFlight,
    /** Successful deliveries beyond the first of each Idempotency-Key. */
    duplicateDeliveries: () => deliveries.filter((d) => d.ok).length - effects.size,
    /** Distinct job ids (Idempotency-Keys) per `identity path`. */
    keysByTarget(): Map<string, Set<string>> {
      const m = new Map<string, Set<string>>();
      for (const [key, e] of effects) {
        const t = `${e.identity} ${e.path}`;
        let s = m.get(t);
        if (!s) m.set(t, (s = new Set()));
        s.add(key);
      }
      return m;
    },
    /** Pairs of deliveries of one job whose [start, end] intervals overlap. */
    overlaps(): Array<[SinkDelivery, SinkDelivery]> {
      const byKey = new Map<string, SinkDelivery[]>();
      for (const d of deliveries) byKey.set(d.key, [...(byKey.get(d.key) ?? []), d]);
      const out: Array<[SinkDelivery, SinkDelivery]> = [];
      for (const list of byKey.values()) {
        list.sort((a, b) => a.start - b.start);
        let longest = list[0]!;
        for (const d of list.slice(1)) {
          if (d.start < longest.end) out.push([longest, d]);
          if (d.end > longest.end) longest = d;
        }
      }
      return out;
    },
    stop: () => server.stop(true),
  };
}
