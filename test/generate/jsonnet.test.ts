// Generated bodies, evaluated by the real jsonnet CLI exactly as Kratos evaluates them: ctx as a
// top-level argument, `error "cancel"` skips the call (CONTRACT §3.1, §3.5).
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { emitBody } from "../../src/kratos/jsonnet.ts";
import { ConfigError } from "../../src/errors.ts";
import type { PredicateDecl } from "../../src/config/model.ts";
import type { ResolvedConfig, ResolvedHook } from "../../src/config/types.ts";
import type { Point } from "../../src/kratos/hook-points.ts";
import { config, ctxFixture, evaluate, field, hook, tempDir } from "./helpers.ts";

const rel = (p: string) => p.replace(/^\/virtual\//, "");

function body(h: ResolvedHook, cfg: ResolvedConfig = config("v26.2.0", [h])): string {
  return emitBody({ config: cfg, hook: h, rel });
}

function run(h: ResolvedHook, ctx: unknown, cfg?: ResolvedConfig): unknown {
  const r = evaluate(body(h, cfg), ctx);
  if (r.kind === "cancel") return "CANCEL";
  if (r.kind === "error") throw new Error(r.message);
  return JSON.parse(r.json);
}

const welcome = hook("welcome", "registration.after", {
  methods: ["password"],
  fields: [
    field("identity_id", "identity.id"),
    field("email", "identity.traits.email", { format: "email", type: "string" }),
    field("name", "identity.traits.name", { optional: true }),
    field("flow_id", "flow.id"),
    field("referrer", "flow.transient_payload.referrer", { optional: true }),
  ],
  skipIf: { field: "email", ends_with: "@loadtest.example.com" },
});

describe("bodies give exactly the expected JSON", () => {
  test("registration.after (post-persist): every declared field", () => {
    expect(run(welcome, ctxFixture("registration.after.post-persist"))).toEqual({
      identity_id: "5ff66179-c240-4703-b0d8-494592cefff5",
      email: "new@example.org",
      name: "Ada Lovelace",
      flow_id: "e2e0b6b0-3f4c-4f3b-9b6a-7f2d1c0e9a55",
      referrer: "newsletter",
    });
  });

  test("absent optional fields are omitted, not null (no transient_payload, no traits.name)", () => {
    const ctx = ctxFixture("registration.after.post-persist");
    delete ctx.flow.transient_payload;
    delete ctx.identity.traits.name;
    expect(run(welcome, ctx)).toEqual({ identity_id: "5ff66179-c240-4703-b0d8-494592cefff5", email: "new@example.org", flow_id: "e2e0b6b0-3f4c-4f3b-9b6a-7f2d1c0e9a55" });
  });

  test("registration.after pre-persist: the nil identity id as Kratos sends it (CONTRACT §3.3)", () => {
    const gate = hook("gate", "registration.after", {
      methods: ["password"],
      mode: "interrupt",
      fields: [field("email", "identity.traits.email"), field("consent", "flow.transient_payload.consent", { optional: true }), field("identity_id", "identity.id")],
    });
    expect(run(gate, ctxFixture("registration.after.pre-persist"))).toEqual({ email: "new@example.org", consent: true, identity_id: "00000000-0000-0000-0000-000000000000" });
  });

  test("login.after: session fields and a header whose name needs brackets", () => {
    const audit = hook("audit", "login.after", {
      fields: [
        field("identity_id", "identity.id"),
        field("session_id", "session.id"),
        field("aal", "session.authenticator_assurance_level"),
        field("user_agent", "request_headers.User-Agent", { optional: true }),
        field("forwarded", "request_headers.X-Forwarded-For", { optional: true }),
        field("method", "request_method"),
      ],
    });
    expect(run(audit, ctxFixture("login.after"))).toEqual({
      identity_id: "5ff66179-c240-4703-b0d8-494592cefff5",
      session_id: "068f6bb6-d15f-436d-94f7-b3fd0489c9ef",
      aal: "aal1",
      user_agent: ["Mozilla/5.0 (X11; Linux x86_64)"],
      method: "POST",
    });
  });

  test("before hooks: an optional identity field is omitted where Kratos sends no identity (CONTRACT §3.2)", () => {
    const h = hook("rb", "registration.before", { fields: [field("flow_id", "flow.id"), field("email", "identity.traits.email", { optional: true }), field("url", "request_url")] });
    expect(run(h, ctxFixture("registration.before"))).toEqual({ flow_id: "e2e0b6b0-3f4c-4f3b-9b6a-7f2d1c0e9a55", url: "https://auth.example.com/self-service/registration/browser" });
  });

  test("a path through a value that may be null (metadata_public) is guarded", () => {
    const h = hook("p", "recovery.after", { fields: [field("plan", "identity.metadata_public.plan", { optional: true })] });
    const ctx = ctxFixture("recovery.after");
    expect(run(h, ctx)).toEqual({});
    ctx.identity.metadata_public = { plan: "pro" };
    expect(run(h, ctx)).toEqual({ plan: "pro" });
  });

  test("settings.after, verification.after: flow.identity and the identity", () => {
    const s = hook("s", "settings.after", { methods: ["profile"], fields: [field("flow_identity", "flow.identity.id"), field("session_id", "session.id"), field("name", "identity.traits.name", { optional: true })] });
    expect(run(s, ctxFixture("settings.after"))).toEqual({ flow_identity: "5ff66179-c240-4703-b0d8-494592cefff5", session_id: "068f6bb6-d15f-436d-94f7-b3fd0489c9ef", name: "Ada" });
    const v = hook("v", "verification.after", { fields: [field("email", "identity.verifiable_addresses", { optional: true })] });
    expect((run(v, ctxFixture("verification.after")) as any).email[0].value).toBe("foo@example.org");
  });

  test("constants are JSON literals; field names that are Jsonnet keywords work", () => {
    const h = hook("c", "recovery.after", {
      fields: [
        { name: "source", value: "kratos", type: "string", optional: false },
        { name: "tags", value: { a: [1, "x", null, true], "b c": "\"quoted\" \\ \u2028" }, type: "object", optional: false },
        field("local", "flow.id"),
        field("error", "identity.traits.nope", { optional: true }),
      ],
    });
    expect(run(h, ctxFixture("recovery.after"))).toEqual({ source: "kratos", tags: { a: [1, "x", null, true], "b c": "\"quoted\" \\ \u2028" }, local: "e2e0b6b0-3f4c-4f3b-9b6a-7f2d1c0e9a55" });
  });

  test("a required field missing from ctx fails evaluation, as it fails the flow in Kratos (CONTRACT §3.6)", () => {
    const h = hook("bad", "registration.after", { fields: [field("session_id", "session.id")] });
    const r = evaluate(body(h), ctxFixture("registration.after.post-persist"));
    expect(r.kind).toBe("error");
  });
});

describe("skip_if compiles to error \"cancel\" (CONTRACT §3.5)", () => {
  const base = ctxFixture("registration.after.post-persist");
  const withEmail = (email: string, extra: (c: any) => void = () => {}) => {
    const c = structuredClone(base);
    c.identity.traits.email = email;
    extra(c);
    return c;
  };
  const fields = [field("email", "identity.traits.email"), field("name", "identity.traits.name", { optional: true }), field("referrer", "flow.transient_payload.referrer", { optional: true }), field("state", "identity.state")];
  const skip = (skipIf: PredicateDecl, cfg?: ResolvedConfig) => hook("s", "registration.after", { fields, skipIf, ...(cfg ? {} : {}) });

  test("the welcome example cancels for load-test addresses and sends the rest", () => {
    expect(run(welcome, withEmail("bot-1@loadtest.example.com"))).toBe("CANCEL");
    expect(run(welcome, withEmail("ada@example.org"))).not.toBe("CANCEL");
  });

  const cases: Array<[string, PredicateDecl, string, boolean, ((c: any) => void)?]> = [
    ["equals", { field: "state", equals: "active" }, "a@b.c", true],
    ["equals (no match)", { field: "state", equals: "inactive" }, "a@b.c", false],
    ["in", { field: "email", in: ["x@y.z", "a@b.c"] }, "a@b.c", true],
    ["in (no match)", { field: "email", in: ["x@y.z"] }, "a@b.c", false],
    ["starts_with", { field: "email", starts_with: "test-" }, "test-1@b.c", true],
    ["starts_with (no match)", { field: "email", starts_with: "test-" }, "a@b.c", false],
    ["ends_with", { field: "email", ends_with: ".invalid" }, "a@b.invalid", true],
    ["domain_in, case-insensitive, after the last @", { field: "email", domain_in: ["mailinator.com"] }, "\"a@b\"@MailInator.COM", true],
    ["domain_in (no match)", { field: "email", domain_in: ["mailinator.com"] }, "a@mailinator.com.evil", false],
    ["domain_in without an @", { field: "email", domain_in: ["mailinator.com"] }, "mailinator.com", false],
    ["exists on a present optional field", { field: "referrer", exists: true }, "a@b.c", true],
    ["exists on an absent optional field", { field: "referrer", exists: true }, "a@b.c", false, (c) => delete c.flow.transient_payload],
    ["exists: false on an absent field", { field: "name", exists: false }, "a@b.c", true, (c) => delete c.identity.traits.name],
    ["an operator on an absent optional field is false", { field: "name", starts_with: "Ada" }, "a@b.c", false, (c) => delete c.identity.traits.name],
    ["not over an absent field is true", { not: { field: "name", equals: "Ada Lovelace" } }, "a@b.c", true, (c) => delete c.identity.traits.name],
    ["all", { all: [{ field: "state", equals: "active" }, { field: "email", ends_with: "@b.c" }] }, "a@b.c", true],
    ["all (one false)", { all: [{ field: "state", equals: "active" }, { field: "email", ends_with: "@x.y" }] }, "a@b.c", false],
    ["any", { any: [{ field: "state", equals: "nope" }, { field: "email", ends_with: "@b.c" }] }, "a@b.c", true],
    ["not", { not: { field: "email", ends_with: "@b.c" } }, "a@b.c", false],
  ];
  for (const [name, pred, email, cancels, mutate] of cases) {
    test(`${name}: ${cancels ? "cancels" : "sends"}`, () => {
      const out = run(skip(pred), withEmail(email, mutate));
      if (cancels) expect(out).toBe("CANCEL");
      else expect(out).toMatchObject({ email });
    });
  }

  test("in_file and domain_in_file read one value a line, # comments, relative to hooks.yaml", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "blocked.txt"), "# disposable\nYopmail.com\n\nguerrillamail.com\n");
    writeFileSync(join(dir, "emails.txt"), "a@b.c\n# x@y.z\n");
    const cfgFor = (h: ResolvedHook) => config("v26.2.0", [h], {}, dir);
    const d = skip({ field: "email", domain_in_file: "blocked.txt" });
    expect(run(d, withEmail("u@yopmail.com"), cfgFor(d))).toBe("CANCEL");
    expect(run(d, withEmail("u@b.c"), cfgFor(d))).toMatchObject({ email: "u@b.c" });
    const i = skip({ field: "email", in_file: "emails.txt" });
    expect(run(i, withEmail("a@b.c"), cfgFor(i))).toBe("CANCEL");
    expect(run(i, withEmail("x@y.z"), cfgFor(i))).toMatchObject({ email: "x@y.z" });
  });

  test("matches cannot run in Jsonnet and is a config error; so is an unknown field", () => {
    expect(() => body(skip({ field: "email", matches: "^a" }))).toThrow(ConfigError);
    expect(() => body(skip({ field: "nope", equals: 1 }))).toThrow(ConfigError);
  });
});

describe("what Kratos rejects, the emitter never produces (CONTRACT §3.1, §8.11)", () => {
  test("the real jsonnet CLI fails on std.extVar('ctx') and on import: Kratos passes ctx as a TLA and disables imports", () => {
    const ctx = ctxFixture("login.after");
    expect(evaluate("function(ctx) { id: std.extVar('ctx').identity.id }\n", ctx).kind).toBe("error");
    expect(evaluate("local lib = import 'kratos-hooks-lib.libsonnet';\nfunction(ctx) lib.body(ctx)\n", ctx).kind).toBe("error");
    // A body that is not a function ignores ctx: Kratos would send it as is, never what the hook meant.
    expect(evaluate("{ id: 1 }\n", ctx)).toEqual({ kind: "ok", json: '{\n   "id": 1\n}\n' });
  });

  const ALL_POINTS: Point[] = ["registration.before", "registration.after", "login.before", "login.after", "settings.before", "settings.after", "recovery.before", "recovery.after", "verification.before", "verification.after"];
  const v019 = new Set(["objectHas", "isObject", "isString", "startsWith", "endsWith", "split", "length", "asciiLower", "substr"]);
  for (const point of ALL_POINTS) {
    test(`${point}: function(ctx), no import, no extVar, only std functions go-jsonnet v0.19 has`, () => {
      const h = hook("x", point, {
        fields: [field("flow_id", "flow.id"), field("email", "identity.traits.email", { optional: true }), field("tp", "flow.transient_payload.a", { optional: true })],
        skipIf: { any: [{ field: "email", domain_in: ["a.b"] }, { field: "tp", starts_with: "x" }, { field: "email", ends_with: "y" }, { not: { field: "flow_id", in: ["z"] } }] },
      });
      const text = body(h, config("v1.0.0", [h]));
      expect(text).toMatch(/^function\(ctx\)/m);
      expect(text).not.toMatch(/\bimport(str|bin)?\b|extVar/);
      const used = new Set([...text.matchAll(/std\.([A-Za-z0-9_]+)/g)].map((m) => m[1]!));
      for (const fn of used) expect(v019.has(fn)).toBe(true);
    });
  }
});

describe("the jsonnet: escape hatch", () => {
  test("the hand-written body is copied with a header and evaluates the same", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "custom.jsonnet"), "function(ctx) { id: ctx.identity.id }\n");
    const h = hook("custom", "recovery.after", { jsonnetFile: join(dir, "custom.jsonnet") });
    const text = body(h, config("v26.2.0", [h], {}, dir));
    expect(text.split("\n")[0]).toMatch(/^\/\/ Copied by kratos-hooks from .*custom\.jsonnet/);
    expect(text).toContain("function(ctx) { id: ctx.identity.id }\n");
    expect(run(h, ctxFixture("recovery.after"), config("v26.2.0", [h], {}, dir))).toEqual({ id: "5ff66179-c240-4703-b0d8-494592cefff5" });
  });

  test("a hand-written body using import or std.extVar is a config error", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "imp.jsonnet"), "local x = import 'x.libsonnet';\nfunction(ctx) x\n");
    writeFileSync(join(dir, "ext.jsonnet"), "function(ctx) std.extVar('ctx')\n");
    writeFileSync(join(dir, "ok.jsonnet"), "// no import here\nfunction(ctx) { note: 'import is just a word here' }\n");
    const mk = (f: string) => hook("h", "recovery.after", { jsonnetFile: join(dir, f) });
    expect(() => body(mk("imp.jsonnet"))).toThrow(ConfigError);
    expect(() => body(mk("ext.jsonnet"))).toThrow(ConfigError);
    expect(() => body(mk("ok.jsonnet"))).not.toThrow();
  });
});
