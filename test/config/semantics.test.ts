// Kratos rules the loader enforces beyond the broken corpus: what is accepted (so the rules do not
// over-reach), warnings for [inferred] behaviour, and a few errors that need side files or env.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { jsonnetProblems } from "../../src/config/semantics.ts";
import { parseVersion } from "../../src/kratos/versions.ts";
import { ConfigErrors } from "../../src/errors.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function hooksYaml(version: string, hooks: string, kratosExtra = ""): string {
  return `kratos:\n  version: ${version}\n${kratosExtra}receiver:\n  url: http://127.0.0.1:4459\nhooks:\n${hooks}`;
}

const NO_AUTH = /has no auth: the receiver accepts calls from anyone/;

/** Load, returning the first lines of errors (or []) and of warnings (except the no-auth warning, tested on its own). */
function outcome(text: string, files: Record<string, string> = {}, keepNoAuth = false): { errors: string[]; warnings: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "kratos-hooks-sem-"));
  dirs.push(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  writeFileSync(join(dir, "hooks.yaml"), text);
  const line = (e: { format(): string }) => e.format().split("\n")[0]!.replace(`${dir}/`, "");
  try {
    const config = loadConfig(join(dir, "hooks.yaml"), { env: {}, cwd: dir });
    return { errors: [], warnings: (config.warnings ?? []).map(line).filter((w) => keepNoAuth || !NO_AUTH.test(w)) };
  } catch (err) {
    if (!(err instanceof ConfigErrors)) throw err;
    return { errors: err.errors.map(line), warnings: [] };
  }
}

const ok = { errors: [], warnings: [] };
/** Declares login.after's flow-level list empty, so a per-method list there hides nothing (effects.ts). */
const NO_FLOW_LEVEL = "  builtin_hooks: { login.after: [] }\n";

describe("accepted where Kratos allows it", () => {
  test("identity.id in a notify hook at registration.after (post-persist: the id is real)", () => {
    expect(outcome(hooksYaml("v26.2.0", "  h:\n    on: registration.after\n    body:\n      id: identity.id\n"))).toEqual(ok);
  });
  test("passkey lists from v1.2.0, settings oidc from v1.1.0, code at login from v1.1.0", () => {
    expect(outcome(hooksYaml("v1.2.0", "  h:\n    on: registration.after\n    methods: [passkey]\n    body:\n      e: identity.traits.email\n"))).toEqual(ok);
    expect(outcome(hooksYaml("v1.1.0", "  h:\n    on: settings.after\n    methods: [oidc]\n    body:\n      e: identity.traits.email\n"))).toEqual(ok);
    expect(outcome(hooksYaml("v1.1.0", "  h:\n    on: login.after\n    methods: [code, totp, lookup_secret]\n    body:\n      e: identity.traits.email\n", NO_FLOW_LEVEL))).toEqual(ok);
  });
  test("a version between two known tags follows the older one (v1.3.0 → v1.3.1 rules)", () => {
    expect(outcome(hooksYaml("1.3.0", "  h:\n    on: login.after\n    methods: [passkey]\n    body:\n      e: identity.traits.email\n", NO_FLOW_LEVEL))).toEqual(ok);
  });
  test("session at settings.before from v26.2.0, at login.after from v1.2.0", () => {
    expect(outcome(hooksYaml("v26.2.0", "  h:\n    on: settings.before\n    body:\n      s: session.id\n      i: flow.identity.id\n"))).toEqual(ok);
    expect(outcome(hooksYaml("v1.2.0", "  h:\n    on: login.after\n    body:\n      s: session.id\n"))).toEqual(ok);
  });
  test("enrich of metadata_public at settings.after with the current metadata_public in the body", () => {
    const hook = "  h:\n    on: settings.after\n    methods: [profile]\n    mode: enrich\n    body:\n      email: identity.traits.email\n      metadata_public: identity.metadata_public\n    enrich:\n      - metadata_public: { seen: true }\n";
    expect(outcome(hooksYaml("v26.2.0", hook))).toEqual(ok);
  });
  test("headers from v1.2.0, header_allowlist from v25.4.0 naming the header a field reads", () => {
    expect(outcome(hooksYaml("v1.2.0", "  h:\n    on: login.after\n    headers: { X-Source: kratos }\n    body:\n      e: identity.traits.email\n"))).toEqual(ok);
    const hook = "  h:\n    on: login.after\n    body:\n      rid: { from: request_headers.X-Request-Id, optional: true }\n";
    expect(outcome(hooksYaml("v25.4.0", hook, "  header_allowlist: [User-Agent, X-Request-Id]\n"))).toEqual(ok);
  });
  test("v25.4.x keys a header by its allowlist spelling, every other version by the canonical name", () => {
    const hook = (path: string) => `  h:\n    on: login.after\n    body:\n      ua: { from: request_headers.${path}, optional: true }\n`;
    expect(outcome(hooksYaml("v25.4.0", hook("user-agent"), "  header_allowlist: [user-agent]\n"))).toEqual(ok);
    expect(outcome(hooksYaml("v25.4.0", hook("User-Agent"), "  header_allowlist: [user-agent]\n")).errors).toEqual([
      "hooks.yaml:10:19: hooks.h.body.ua.from: Kratos v25.4.0 puts this header in ctx as request_headers.user-agent, so request_headers.User-Agent is never set",
    ]);
    expect(outcome(hooksYaml("v26.2.0", hook("User-Agent"), "  header_allowlist: [user-agent]\n"))).toEqual(ok);
    expect(outcome(hooksYaml("v1.2.0", hook("x-forwarded-for"))).errors).toEqual([
      "hooks.yaml:9:19: hooks.h.body.ua.from: Kratos v1.2.0 puts this header in ctx as request_headers.X-Forwarded-For, so request_headers.x-forwarded-for is never set",
    ]);
  });
  test("every request header reaches Kratos ≤ v1.2.0 templates (no allowlist)", () => {
    expect(outcome(hooksYaml("v1.2.0", "  h:\n    on: login.after\n    body:\n      xff: { from: request_headers.X-Forwarded-For, optional: true }\n"))).toEqual(ok);
  });
  test("templates: env, hook and job refs, with whitespace inside the braces", () => {
    const hook = '  h:\n    on: login.after\n    body:\n      e: identity.traits.email\n    actions:\n      - http:\n          url: "http://127.0.0.1:4460/{{ hook }}/{{job.id}}?e={{  body.e  }}"\n          headers: { Authorization: "Bearer {{ env.CRM_TOKEN }}" }\n';
    expect(outcome(hooksYaml("v26.2.0", hook))).toEqual(ok);
  });
  test("a hand-written Jsonnet body that is function(ctx), with 'import' only in strings and comments", () => {
    const body = '// do not import anything\nfunction(ctx) { note: "import is fine in a string", email: ctx.identity.traits.email }\n';
    expect(outcome(hooksYaml("v26.2.0", "  h:\n    on: login.after\n    jsonnet: body.jsonnet\n    body:\n      email: identity.traits.email\n"), { "body.jsonnet": body })).toEqual(ok);
  });
});

describe("warnings", () => {
  test("an in-memory store: acked jobs are lost when serve stops", () => {
    const r = outcome(hooksYaml("v26.2.0", "  h:\n    on: recovery.after\n    body:\n      id: identity.id\n").replace("hooks:\n", "serve:\n  store: \"sqlite::memory:\"\nhooks:\n"));
    expect(r.errors).toEqual([]);
    expect(r.warnings.filter((w) => w.includes("serve.store"))).toEqual([
      "hooks.yaml:6:10: serve.store: an in-memory store loses every job not yet delivered when serve stops, though Kratos was told it arrived and will not send it again",
    ]);
  });
  test("one deny message id with two texts: UIs show and translate messages by id; the same text twice is fine", () => {
    const rules = (second: string) =>
      `  gate:\n    on: login.after\n    methods: [password]\n    mode: interrupt\n    body:\n      email: identity.traits.email\n    rules:\n      - when: { field: email, ends_with: "@a.example" }\n        deny: { id: 9000001, text: Blocked. }\n      - when: { field: email, ends_with: "@b.example" }\n        deny: { id: 9000001, text: ${second} }\n`;
    const r = outcome(hooksYaml("v26.2.0", rules("Not allowed.")));
    expect(r.errors).toEqual([]);
    expect(r.warnings).toContain('hooks.yaml:16:21: hooks.gate.rules[1].deny.id: message id 9000001 already stands for "Blocked." (hooks.gate.rules[0])');
    expect(outcome(hooksYaml("v26.2.0", rules("Blocked."))).warnings.filter((w) => w.includes("already stands for"))).toEqual([]);
  });
  test("interrupt at a before hook: messages may surface as an error page [inferred]", () => {
    const r = outcome(hooksYaml("v26.2.0", "  h:\n    on: login.before\n    mode: interrupt\n    body:\n      f: flow.id\n    rules:\n      - when: { field: f, exists: true }\n        deny: { text: Closed. }\n"));
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual(["hooks.yaml:8:11: hooks.h.mode: interrupt at login.before: the flow does not exist yet, so messages may show as an error page instead of form messages"]);
  });
  test("transient_payload at a before hook is never present [inferred]", () => {
    expect(outcome(hooksYaml("v26.2.0", "  h:\n    on: registration.before\n    body:\n      r: flow.transient_payload.referrer\n")).warnings).toEqual([
      "hooks.yaml:9:10: hooks.h.body.r: flow.transient_payload is never present at registration.before: before hooks run when the flow is created",
    ]);
  });
  test("transient_payload outside registration before v1.2.0", () => {
    expect(outcome(hooksYaml("v1.1.0", "  h:\n    on: login.after\n    body:\n      r: flow.transient_payload.referrer\n")).warnings).toEqual([
      "hooks.yaml:9:10: hooks.h.body.r: Kratos v1.1.0 sends flow.transient_payload only in registration flows, not at login.after",
    ]);
    expect(outcome(hooksYaml("v1.1.0", "  h:\n    on: registration.after\n    body:\n      r: flow.transient_payload.referrer\n"))).toEqual(ok);
  });
  test("a required request header may be missing from a request", () => {
    expect(outcome(hooksYaml("v26.2.0", "  h:\n    on: login.after\n    body:\n      ua: request_headers.User-Agent\n")).warnings).toEqual([
      "hooks.yaml:9:11: hooks.h.body.ua: request header 'User-Agent' may be missing from a request; the body then fails to build and the flow fails",
    ]);
  });
  test("wait: true on a post-persist registration hook: a receiver outage fails a sign-up that already happened", () => {
    expect(outcome(hooksYaml("v26.2.0", "  h:\n    on: registration.after\n    wait: true\n    body:\n      e: identity.traits.email\n")).warnings).toEqual([
      "hooks.yaml:8:5: hooks.h.wait: wait: true at registration.after: when the receiver is unreachable the user gets an error page although the account was created",
    ]);
    expect(outcome(hooksYaml("v26.2.0", "  h:\n    on: login.after\n    wait: true\n    body:\n      e: identity.traits.email\n"))).toEqual(ok);
  });
  test("a hook without auth: anyone who reaches the receiver can call it", () => {
    expect(outcome(hooksYaml("v26.2.0", "  h:\n    on: login.after\n    body:\n      e: identity.traits.email\n"), {}, true).warnings).toEqual([
      "hooks.yaml:6:3: hooks.h: hook 'h' has no auth: the receiver accepts calls from anyone who can reach it",
    ]);
  });
  test("a configured header that the api_key auth header replaces", () => {
    const hook = "  h:\n    on: login.after\n    headers: { x-key: static }\n    auth: { type: api_key, in: header, name: X-Key, secret_env: KRATOS_HOOKS_SECRET }\n    body:\n      e: identity.traits.email\n";
    expect(outcome(hooksYaml("v26.2.0", hook)).warnings).toEqual(["hooks.yaml:8:16: hooks.h.headers.x-key: header x-key is replaced by the api_key auth header of the same name"]);
  });
  test("a Kratos version newer than the newest known release", () => {
    expect(outcome(hooksYaml("v27.0.0", "  h:\n    on: login.after\n    body:\n      e: identity.traits.email\n")).warnings).toEqual([
      "hooks.yaml:2:12: kratos.version: Kratos v27.0.0 is newer than v26.2.0, the newest release kratos-hooks was checked against",
    ]);
  });
  test("an enrich hook without enrich steps", () => {
    expect(outcome(hooksYaml("v26.2.0", "  h:\n    on: registration.after\n    methods: [password]\n    mode: enrich\n    body:\n      e: identity.traits.email\n")).warnings).toEqual([
      "hooks.yaml:9:11: hooks.h.mode: an enrich hook without enrich steps changes nothing",
    ]);
  });
});

describe("errors beyond the corpus", () => {
  test("wait: false on an interrupt hook is harmless; wait: true is an error", () => {
    const hook = (wait: boolean) => `  h:\n    on: login.after\n    mode: interrupt\n    wait: ${wait}\n    body:\n      e: identity.traits.email\n`;
    expect(outcome(hooksYaml("v26.2.0", hook(false)))).toEqual(ok);
    expect(outcome(hooksYaml("v26.2.0", hook(true))).errors).toEqual(["hooks.yaml:9:5: hooks.h.wait: wait applies only to notify hooks, this one is interrupt"]);
  });
  test("endpoint paths are compared as served: receiver.url's path + path, as the URL parser reads it", () => {
    const hooks = "  a:\n    on: login.after\n    body:\n      e: identity.traits.email\n  b:\n    on: login.after\n    path: /x/../hooks/a\n    body:\n      e: identity.traits.email\n";
    expect(outcome(hooksYaml("v26.2.0", hooks.replace("/x/../hooks/a", "/hooks/a")).replace("url: http://127.0.0.1:4459", "url: http://127.0.0.1:4459/kh/")).errors).toEqual([
      "hooks.yaml:12:11: hooks.b.path: endpoint path /kh/hooks/a is already used by hook 'a'",
    ]);
  });
  test("a path with a '.' or '..' segment is refused: serve answers 400 to such request paths", () => {
    const hook = (path: string) => `  h:\n    on: login.after\n    path: ${path}\n    body:\n      e: identity.traits.email\n`;
    const at = (path: string) => outcome(hooksYaml("v26.2.0", hook(path))).errors;
    for (const path of ["/x/../hooks/a", "/hooks/./a", "/hooks/..", "/."]) expect(at(path)[0]).toStartWith(`hooks.yaml:8:11: hooks.h.path: path ${path} has a '.' or '..' segment`);
    for (const fine of ["/hooks/a.b", "/hooks/...", "/v1.2/hook"]) expect({ fine, errors: at(fine) }).toEqual({ fine, errors: [] });
  });
  test("paths that differ only by a trailing / are one endpoint to the router", () => {
    const hooks = "  a:\n    on: login.after\n    path: /x\n    body:\n      e: identity.traits.email\n  b:\n    on: login.after\n    path: /x/\n    body:\n      e: identity.traits.email\n";
    expect(outcome(hooksYaml("v26.2.0", hooks)).errors).toEqual(["hooks.yaml:13:11: hooks.b.path: endpoint path /x/ is already used by hook 'a'"]);
  });
  test("a hook served on a built-in endpoint (/health/live, /health/ready, /metrics) is an error at its path, receiver.url's path included", () => {
    const hook = (path: string) => `  h:\n    on: login.after\n    path: ${path}\n    body:\n      e: identity.traits.email\n`;
    const at = (url: string, path: string) => outcome(hooksYaml("v26.2.0", hook(path)).replace("url: http://127.0.0.1:4459", `url: ${url}`)).errors;
    expect(at("http://127.0.0.1:4459", "/metrics")).toEqual(["hooks.yaml:8:11: hooks.h.path: endpoint path /metrics is reserved by the receiver"]);
    expect(at("http://127.0.0.1:4459/health/", "/ready")).toEqual(["hooks.yaml:8:11: hooks.h.path: endpoint path /health/ready is reserved by the receiver"]);
    // Elysia answers /health/live on a route added as /health/live/ too.
    expect(at("http://127.0.0.1:4459/health", "/live/")).toEqual(["hooks.yaml:8:11: hooks.h.path: endpoint path /health/live/ is reserved by the receiver"]);
    expect(at("http://127.0.0.1:4459/kh", "/metrics")).toEqual([]);
  });
  test("receiver.url's path holds only what a hook path may: ':' and '*' would be route parameters, %-escapes are refused too", () => {
    const url = (u: string) => outcome(hooksYaml("v26.2.0", "  h:\n    on: login.after\n    body:\n      e: identity.traits.email\n").replace("url: http://127.0.0.1:4459", `url: ${u}`)).errors;
    expect(url("http://127.0.0.1:4459/kh/:tenant/*")).toEqual(["hooks.yaml:4:8: receiver.url: receiver.url's path /kh/:tenant/* has ':', '*', which serve cannot route on"]);
    expect(url("http://127.0.0.1:4459/my%20hooks")).toEqual(["hooks.yaml:4:8: receiver.url: receiver.url's path /my%20hooks has '%', which serve cannot route on"]);
    expect(url("http://127.0.0.1:4459/café")).toEqual(["hooks.yaml:4:8: receiver.url: receiver.url's path /caf%C3%A9 has '%', which serve cannot route on"]);
    for (const fine of ["http://127.0.0.1:4459", "http://127.0.0.1:4459/", "http://127.0.0.1:4459/auth/kh_1.v-2/"]) expect({ fine, errors: url(fine) }).toEqual({ fine, errors: [] });
  });
  test("a lookup needs exactly one of table and file; an enrich step must set something", () => {
    const hook = "  h:\n    on: registration.after\n    methods: [password]\n    mode: enrich\n    body:\n      e: identity.traits.email\n    enrich:\n      - lookup: { field: e, into: metadata_public }\n      - when: { field: e, exists: true }\n";
    expect(outcome(hooksYaml("v26.2.0", hook)).errors).toEqual([
      "hooks.yaml:13:9: hooks.h.enrich[0].lookup: a lookup needs exactly one of 'table' or 'file'",
      "hooks.yaml:14:9: hooks.h.enrich[1]: this enrich step sets nothing",
    ]);
  });
  test("a lookup file must be a JSON object of objects", () => {
    const hook = "  h:\n    on: registration.after\n    methods: [password]\n    mode: enrich\n    body:\n      e: identity.traits.email\n    enrich:\n      - lookup: { field: e, into: metadata_public, file: plans.json }\n";
    expect(outcome(hooksYaml("v26.2.0", hook), { "plans.json": '["staff"]' }).errors).toEqual(["hooks.yaml:13:58: hooks.h.enrich[0].lookup.file: plans.json must be a JSON object of key → object"]);
  });
  test("a Jsonnet body that is not function(ctx)", () => {
    expect(jsonnetProblems("{ email: 'x' }\n").map((p) => p.message)).toEqual(["is not function(ctx) ..."]);
    expect(jsonnetProblems("function(context) context\n").map((p) => p.message)).toEqual(["is not function(ctx) ..."]);
    expect(jsonnetProblems("local x = importstr 'a.txt';\nfunction(ctx) x\n")).toEqual([{ line: 1, message: "uses importstr, which Kratos disables", hint: expect.any(String) }]);
    expect(jsonnetProblems("function(ctx) { a: |||\n  std.extVar('x') in a text block\n|||, b: ctx.flow.id }\n")).toEqual([]);
    // std functions by the go-jsonnet each Kratos ships: v0.19.0 (v1.0.0), v0.20.0 (v1.1.0-v1.3.1), v0.21.0 (v25.4.0+).
    const trim = "function(ctx) { e: std.trim(ctx.identity.traits.email), r: std.round(1.5), g: std.get(ctx.flow, 'x', null) }\n";
    const std = (v: string) => jsonnetProblems(trim, parseVersion(v)!).map((p) => p.message);
    expect(std("v1.0.0")).toEqual(["uses std.trim, which Kratos v1.0.0's Jsonnet (go-jsonnet v0.19.0) does not have", "uses std.round, which Kratos v1.0.0's Jsonnet (go-jsonnet v0.19.0) does not have"]);
    expect(std("v1.3.1")).toEqual(["uses std.trim, which Kratos v1.3.1's Jsonnet (go-jsonnet v0.20.0) does not have"]);
    expect(std("v25.4.0")).toEqual([]);
    expect(std("HEAD")).toEqual([]);
  });
  test("every semantic error of a file is reported together, in file order", () => {
    const hooks = "  a:\n    on: login.before\n    methods: [password]\n    body:\n      e: identity.traits.email\n  b:\n    on: login.after\n    mode: enrich\n    body:\n      e: identity.traits.email\n";
    expect(outcome(hooksYaml("v26.2.0", hooks)).errors).toEqual([
      "hooks.yaml:8:5: hooks.a.methods: login.before has no per-method lists",
      "hooks.yaml:10:10: hooks.a.body.e: identity.traits.email is never set here: Kratos sends no ctx.identity at login.before",
      "hooks.yaml:13:11: hooks.b.mode: enrich has no effect at login.after: Kratos applies identity changes at login.after to a copy and drops them",
    ]);
  });
  test("a store override that is not a store URL names the variable", () => {
    const dir = mkdtempSync(join(tmpdir(), "kratos-hooks-sem-"));
    dirs.push(dir);
    writeFileSync(join(dir, "hooks.yaml"), hooksYaml("v26.2.0", "  h:\n    on: login.after\n    body:\n      e: identity.traits.email\n"));
    let thrown: unknown;
    try {
      loadConfig(join(dir, "hooks.yaml"), { env: { KRATOS_HOOKS_STORE: "redis://x" }, cwd: dir });
    } catch (err) {
      thrown = err;
    }
    expect((thrown as ConfigErrors).errors.map((e) => e.format())).toEqual(["env KRATOS_HOOKS_STORE: 'redis://x' is not a store URL\n  hint: sqlite:<path> (relative to the current directory), sqlite::memory: or postgres://user@host/db"]);
  });
});
