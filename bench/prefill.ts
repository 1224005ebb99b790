// The outbox the delivery benches drain: `n` jobs of one action, each holding the webhook as
// serve's receiver stores it (acceptedWebhook; the action renders it at delivery), accepted in
// chunks of 500 before the clock starts. A bench that compares checkouts passes the acceptedWebhook
// of the checkout it measures.
import { acceptedWebhook as thisCheckout } from "../src/actions/index.ts";
import type { Acceptance } from "../src/outbox/store.ts";

type AcceptedWebhook = (body: unknown, hook: string, triggerId: string | null, requestId: string | null, receivedAt: string) => unknown;
const CHUNK = 500;

export async function fillOutbox(
  store: { acceptBatch(batch: Acceptance[]): Promise<unknown> },
  action: string,
  n: number,
  opts: { acceptedWebhook?: AcceptedWebhook; now?: number; expiresInMs?: number } = {},
): Promise<void> {
  const accepted = opts.acceptedWebhook ?? thisCheckout;
  const now = opts.now ?? Date.now();
  const expiresAt = now + (opts.expiresInMs ?? 3_600_000);
  for (let i = 0; i < n; i += CHUNK) {
    await store.acceptBatch(
      Array.from({ length: Math.min(CHUNK, n - i) }, (_, k) => {
        const id = Bun.randomUUIDv7();
        const body = { id: `u${i + k}`, email: `u${i + k}@example.com`, n: i + k };
        const job = { id, hook: "bench", action, payload: accepted(body, "bench", id, id, new Date(now).toISOString()), maxAttempts: 5, runAt: now };
        return { hook: "bench", key: id, response: { status: 204, body: null }, expiresAt, now, jobs: [job] };
      }),
    );
  }
}
