import { describe, expect, test } from "bun:test";
import { buildJobPayload, deliver, DeliveryError } from "../../src/actions/index.ts";
import { retryAfterMs } from "../../src/actions/http.ts";
import { deliveryContext, httpAction, testSink } from "./helpers.ts";

type Seen = { method: string; path: string; headers: Record<string, string>; body: string };
const seen: Seen[] = [];
const sink = testSink(async (req) => {
  const url = new URL(req.url);
  seen.push({ method: req.method, path: url.pathname + url.search, headers: Object.fromEntries(req.headers), body: await req.text() });
  if (url.pathname.startsWith("/status/")) {
    const status = Number(url.pathname.split("/")[2]);
    return new Response(`the sink says ${status} with Authorization ${req.headers.get("authorization")}`, { status });
  }
  if (url.pathname === "/slow") await Bun.sleep(3000);
  if (url.pathname === "/busy") return new Response("slow down", { status: 429, headers: { "retry-after": "7" } });
  if (url.pathname === "/redirect") return new Response(null, { status: 302, headers: { location: "/elsewhere" } });
  return new Response("ok");
});
const body = { identity_id: "9b0f4c2e-1111-4222-8333-444455556666", email: "ada@example.com", name: "Ada", count: 2 };
const env = { CRM_TOKEN: "tok-abc-123" };

async function run(over: Parameters<typeof httpAction>[0], jobId = "job-1", signal?: AbortSignal) {
  const action = httpAction(over);
  const payload = buildJobPayload(action, { body, hook: "h", jobId });
  const start = seen.length;
  let error: DeliveryError | undefined;
  try {
    await deliver(action, JSON.parse(JSON.stringify(payload)), deliveryContext({ jobId, env, ...(signal ? { signal } : {}) }));
  } catch (err) {
    error = err as DeliveryError;
  }
  return { payload, error, requests: seen.slice(start) };
}

describe("http action", () => {
  test("sends the method, url, headers, Idempotency-Key = job id and the JSON body from the template", async () => {
    const { payload, error, requests } = await run(
      {
        method: "PATCH",
        url: `${sink.base}/contacts/{{body.identity_id}}`,
        headers: { Authorization: "Bearer {{env.CRM_TOKEN}}", "X-Hook": "{{hook}}" },
        body: { email: "{{body.email}}", n: "{{ body.count }}", label: "{{body.name}} <{{body.email}}>", source: "kratos" },
      },
      "0190a1b2-job",
    );
    expect(error).toBeUndefined();
    expect(requests).toHaveLength(1);
    const r = requests[0]!;
    expect(r.method).toBe("PATCH");
    expect(r.path).toBe(`/contacts/${body.identity_id}`);
    expect(r.headers["idempotency-key"]).toBe("0190a1b2-job");
    expect(r.headers["authorization"]).toBe("Bearer tok-abc-123");
    expect(r.headers["x-hook"]).toBe("h");
    expect(r.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(r.body)).toEqual({ email: "ada@example.com", n: 2, label: "Ada <ada@example.com>", source: "kratos" });
    // What the outbox stores has the ref, not the token.
    expect(JSON.stringify(payload)).not.toContain("tok-abc-123");
  });

  test("body values are percent-encoded in the url", async () => {
    const { requests } = await run({ url: `${sink.base}/c/{{body.name}}`, method: "POST" }, "j");
    const action = httpAction({ url: `${sink.base}/c/{{body.email}}` });
    const p = buildJobPayload(action, { body: { email: "a/b?x=1" }, hook: "h", jobId: "j2" });
    expect(p.kind === "http" && p.input.url).toBe(`${sink.base}/c/a%2Fb%3Fx%3D1`);
    expect(requests[0]!.path).toBe("/c/Ada");
  });

  test("a 4xx is not retryable and the error shows status and a snippet, never request headers", async () => {
    const { error } = await run({ url: `${sink.base}/status/422`, headers: { Authorization: "Bearer {{env.CRM_TOKEN}}" } });
    expect(error).toBeInstanceOf(DeliveryError);
    expect(error!.retryable).toBe(false);
    expect(error!.message).toContain("422");
    expect(error!.message).toContain("the sink says 422");
    // The sink echoed the header; the token is scrubbed.
    expect(error!.message).not.toContain("tok-abc-123");
    expect(error!.message).toContain("***");
  });

  test("a 4xx is retryable with retry_4xx", async () => {
    const { error } = await run({ url: `${sink.base}/status/404`, retry4xx: true });
    expect(error!.retryable).toBe(true);
  });

  test("429 is retryable even without retry_4xx", async () => {
    const { error } = await run({ url: `${sink.base}/status/429` });
    expect(error!.retryable).toBe(true);
  });

  test("429 carries the Retry-After delay", async () => {
    const { error } = await run({ url: `${sink.base}/busy` });
    expect(error!.retryable).toBe(true);
    expect(error!.retryAfterMs).toBe(7000);
  });

  test("Retry-After is read as seconds or an HTTP date", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(retryAfterMs("120", now)).toBe(120_000);
    expect(retryAfterMs("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30_000);
    expect(retryAfterMs("soon", now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });

  test("a 5xx is retryable", async () => {
    const { error } = await run({ url: `${sink.base}/status/503` });
    expect(error!.retryable).toBe(true);
    expect(error!.message).toContain("503");
  });

  test("a timeout aborts the request and is retryable", async () => {
    const { error } = await run({ url: `${sink.base}/slow`, timeoutMs: 150 });
    expect(error!.retryable).toBe(true);
    expect(error!.message).toContain("timed out after 150ms");
  });

  test("connection refused is retryable", async () => {
    const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const port = probe.port;
    probe.stop(true);
    const { error } = await run({ url: `http://127.0.0.1:${port}/x` });
    expect(error!.retryable).toBe(true);
  });

  test("redirects are not followed", async () => {
    const { error, requests } = await run({ url: `${sink.base}/redirect` });
    expect(requests).toHaveLength(1);
    expect(error!.retryable).toBe(false);
    expect(error!.message).toContain("302");
  });

  test("an aborted worker signal cuts the request", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const { error } = await run({ url: `${sink.base}/slow`, timeoutMs: 5000 }, "j", ac.signal);
    expect(error!.retryable).toBe(true);
    expect(error!.message).toContain("aborted");
  });

  test("a stored accepted webhook ({ body, ... }) is rendered at delivery", async () => {
    const action = httpAction({ url: `${sink.base}/raw/{{body.identity_id}}`, headers: { Authorization: "Bearer {{env.CRM_TOKEN}}" }, body: { email: "{{body.email}}", hook: "{{hook}}" } });
    const start = seen.length;
    const stored = { body, hook: "welcome", trigger_id: "t-1", request_id: null, received_at: new Date().toISOString() };
    await deliver(action, stored, deliveryContext({ jobId: "job-raw", hook: "welcome", env }));
    const r = seen[start]!;
    expect(r.path).toBe(`/raw/${body.identity_id}`);
    expect(r.headers["authorization"]).toBe("Bearer tok-abc-123");
    expect(r.headers["idempotency-key"]).toBe("job-raw");
    expect(JSON.parse(r.body)).toEqual({ email: "ada@example.com", hook: "welcome" });
  });

  test("a payload of neither form is not retryable", async () => {
    const err = await deliver(httpAction({ url: sink.base }), { nope: 1 }, deliveryContext()).then(() => undefined, (e: unknown) => e as DeliveryError);
    expect(err).toBeInstanceOf(DeliveryError);
    expect(err!.retryable).toBe(false);
  });

  test("a header value with a line break (from the body) is refused, not sent", async () => {
    const action = httpAction({ url: sink.base, headers: { "X-Name": "{{body.name}}" } });
    // The accepted webhook, as serve stores it: rendered at delivery.
    const payload = { body: { name: "a\r\nX-Injected: 1" }, hook: "h" };
    const start = seen.length;
    const err = await deliver(action, payload, deliveryContext()).then(() => undefined, (e: unknown) => e as DeliveryError);
    expect(err!.retryable).toBe(false);
    expect(err!.message).toBe("header X-Name: {{body.name}} holds a line break or control character, which an HTTP header cannot carry; refused");
    expect(seen.length).toBe(start);
  });

  test("a url that is not absolute http(s) is not retryable", async () => {
    const { error } = await run({ url: "{{body.name}}/x" });
    expect(error!.retryable).toBe(false);
    expect(error!.message).toContain("not an absolute http(s) URL");
  });

  test("a url without a scheme: the error shows the url (cut before the query and without userinfo), not a placeholder", async () => {
    const { error } = await run({ url: "crm.example.com/contacts/{{body.name}}?key={{env.CRM_TOKEN}}" });
    expect(error!.retryable).toBe(false);
    expect(error!.message).toBe("url 'crm.example.com/contacts/Ada' (not a valid URL) is not an absolute http(s) URL");
    const withUser = await run({ url: "crm:literal-pw@crm.example.com/x" });
    expect(withUser.error!.message).toBe("url 'crm:crm.example.com/x' (not a valid URL) is not an absolute http(s) URL");
  });

  test("the error text never shows the query string", async () => {
    const { error } = await run({ url: `${sink.base}/status/400?api_key={{env.CRM_TOKEN}}` });
    expect(error!.message).not.toContain("api_key");
    expect(error!.message).not.toContain("tok-abc-123");
  });
});
