// The one notify hook every ack-bench receiver serves (bench/ack.ts runs it through `serve`,
// bench/ack-server.ts without a store), so both measure the same pipeline.
// `actionUrl`: where its one action delivers (bench/soak.ts points it at a sink; the ack bench runs
// without a worker, so nothing is delivered there).
export const hooksYaml = (store: string, synchronous: "full" | "normal", actionUrl = "http://127.0.0.1:1/contacts") => `
kratos: { version: v26.2.0 }
receiver: { url: http://127.0.0.1:4459 }
serve: { listen: "127.0.0.1:0", store: "${store}", synchronous: ${synchronous} }
hooks:
  bench:
    on: registration.after
    methods: [password]
    mode: notify
    auth: { type: api_key, in: header, name: X-Hooks-Key, secret_env: BENCH_SECRET }
    body:
      identity_id: identity.id
      email: { from: identity.traits.email, format: email }
      flow_id: flow.id
    actions:
      - name: crm
        http: { url: "${actionUrl}", body: { email: "{{body.email}}" } }
`;

let seq = 0;
/** bench/ack.lua's request to that hook, for the in-process benches: a fresh trigger id and identity each. */
export function benchRequest(): Request {
  const n = ++seq;
  const id = crypto.randomUUID();
  const body = `{\n   "email": "user${n}@example.org",\n   "flow_id": "${id}",\n   "identity_id": "${id}"\n}\n`;
  return new Request("http://127.0.0.1:4459/hooks/bench", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Hooks-Key": "bench-secret", "Ory-Webhook-Request-Id": id, "Ory-Webhook-Trigger-Id": id, "Content-Length": String(Buffer.byteLength(body)) },
    body,
  });
}

let accepted = 0;
/**
 * `n` acceptances of that request as serve's route hands them to the store: a dedupe record's key
 * and answer, and one job holding the accepted webhook (bench/accept-cpu.ts, bench/accept-floor.ts).
 * Typed loosely: the checkouts those benches compare may differ in the Acceptance type.
 */
export function benchAcceptances(n: number): unknown[] {
  return Array.from({ length: n }, () => {
    const id = crypto.randomUUID();
    const now = Date.now();
    const body = { email: `user${++accepted}@example.org`, flow_id: id, identity_id: id };
    const payload = { body, hook: "bench", trigger_id: id, request_id: id, received_at: new Date(now).toISOString() };
    return { hook: "bench", key: `bench:trigger:${id}`, response: { status: 204, body: null }, expiresAt: now + 86_400_000, now, jobs: [{ id: Bun.randomUUIDv7(), hook: "bench", action: "crm", payload, maxAttempts: 5, runAt: now, triggerId: id, identityId: crypto.randomUUID(), traceparent: null }] };
  });
}
