// Hostile values against the receiver's rules, through the real loader and app (app.handle): a
// rule costs time linear in the value, whatever the value holds.
import { describe, expect, test } from "bun:test";
import { kratosRequest, loadTestConfig, testApp } from "../server/helpers.ts";

const YAML = `
kratos: { version: v26.2.0 }
receiver: { url: http://127.0.0.1:4459 }
hooks:
  gate:
    on: registration.after
    methods: [password]
    mode: interrupt
    body:
      email: { from: flow.transient_payload.email }
      name: { from: flow.transient_payload.name, optional: true }
    rules:
      - { when: { field: name, equals: admin }, deny: { text: reserved } }
      - { when: { field: name, in: [root, staff] }, deny: { text: reserved } }
      - { when: { field: name, starts_with: sys }, deny: { text: reserved } }
      - { when: { field: name, ends_with: bot }, deny: { text: reserved } }
      - { when: { field: email, domain_in: [mailinator.com] }, deny: { text: "disposable address" } }
`;

describe("normalisation cost", () => {
  test("a run of 24,000 combining marks (a 48 kB value) takes every string operator well under a second, and padding a domain with soft hyphens still meets domain_in", async () => {
    const app = testApp({ config: loadTestConfig(YAML) });
    // Alternating combining classes: a normaliser sorts each run of marks, in time quadratic in its
    // length (5.6 s for 40,000 before the runs were bounded).
    const marks = "\u0301\u0316".repeat(12_000);
    const cases = [
      { email: "ada@example.org", name: `a${marks}` },
      { email: `ada@example${marks}.org`, name: "ada" },
      { email: `ada@mail${"\u00AD".repeat(12_000)}inator.com`, name: "ada" },
    ];
    const statuses: number[] = [];
    for (const body of cases) {
      const started = performance.now();
      const res = await app.handle(kratosRequest("/hooks/gate", body));
      statuses.push(res.status);
      expect(performance.now() - started).toBeLessThan(1000);
    }
    expect(statuses).toEqual([204, 204, 422]);
  }, 60_000);
});

describe("field names", () => {
  test("a field named like an Object method (constructor, toString) is absent when the body lacks it: rules, dedupe and lookups read the body's own keys", async () => {
    const yaml = `
kratos: { version: v26.2.0 }
receiver: { url: http://127.0.0.1:4459 }
hooks:
  gate:
    on: login.after
    methods: [password]
    mode: interrupt
    body:
      identity_id: identity.id
      constructor: { from: identity.traits.invite, optional: true }
      toString: { from: identity.traits.ref, optional: true }
    dedupe: { key: [toString] }
    rules:
      - { when: { field: constructor, exists: true }, deny: { text: "invites are closed" } }
    actions:
      - { name: log, exec: { command: [/bin/true] } }
`;
    const app = testApp({ config: loadTestConfig(yaml) });
    const ids = ["5ff66179-c240-4703-b0d8-494592cefff5", "0b4c2e56-8f63-4b8e-9d1f-3b7a1f0e2c11"];
    const statuses: number[] = [];
    for (const identity_id of ids) statuses.push((await app.handle(kratosRequest("/hooks/gate", { identity_id }))).status);
    expect(statuses).toEqual([204, 204]);
    // Two sign-ups, two jobs: the dedupe key did not read toString from Object.prototype.
    expect(app.mem.jobs().length).toBe(2);
    expect((await app.handle(kratosRequest("/hooks/gate", { identity_id: ids[0], constructor: "x" }))).status).toBe(422);
  });
});

describe("look-alikes", () => {
  test("a deny list catches a look-alike (full-width); an allow list admits only what Kratos takes for the same text; not swaps the two", async () => {
    const yaml = `
kratos: { version: v26.2.0 }
receiver: { url: http://127.0.0.1:4459 }
hooks:
  gate:
    on: registration.after
    methods: [password]
    mode: interrupt
    body:
      email: { from: flow.transient_payload.email }
      name: { from: flow.transient_payload.name, optional: true }
    rules:
      # The VIP may use a disposable address; nobody else may.
      - { when: { field: email, in: [boss@mailinator.com] }, allow: true }
      - { when: { field: email, domain_in: [mailinator.com] }, deny: { text: "disposable address" } }
      - { when: { field: name, equals: admin }, deny: { text: "reserved" } }
      - { when: { not: { field: name, in: [ada, bob] } }, deny: { text: "invited names only" } }
`;
    const app = testApp({ config: loadTestConfig(yaml) });
    const status = async (email: string, name: string) => (await app.handle(kratosRequest("/hooks/gate", { email, name }))).status;
    // Kratos keeps "ｂoss@mailinator.com" (full-width b) apart from the VIP's address: it is someone else's sign-up.
    expect(await status("ｂoss@mailinator.com", "ada")).toBe(422);
    expect(await status("BOSS@mailinator.com", "ada")).toBe(204);
    // The deny list still meets look-alikes.
    expect(await status("ada@example.net", "ａｄｍｉｎ")).toBe(422);
    // Under not, a deny rule's inner list admits: "ａda" (full-width a) is not the invited "ada".
    expect(await status("ada@example.net", "ａda")).toBe(422);
    expect(await status("ada@example.net", "Bob")).toBe(204);
  });
});
