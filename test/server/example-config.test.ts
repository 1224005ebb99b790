// The repository's example (config/hooks.yaml, the one the README runs) served by the receiver:
// its gate blocks disposable domains on the email field, its enrich hook gives staff to
// @example.com and free to everyone else, its notify hooks enqueue their actions.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { memoryAccept, fakeStore, kratosRequest } from "./helpers.ts";
import { createApp } from "../../src/server/app.ts";
import { memoryLogger } from "../../src/server/log.ts";

const config = loadConfig(join(import.meta.dir, "../../config/hooks.yaml"), { env: {} });
const env = { KRATOS_HOOKS_SECRET: "example-secret", KRATOS_HOOKS_BASIC_PASSWORD: "example-password" };
const key = { "X-Kratos-Hooks-Key": env.KRATOS_HOOKS_SECRET };

function app() {
  const mem = memoryAccept();
  return { mem, r: createApp({ config, accept: mem.accept, store: fakeStore, env, log: memoryLogger() }) };
}

describe("config/hooks.yaml", () => {
  test("signup-gate: a disposable domain is denied on the email field", async () => {
    const { r } = app();
    const res = await r.handle(kratosRequest("/hooks/signup-gate", { email: "a@Mailinator.com", consent: true }, { headers: key }));
    expect(res.status).toBe(422);
    expect(await res.text()).toBe('{"messages":[{"instance_ptr":"#/traits/email","messages":[{"id":9000001,"text":"Please sign up with a permanent email address.","type":"error"}]}]}');
  });
  test("signup-gate: without consent the whole form gets the message", async () => {
    const { r } = app();
    const res = await r.handle(kratosRequest("/hooks/signup-gate", { email: "a@example.org" }, { headers: key }));
    expect(JSON.parse(await res.text()).messages[0]).toEqual({ instance_ptr: "#/", messages: [{ id: 9000002, text: "Please accept the terms to continue.", type: "error" }] });
  });
  test("signup-gate: a permanent address with consent passes", async () => {
    const { r } = app();
    expect((await r.handle(kratosRequest("/hooks/signup-gate", { email: "a@example.org", consent: true }, { headers: key }))).status).toBe(204);
  });
  test("plan: staff for @example.com, free otherwise", async () => {
    const { r } = app();
    const staff = await r.handle(kratosRequest("/hooks/plan", { email: "ann@example.com" }, { headers: key }));
    expect(await staff.text()).toBe('{"identity":{"metadata_public":{"plan":"staff"}}}');
    const free = await r.handle(kratosRequest("/hooks/plan", { email: "bob@elsewhere.org" }, { headers: key }));
    expect(await free.text()).toBe('{"identity":{"metadata_public":{"plan":"free"}}}');
  });
  test("welcome: Bearer auth, two jobs; a load-test address is skipped", async () => {
    const { r, mem } = app();
    const headers = { Authorization: `Bearer ${env.KRATOS_HOOKS_SECRET}` };
    const id = "5ff66179-c240-4703-b0d8-494592cefff5";
    const flow = "e2e0b6b0-0000-4000-8000-000000000001";
    expect((await r.handle(kratosRequest("/hooks/welcome", { identity_id: id, email: "ann@example.org", flow_id: flow }, { headers }))).status).toBe(204);
    expect(mem.jobs().map((j) => j.action)).toEqual(["welcome.email", "welcome.crm"]);
    expect((await r.handle(kratosRequest("/hooks/welcome", { identity_id: crypto.randomUUID(), email: "x@loadtest.example.com", flow_id: flow }, { headers }))).status).toBe(204);
    expect(mem.accepted).toHaveLength(1);
  });
  test("profile-sync: basic auth", async () => {
    const { r } = app();
    const auth = `Basic ${Buffer.from(`kratos:${env.KRATOS_HOOKS_BASIC_PASSWORD}`).toString("base64")}`;
    const res = await r.handle(kratosRequest("/hooks/profile-sync", { identity_id: crypto.randomUUID(), email: "a@b.org" }, { headers: { Authorization: auth } }));
    expect(res.status).toBe(204);
  });
});
