// The http action renders the accepted webhook (what serve stores) in one pass at delivery
// (template.ts renderStringNow): it must send exactly what the two phases send (buildJobPayload,
// stored, then resolveDeferred), fail the same way with the same text, and keep env values out of
// the error text. Each case is delivered twice to a real sink: once from the accepted webhook (the
// one-pass path) and once from the JobPayload built from it (the two-phase path, unchanged).
import { describe, expect, test } from "bun:test";
import { acceptedWebhook, buildJobPayload, deliver, DeliveryError } from "../../src/actions/index.ts";
import { Redactor } from "../../src/secrets.ts";
import { renderJsonNow, renderStringNow, TemplateError, type RenderNowState } from "../../src/template.ts";
import type { ResolvedHttpAction } from "../../src/config/types.ts";
import { deliveryContext, httpAction, testSink } from "./helpers.ts";

type Seen = { method: string; url: string; headers: Record<string, string>; body: string };
const seen: Seen[] = [];
const sink = testSink(async (req) => {
  const h = Object.fromEntries(req.headers);
  for (const k of ["host", "connection", "content-length", "accept", "accept-encoding"]) delete h[k];
  seen.push({ method: req.method, url: req.url, headers: h, body: await req.text() });
  return new Response("ok");
});
type Outcome = { ok: true; request: Seen } | { ok: false; message: string; retryable: boolean };

async function outcome(action: ResolvedHttpAction, stored: unknown, env: Record<string, string>, redactor?: Redactor): Promise<Outcome> {
  const before = seen.length;
  try {
    await deliver(action, stored, deliveryContext({ env, redactor, jobId: "job-7", hook: "signup" }));
    expect(seen.length).toBe(before + 1);
    return { ok: true, request: seen[seen.length - 1]! };
  } catch (err) {
    expect(err).toBeInstanceOf(DeliveryError);
    expect(seen.length).toBe(before);
    return { ok: false, message: (err as DeliveryError).message, retryable: (err as DeliveryError).retryable };
  }
}

/** Both paths for one action and body: the outcomes, which the caller compares. */
async function both(action: ResolvedHttpAction, body: unknown, env: Record<string, string>, redactor?: Redactor): Promise<[Outcome, Outcome | "template error"]> {
  // Both forms round-tripped through JSON, as the store keeps them.
  const accepted = JSON.parse(JSON.stringify(acceptedWebhook(body, "signup", "trig-1", "req-1", "2026-12-05T00:00:00.000Z")));
  let stored: unknown;
  try {
    stored = JSON.parse(JSON.stringify(buildJobPayload(action, { body, hook: "signup", jobId: "job-7" })));
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    return [await outcome(action, accepted, env, redactor), "template error"];
  }
  return [await outcome(action, accepted, env, redactor), await outcome(action, stored, env, redactor)];
}

const hostile: unknown[] = [
  "plain", "../../admin", "..", ".", "%2e%2e", "a/b?c#d", "a\r\nX-Injected: 1", "\u0000", "ünï €", "{{ env.SECRET }}", "{{body.id}}",
  "", " ", 0, 42, -1.5, true, null, ["a", "b"], { nested: { x: 1 } }, "tok_secret_value", "x".repeat(300),
];

const templates: Partial<ResolvedHttpAction>[] = [
  { url: "BASE/contacts/{{body.v}}", headers: { Authorization: "Bearer {{env.SECRET}}", "X-Hook": "{{hook}}", "X-Id": "{{job.id}}" }, body: { v: "{{body.v}}", s: "v={{body.v}}!", e: "{{env.SECRET}}", n: [1, "{{ body.v }}", { k: "{{hook}}" }], keep: 7, nil: null } },
  { url: "BASE/q?x={{body.v}}&y={{env.SECRET}}#f{{body.v}}", headers: { "X-V": "{{body.v}}", "x-v": "later {{body.v}}" } },
  { url: "{{env.ORIGIN}}/p/{{body.v}}/{{body.missing}}", headers: {}, body: "{{body.v}}" },
  { url: "BASE/{{body.deep.a}}", headers: { "X-Env": "{{env.UNSET}} and {{env.SECRET}}" }, body: ["{{env.UNSET}}", "{{body.v}}"] },
  { url: "BASE/x", headers: { "X-Bad": "{{ nonsense }}" }, body: { a: "{{env.UNSET}}" } },
];

describe("one-pass render of the accepted webhook", () => {
  test("sends what the two phases send, and fails alike, for a table of templates and hostile body values", async () => {
    const env = { SECRET: "tok_secret_value", ORIGIN: sink.base };
    const redactor = new Redactor(["tok_secret_value"]);
    let compared = 0;
    for (const t of templates) {
      const action = httpAction({ ...t, url: t.url!.replace("BASE", sink.base) });
      for (const v of hostile) {
        for (const r of [undefined, redactor]) {
          const [now, twoPhase] = await both(action, { v, deep: { a: v } }, env, r);
          if (twoPhase === "template error") {
            expect(now.ok).toBe(false);
            if (!now.ok) expect(now.retryable).toBe(false);
          } else expect([t, v, now]).toEqual([t, v, twoPhase]);
          compared++;
          // No env value in any error text when the redactor knows it or the delivery used it.
          if (!now.ok) expect(now.message).not.toContain("tok_secret_value");
        }
      }
    }
    expect(compared).toBe(templates.length * hostile.length * 2);
  });

  test("a TemplateError wins over an unset variable rendered before it, and is final; an unset variable alone is retryable and named", async () => {
    const action = httpAction({ url: `${sink.base}/{{body.v}}`, headers: { "X-A": "{{env.UNSET}}" } });
    const [dot] = await both(action, { v: ".." }, {});
    expect(dot).toMatchObject({ ok: false, retryable: false });
    expect((dot as { message: string }).message).toContain("..");
    const [unset] = await both(action, { v: "fine" }, {});
    expect(unset).toEqual({ ok: false, message: "environment variable UNSET is not set", retryable: true });
  });

  test("the first unset variable in rendering order is named, and no env value is collected after it", () => {
    const st: RenderNowState = { env: { A: "value-a", C: "value-c" } };
    const ctx = { body: { x: "1" }, hook: "h", jobId: "j" };
    expect(renderStringNow("{{env.A}}-{{env.B}}-{{env.C}}-{{env.D}}", ctx, false, undefined, st)).toBe("value-a---");
    expect(st.missing).toBe("B");
    expect([...st.secrets!]).toEqual(["value-a"]);
    expect(renderJsonNow({ a: "{{ body.x }}", b: ["{{hook}}", 3] }, ctx, { env: {} })).toEqual({ a: "1", b: ["h", 3] });
  });

  test("a body value that looks like an env ref is sent as text, never resolved", async () => {
    const action = httpAction({ url: `${sink.base}/t`, headers: { "X-V": "{{body.v}}" }, body: { v: "{{body.v}}" } });
    const [now] = await both(action, { v: "{{ env.SECRET }}" }, { SECRET: "tok_secret_value" });
    expect(now.ok).toBe(true);
    if (now.ok) {
      expect(now.request.headers["x-v"]).toBe("{{ env.SECRET }}");
      expect(JSON.parse(now.request.body)).toEqual({ v: "{{ env.SECRET }}" });
    }
  });
});

describe("the redactor a delivery adds its env values to", () => {
  test("is made again for other values: each delivery's own env value is kept out of its error text", async () => {
    const action = httpAction({ url: "http://{{env.HOST}}/x", headers: { "X-T": "{{env.T}}" } });
    const redactor = new Redactor(["serve-known-secret"]);
    for (const [host, t] of [["tok-host-one.invalid", "tok_value_one"], ["tok-host-two.invalid", "tok_value_two"], ["tok-host-one.invalid", "tok_value_two"]] as const) {
      const r = await outcome(action, acceptedWebhook({}, "signup", null, null, "2026-12-05T00:00:00.000Z"), { HOST: host, T: t }, redactor);
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      expect(r.message).toContain("***");
      expect(r.message).not.toContain(host);
    }
  });
});
