// Predicates, interrupt rules and enrich steps, evaluated in JS on the validated body, then through
// the app: deny → 422 + Kratos messages, allow/no match → 204, enrich → 200 identity or 204.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../src/outbox/open-store.ts";
import type { Store } from "../../src/outbox/store.ts";
import { compileEnrich, compilePredicate, compileRules, emailDomain, FileCache, type CompileContext } from "../../src/server/rules.ts";
import type { PredicateDecl } from "../../src/config/model.ts";
import { ConfigError } from "../../src/errors.ts";
import { hooksKey, kratosJson, kratosRequest, listenReceiver, loadTestConfig, SECRET, testApp } from "./helpers.ts";
import { goRequest, rawRequest } from "./raw-http.ts";

const dir = mkdtempSync(join(tmpdir(), "kh-rules-"));
writeFileSync(join(dir, "list.txt"), "# comment\nalpha\n  beta  \n\n42\n");
writeFileSync(join(dir, "domains.txt"), "Example.ORG\n");
const ctx: CompileContext = { dir, hook: "t", files: new FileCache() };
const p = (decl: PredicateDecl) => compilePredicate(decl, "hooks.t.when", ctx);

describe("predicate operators", () => {
  const cases: Array<[string, PredicateDecl, Record<string, unknown>, boolean]> = [
    ["equals scalar", { field: "a", equals: 1 }, { a: 1 }, true],
    ["equals is strict", { field: "a", equals: 1 }, { a: "1" }, false],
    ["equals deep", { field: "a", equals: { x: [1] } }, { a: { x: [1] } }, true],
    ["in", { field: "a", in: ["x", "y"] }, { a: "y" }, true],
    ["in miss", { field: "a", in: ["x", "y"] }, { a: "z" }, false],
    ["in_file (trimmed lines, comments skipped)", { field: "a", in_file: "list.txt" }, { a: "beta" }, true],
    ["in_file numbers compare as text", { field: "a", in_file: "list.txt" }, { a: 42 }, true],
    ["in_file comment is not a value", { field: "a", in_file: "list.txt" }, { a: "# comment" }, false],
    ["starts_with", { field: "a", starts_with: "ab" }, { a: "abc" }, true],
    ["starts_with on a non-string", { field: "a", starts_with: "1" }, { a: 12 }, false],
    ["ends_with", { field: "a", ends_with: "@x.io" }, { a: "me@x.io" }, true],
    ["matches", { field: "a", matches: "^a.c$" }, { a: "abc" }, true],
    ["matches /re/flags", { field: "a", matches: "/^ADMIN/i" }, { a: "admin1" }, true],
    ["matches with g flag stays stateless", { field: "a", matches: "/a/g" }, { a: "a" }, true],
    ["exists true", { field: "a", exists: true }, { a: 0 }, true],
    ["exists true on null", { field: "a", exists: true }, { a: null }, false],
    ["exists false", { field: "a", exists: false }, {}, true],
    ["domain_in lower-cases both sides", { field: "a", domain_in: ["Example.com"] }, { a: "Me@EXAMPLE.com" }, true],
    ["domain_in uses the last @", { field: "a", domain_in: ["b.com"] }, { a: '"a@b.com"@evil.com' }, false],
    ["domain_in_file", { field: "a", domain_in_file: "domains.txt" }, { a: "x@example.org" }, true],
    ["missing field never matches an operator", { field: "a", starts_with: "" }, {}, false],
    ["two operators on one leaf: both must hold", { field: "a", starts_with: "a", ends_with: "z" }, { a: "abc" }, false],
    ["all", { all: [{ field: "a", equals: 1 }, { field: "b", equals: 2 }] }, { a: 1, b: 2 }, true],
    ["all fails", { all: [{ field: "a", equals: 1 }, { field: "b", equals: 2 }] }, { a: 1, b: 3 }, false],
    ["any", { any: [{ field: "a", equals: 1 }, { field: "b", equals: 2 }] }, { a: 0, b: 2 }, true],
    ["not", { not: { field: "a", equals: true } }, {}, true],
  ];
  for (const [name, decl, body, want] of cases) test(`${name} → ${want}`, () => expect(p(decl)(body)).toBe(want));

  test("emailDomain", () => {
    expect(emailDomain("A@B.Example")).toBe("b.example");
    expect(emailDomain("nope")).toBeUndefined();
    expect(emailDomain("trailing@")).toBeUndefined();
    expect(emailDomain(5)).toBeUndefined();
  });
  test("a missing file fails at startup with the config path", () => {
    expect(() => p({ field: "a", in_file: "missing.txt" })).toThrow(ConfigError);
    try {
      p({ field: "a", in_file: "missing.txt" });
    } catch (e) {
      expect((e as ConfigError).path).toBe("hooks.t.when.in_file");
    }
  });
  test("an invalid regular expression fails at startup", () => expect(() => p({ field: "a", matches: "(" })).toThrow(/cannot be used as a rule pattern/));
});

describe("rules: first match decides", () => {
  const fields = [
    { name: "email", from: ["identity", "traits", "email"], type: "string" as const, optional: false },
    { name: "flag", from: ["flow", "transient_payload", "flag"], type: "boolean" as const, optional: true },
  ];
  const rules = compileRules(
    [
      { when: { field: "email", equals: "vip@x.io" }, allow: true, name: "vip" },
      { when: { field: "email", ends_with: "@x.io" }, deny: { field: "email", text: "no x" } },
      { when: { field: "flag", equals: true }, deny: { field: "flag", id: 9000050, text: "flagged", context: { n: 1 } } },
    ],
    fields,
    ctx,
  );
  test("an allow before a deny wins", () => expect(rules({ email: "vip@x.io" })).toEqual({ kind: "allow", rule: "vip" }));
  test("deny on a traits field points at #/traits/<x>, default id = 9000000 + index", () => {
    expect(rules({ email: "a@x.io" })).toEqual({
      kind: "deny",
      rule: "rules[1]",
      entry: { instancePtr: "#/traits/email", messages: [{ id: 9000001, text: "no x", type: "error" }] },
      body: '{"messages":[{"instance_ptr":"#/traits/email","messages":[{"id":9000001,"text":"no x","type":"error"}]}]}',
    });
  });
  test("deny on a non-traits field points at #/ and carries context", () => {
    expect(rules({ email: "a@y.io", flag: true })).toMatchObject({
      kind: "deny",
      rule: "rules[2]",
      entry: { instancePtr: "#/", messages: [{ id: 9000050, text: "flagged", type: "error", context: { n: 1 } }] },
    });
  });
  test("no match → allow", () => expect(rules({ email: "a@y.io" }).kind).toBe("allow"));
  test("deny.field must be a body field", () => {
    expect(() => compileRules([{ when: { field: "email", exists: true }, deny: { field: "nope", text: "x" } }], fields, ctx)).toThrow(/not a field/);
  });
});

describe("enrich: every matching step, in order; the first step to set a key decides it", () => {
  writeFileSync(join(dir, "orgs.json"), JSON.stringify({ "acme.com": { org: "acme" }, plain: { tag: 1 } }));
  const enrich = compileEnrich(
    [
      { when: { field: "email", ends_with: "@acme.com" }, metadata_public: { plan: "team", who: "{{body.email}}", n: "{{ body.count }}", gone: "{{body.missing}}" } },
      { metadata_public: { plan: "free", tier: 1 } },
      { lookup: { field: "email", key: "email_domain", into: "metadata_public", file: "orgs.json" } },
      { lookup: { field: "code", into: "metadata_admin", table: { X1: { tier: "gold" } } } },
    ],
    "t",
    ctx,
  );
  test("a later default does not override a key an earlier step set, but adds new keys; exact refs keep their type; missing refs leave the key out", () => {
    expect(enrich({ email: "bo@acme.com", count: 3 })).toEqual({ metadata_public: { plan: "team", who: "bo@acme.com", n: 3, tier: 1, org: "acme" } });
  });
  test("only matching steps apply", () => expect(enrich({ email: "bo@other.com" })).toEqual({ metadata_public: { plan: "free", tier: 1 } }));
  test("lookup by value into metadata_admin", () => expect(enrich({ email: "a@b.c", code: "X1" }).metadata_admin).toEqual({ tier: "gold" }));
  test("env refs are refused at startup (enrich output is stored in Kratos)", () => {
    expect(() => compileEnrich([{ metadata_public: { k: "{{env.SECRET}}" } }], "t", ctx)).toThrow(/not allowed in an enrich patch/);
  });
});

describe("enrich: a missing value leaves its key out at every depth (never a null in the answer)", () => {
  const nested = compileEnrich([{ metadata_public: { profile: { name: "{{body.name}}", email: "{{body.email}}", deep: { nick: "{{body.nick}}", n: 1 } } } }], "t", ctx);
  test("a nested ref to an absent field leaves that key out", () => {
    expect(nested({ email: "a@x.io" })).toEqual({ metadata_public: { profile: { email: "a@x.io", deep: { n: 1 } } } });
  });
  test("a field Kratos sent as JSON null is missing too (as for exists and the top level)", () => {
    expect(nested({ email: "a@x.io", name: null, nick: null })).toEqual({ metadata_public: { profile: { email: "a@x.io", deep: { n: 1 } } } });
  });
  test("a ref to a key inside a body object is pruned the same way", () => {
    const e = compileEnrich([{ metadata_public: { who: { first: "{{body.name.first}}", last: "{{body.name.last}}" } } }], "t", ctx);
    expect(e({ name: { first: "Ann" } })).toEqual({ metadata_public: { who: { first: "Ann" } } });
  });
  test("nulls inside a body object copied by an exact ref are left out", () => {
    const e = compileEnrich([{ metadata_public: { extra: "{{body.extra}}" } }], "t", ctx);
    expect(e({ extra: { a: null, b: { c: null, d: 2 } } })).toEqual({ metadata_public: { extra: { b: { d: 2 } } } });
  });
  test("a literal null key is left out, as at the top level", () => {
    const e = compileEnrich([{ metadata_public: { top: null, o: { k: null, v: "x" } } }], "t", ctx);
    expect(e({})).toEqual({ metadata_public: { o: { v: "x" } } });
  });
  test("an object whose keys were all missing is missing itself, so a later step may set that key", () => {
    const e = compileEnrich([{ metadata_public: { profile: { name: "{{body.name}}" } } }, { metadata_public: { profile: { name: "anonymous" } } }], "t", ctx);
    expect(e({ name: "Ann" })).toEqual({ metadata_public: { profile: { name: "Ann" } } });
    expect(e({ name: null })).toEqual({ metadata_public: { profile: { name: "anonymous" } } });
  });
  test("an empty object declared literally (or carried by the body) is data and stays", () => {
    const e = compileEnrich([{ metadata_public: { flags: {}, extra: "{{body.extra}}" } }], "t", ctx);
    expect(e({ extra: {} })).toEqual({ metadata_public: { flags: {}, extra: {} } });
  });
  test("array elements stay in place: literal nulls and missing refs are data; only object keys inside are pruned", () => {
    const e = compileEnrich([{ metadata_public: { tags: ["a", null, "{{body.nick}}", { n: "{{body.nick}}", k: 1 }, { gone: "{{body.nick}}" }] } }], "t", ctx);
    expect(e({})).toEqual({ metadata_public: { tags: ["a", null, null, { k: 1 }, {}] } });
  });
  test("lookup hits are pruned the same way", () => {
    const e = compileEnrich([{ lookup: { field: "code", into: "metadata_admin", table: { X2: { tier: null, extra: { a: null, b: 1 } } } } }], "t", ctx);
    expect(e({ code: "X2" })).toEqual({ metadata_admin: { extra: { b: 1 } } });
  });
  test("a patch that prunes to nothing gives no metadata object at all", () => {
    const e = compileEnrich([{ metadata_public: { profile: { name: "{{body.name}}" }, nick: "{{body.nick}}" } }], "t", ctx);
    expect(e({ name: null })).toEqual({});
  });
});

describe("through the app", () => {
  const r = testApp();
  const gate = (body: unknown) => r.handle(kratosRequest("/hooks/gate", body, { headers: hooksKey }));
  test("deny → 422 with exactly the Kratos messages body, no jobs", async () => {
    const res = await gate({ email: "x@MAILINATOR.com", consent: true });
    expect(res.status).toBe(422);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.text()).toBe(
      '{"messages":[{"instance_ptr":"#/traits/email","messages":[{"id":9000001,"text":"Please sign up with a permanent email address.","type":"error","context":{"reason":"disposable"}}]}]}',
    );
    expect(r.mem.accepted.at(-1)!.jobs).toEqual([]);
  });
  test("an allow rule before the deny lets a listed VIP through (in_file)", async () => {
    expect((await gate({ email: "boss@mailinator.com", consent: true })).status).toBe(204);
  });
  test("domain_in_file deny with the default id", async () => {
    const res = await gate({ email: "a@blocked.example", consent: true });
    expect(JSON.parse(await res.text()).messages[0]).toEqual({ instance_ptr: "#/traits/email", messages: [{ id: 9000002, text: "This domain is blocked.", type: "error" }] });
  });
  test("matches deny on an optional trait field", async () => {
    const res = await gate({ email: "a@ok.example", consent: true, nick: "Admin7" });
    expect(JSON.parse(await res.text()).messages[0].instance_ptr).toBe("#/traits/nick");
  });
  test("form-level deny (#/) when consent is missing", async () => {
    const res = await gate({ email: "a@ok.example" });
    expect(res.status).toBe(422);
    expect(await res.text()).toBe('{"messages":[{"instance_ptr":"#/","messages":[{"id":9000002,"text":"Please accept the terms to continue.","type":"error"}]}]}');
  });
  test("no match → 204 and the hook's actions are enqueued", async () => {
    const before = r.mem.jobs().length;
    const res = await gate({ email: "a@ok.example", consent: true });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    expect(r.mem.jobs().length).toBe(before + 1);
  });

  const plan = (body: unknown) => r.handle(kratosRequest("/hooks/plan", body, { headers: hooksKey }));
  test("enrich → 200 with only metadata_public, merged over the current value the body carries", async () => {
    const res = await plan({ email: "a@example.com", current: { keep: "me", plan: "old" } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"identity":{"metadata_public":{"keep":"me","plan":"staff","contact":"a@example.com"}}}');
  });
  test("enrich with lookup by email domain", async () => {
    const res = await plan({ email: "a@ACME.com", current: null });
    expect(await res.json()).toEqual({ identity: { metadata_public: { plan: "free", org: "acme", seats: 5 } } });
  });
  test("enrich that changes nothing → 204, never an empty 200", async () => {
    const res = await plan({ email: "a@other.org", current: { plan: "free" } });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
  });
  test("enrich hooks also run their rules: deny → 422", async () => {
    const res = await plan({ email: "a@banned.example" });
    expect(res.status).toBe(422);
    expect(JSON.parse(await res.text()).messages[0].messages[0].id).toBe(9000000);
  });
  test("without the current value the patch is the new object; metadata_admin too", async () => {
    const res = await r.handle(kratosRequest("/hooks/replace", { email: "xy@z.io" }, {}));
    expect(await res.text()).toBe('{"identity":{"metadata_public":{"tier":{"level":2}},"metadata_admin":{"source":"xy@z.io"}}}');
    const none = await r.handle(kratosRequest("/hooks/replace", { email: "ab@z.io" }, {}));
    expect(none.status).toBe(204);
  });
  test("skip_if → 204 with nothing accepted", async () => {
    const before = r.mem.accepted.length;
    const res = await r.handle(
      kratosRequest("/hooks/welcome", { identity_id: crypto.randomUUID(), email: "bot@loadtest.example.com" }, { headers: { Authorization: `Bearer ${SECRET}` } }),
    );
    expect(res.status).toBe(204);
    expect(r.mem.accepted.length).toBe(before);
    expect(r.log.lines.at(-1)!.outcome).toBe("skipped");
  });
  test("an enrich hook at a before point never answers an identity (defence: the loader refuses it too)", async () => {
    const base = loadTestConfig();
    const plan = base.hooks.find((h) => h.name === "plan")!;
    const config = { ...base, hooks: [{ ...plan, point: "registration.before" as const, rules: [] }] };
    const app = testApp({ config });
    const res = await app.handle(kratosRequest("/hooks/plan", { email: "a@example.com" }, { headers: hooksKey }));
    expect(res.status).toBe(204);
  });
});

describe("enrich with missing optional fields over HTTP (real server on 127.0.0.1, SQLite store)", () => {
  const yaml = `
kratos: { version: v26.2.0 }
receiver: { url: http://127.0.0.1:4459 }
hooks:
  profile:
    on: registration.after
    methods: [password]
    mode: enrich
    body:
      email: { from: identity.traits.email, format: email }
      name: { from: identity.traits.name, optional: true }
      nick: { from: identity.traits.nick, optional: true }
    enrich:
      - metadata_public:
          profile: { name: "{{body.name}}", email: "{{body.email}}" }
          alias: { nick: "{{body.nick}}" }
          tags: [signup, null]
  nick:
    on: registration.after
    methods: [oidc]
    mode: enrich
    body:
      email: { from: identity.traits.email, format: email }
      nick: { from: identity.traits.nick, optional: true }
    enrich:
      - metadata_public: { alias: { nick: "{{body.nick}}" } }
`;
  let store: Store;
  let listening: ReturnType<typeof listenReceiver>;
  let port: number;
  beforeAll(async () => {
    store = await openStore(`sqlite:${join(mkdtempSync(join(tmpdir(), "kh-enrich-")), "outbox.db")}`);
    listening = listenReceiver(store, loadTestConfig(yaml), 1);
    port = listening.port;
  });
  afterAll(async () => {
    await listening.stop();
    await store.close();
  });
  const deliver = async (path: string, body: unknown) => {
    const res = await rawRequest(port, goRequest("POST", path, port, kratosJson(body), { "Content-Type": "application/json", "Ory-Webhook-Trigger-Id": crypto.randomUUID() }));
    return { status: res!.status, contentType: res!.headers["content-type"], body: res!.body };
  };

  test("an absent field and a field sent as null both leave their nested key out; literal array nulls stay", async () => {
    const want = { status: 200, contentType: "application/json", body: '{"identity":{"metadata_public":{"profile":{"email":"a@x.io"},"tags":["signup",null]}}}' };
    expect(await deliver("/hooks/profile", { email: "a@x.io" })).toEqual(want);
    expect(await deliver("/hooks/profile", { email: "a@x.io", name: null, nick: null })).toEqual(want);
  });
  test("present values are answered as sent", async () => {
    expect((await deliver("/hooks/profile", { email: "a@x.io", name: "Ann", nick: "an" })).body).toBe(
      '{"identity":{"metadata_public":{"profile":{"name":"Ann","email":"a@x.io"},"alias":{"nick":"an"},"tags":["signup",null]}}}',
    );
  });
  test("a patch that prunes to nothing → 204 with no body, never an empty 200", async () => {
    const res = await deliver("/hooks/nick", { email: "a@x.io", nick: null });
    expect([res.status, res.body]).toEqual([204, ""]);
    expect((await deliver("/hooks/nick", { email: "b@x.io" })).status).toBe(204);
  });
});
