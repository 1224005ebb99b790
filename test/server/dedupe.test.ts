// The idempotency key: declared key fields, else Ory-Webhook-Trigger-Id (CONTRACT §4.1), else a
// body hash; namespaced by hook. A repeat within the window gets the first answer and no jobs.
import { describe, expect, test } from "bun:test";
import { canonicalJson, dedupeKey } from "../../src/server/dedupe-key.ts";
import { bearer, hooksKey, kratosRequest, SECRET, testApp } from "./helpers.ts";

const ID = "5ff66179-c240-4703-b0d8-494592cefff5";
const SID = "068f6bb6-d15f-436d-94f7-b3fd0489c9ef";
const TRIGGER = "0b2e4c1a-8f3d-4b6e-9a7c-1d2e3f4a5b6c";

describe("key selection", () => {
  test("declared key fields win over the trigger id", () => {
    const k = dedupeKey("welcome", ["identity_id"], TRIGGER, { identity_id: ID, email: "a@b.co" });
    expect(k.source).toBe("fields");
    expect(k.key.startsWith("welcome:fields:")).toBe(true);
    expect(k.key).not.toContain(ID);
    expect(dedupeKey("welcome", ["identity_id"], null, { identity_id: ID, email: "other@b.co" }).key).toBe(k.key);
  });
  test("a missing key field falls back to the trigger id", () => {
    expect(dedupeKey("h", ["identity_id"], TRIGGER, { email: "a@b.co" })).toEqual({ key: `h:trigger:${TRIGGER}`, source: "trigger" });
  });
  test("the trigger id is used when no key is declared", () => {
    expect(dedupeKey("h", undefined, TRIGGER, { a: 1 })).toEqual({ key: `h:trigger:${TRIGGER}`, source: "trigger" });
  });
  test("an unusual trigger id is hashed", () => {
    const k = dedupeKey("h", undefined, "x y\u00e9".repeat(100), { a: 1 });
    expect(k.key).toMatch(/^h:trigger:[0-9a-f]{64}$/);
  });
  test("without either: sha256 of hook + canonical body, independent of key order and whitespace", () => {
    const a = dedupeKey("h", undefined, null, { a: 1, b: { c: [1, 2], d: "x" } });
    const b = dedupeKey("h", undefined, null, { b: { d: "x", c: [1, 2] }, a: 1 });
    expect(a.source).toBe("body");
    expect(a.key).toBe(b.key);
    expect(a.key).toMatch(/^h:body:[0-9a-f]{64}$/);
    expect(dedupeKey("other", undefined, null, { a: 1, b: { c: [1, 2], d: "x" } }).key).not.toBe(a.key.replace(/^h:/, "other:"));
  });
  test("keys are namespaced by hook", () => {
    expect(dedupeKey("a", undefined, TRIGGER, {}).key).not.toBe(dedupeKey("b", undefined, TRIGGER, {}).key);
  });
  test("canonicalJson sorts keys at every level", () => {
    expect(canonicalJson({ b: 1, a: { d: [{ f: 1, e: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[{"e":2,"f":1}]},"b":1}');
  });
});

describe("through the app", () => {
  test("three Kratos attempts with one trigger id: one acceptance, identical answers", async () => {
    const r = testApp();
    const body = { identity_id: ID, session_id: SID };
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const res = await r.handle(kratosRequest("/hooks/audit", body, { method: "PUT", triggerId: TRIGGER, headers: { Cookie: `kh_key=${SECRET}` } }));
      answers.push([res.status, await res.text()]);
    }
    expect(answers).toEqual([[204, ""], [204, ""], [204, ""]]);
    expect(r.mem.accepted).toHaveLength(1);
    expect(r.mem.jobs()).toHaveLength(1);
    expect(r.metrics.dedupeHitCount("audit")).toBe(2);
    expect(r.log.lines.filter((l) => l.msg === "request").map((l) => l.duplicate)).toEqual([false, true, true]);
  });
  test("a denial is replayed byte for byte, and a new trigger id is evaluated afresh", async () => {
    const r = testApp();
    const body = { email: "x@mailinator.com", consent: true };
    const first = await r.handle(kratosRequest("/hooks/gate", body, { triggerId: TRIGGER, headers: hooksKey }));
    const again = await r.handle(kratosRequest("/hooks/gate", body, { triggerId: TRIGGER, headers: hooksKey }));
    expect(again.status).toBe(first.status);
    expect(await again.text()).toBe(await first.text());
    expect(again.headers.get("content-type")).toBe("application/json");
    expect(r.mem.accepted).toHaveLength(1);
    const fresh = await r.handle(kratosRequest("/hooks/gate", body, { triggerId: crypto.randomUUID(), headers: hooksKey }));
    expect(fresh.status).toBe(422);
    expect(r.mem.accepted).toHaveLength(2);
  });
  test("after the window a repeat is new", async () => {
    const r = testApp();
    const body = { identity_id: ID, email: "a@b.co" };
    await r.handle(kratosRequest("/hooks/welcome", body, { headers: bearer }));
    r.advance(60 * 60 * 1000 + 1);
    await r.handle(kratosRequest("/hooks/welcome", body, { headers: bearer }));
    expect(r.mem.accepted).toHaveLength(2);
    expect(r.mem.accepted[0]!.expiresAt - r.mem.accepted[0]!.now).toBe(60 * 60 * 1000);
  });
  test("declared key: the same identity through a different trigger is still one event", async () => {
    const r = testApp();
    await r.handle(kratosRequest("/hooks/welcome", { identity_id: ID, email: "a@b.co" }, { triggerId: crypto.randomUUID(), headers: bearer }));
    await r.handle(kratosRequest("/hooks/welcome", { identity_id: ID, email: "a@b.co" }, { triggerId: crypto.randomUUID(), headers: bearer }));
    expect(r.mem.jobs()).toHaveLength(2); // two actions, one acceptance
    expect(r.mem.accepted).toHaveLength(1);
  });
});
