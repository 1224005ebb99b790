// Rules that keep a valid-looking hooks.yaml from breaking Kratos or merging distinct events
// (src/config/kratos-safety.ts, src/kratos/output-size.ts, src/config/dedupe-plan.ts), checked
// against the real jsonnet CLI where output is concerned. The one-error cases live in the broken
// corpus (test/fixtures/broken).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { ConfigErrors } from "../../src/errors.ts";
import { evalBody } from "../../src/jsonnet-cli.ts";
import { emitBody } from "../../src/kratos/jsonnet.ts";
import { worstCaseOutput } from "../../src/kratos/output-size.ts";
import { parseVersion } from "../../src/kratos/versions.ts";
import { exampleCtx } from "../../src/kratos/ctx.ts";
import { dedupeKey } from "../../src/server/dedupe-key.ts";
import type { ResolvedConfig } from "../../src/config/types.ts";

const dir = mkdtempSync(join(tmpdir(), "kratos-hooks-safety-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(text: string, env: Record<string, string> = {}): { config?: ResolvedConfig; errors: string[]; warnings: string[] } {
  const file = join(dir, "hooks.yaml");
  writeFileSync(file, text);
  const line = (e: { format(): string }) => e.format().split("\n")[0]!.replace(`${dir}/`, "");
  try {
    const config = loadConfig(file, { env, cwd: dir });
    return { config, errors: [], warnings: (config.warnings ?? []).map(line).filter((w) => !/has no auth/.test(w)) };
  } catch (err) {
    if (!(err instanceof ConfigErrors)) throw err;
    return { errors: err.errors.map(line), warnings: [] };
  }
}

const yaml = (version: string, hooks: string, extra = "") => `kratos:\n  version: ${version}\n${extra}receiver:\n  url: http://127.0.0.1:4459\nhooks:\n${hooks}`;

/** Renders a hook's generated body with the real jsonnet CLI against `ctx`. */
function render(config: ResolvedConfig, name: string, ctx: unknown): string {
  const hook = config.hooks.find((h) => h.name === name)!;
  const body = join(dir, `${name}.jsonnet`);
  const ctxFile = join(dir, `${name}.ctx.json`);
  writeFileSync(body, emitBody({ config, hook, rel: (p) => p }));
  writeFileSync(ctxFile, JSON.stringify(ctx));
  const r = evalBody(body, ctxFile);
  if (r.kind !== "ok") throw new Error(`jsonnet: ${JSON.stringify(r)}`);
  return r.json;
}

describe("worst-case Jsonnet output", () => {
  test("the bound is the real output when every max_length string is full of the widest character", () => {
    const hook = "  h:\n    on: registration.after\n    body:\n      email: { from: identity.traits.email, max_length: 50 }\n      name: { from: identity.traits.name, max_length: 30 }\n      id: flow.id\n      source: { value: { app: kratös, tags: [a, \"b\\u0001\"], empty: {}, none: [] } }\n      n: { value: 12 }\n";
    const { config, errors } = load(yaml("v26.2.0", hook));
    expect(errors).toEqual([]);
    const fields = config!.hooks[0]!.fields;
    const v26 = parseVersion("v26.2.0")!;
    // The uuid and every string are at their maximum: the bound is exact, not just an upper bound.
    const control = exampleCtx("registration.after", false, v26, { traits: { email: "\u0001".repeat(50), name: "\u007f".repeat(30) } });
    expect(Buffer.byteLength(render(config!, "h", control))).toBe(worstCaseOutput(fields, v26, 6).bounded);
    const text = exampleCtx("registration.after", false, v26, { traits: { email: "😀".repeat(50), name: "𝄞".repeat(30) } });
    expect(Buffer.byteLength(render(config!, "h", text))).toBe(worstCaseOutput(fields, v26, 4).bounded);
  });

  test("~96 KB of constants: refused at v26.2.0 (64 KiB), accepted at HEAD (256 KiB)", () => {
    const hook = `  h:\n    on: registration.after\n    body:\n      email: { from: identity.traits.email, max_length: 320 }\n      blob: { value: "${"x".repeat(96_000)}" }\n`;
    expect(load(yaml("v26.2.0", hook)).errors).toEqual([
      "hooks.yaml:8:5: hooks.h.body: the body can be 97,314 bytes; Kratos v26.2.0 accepts less than 64 KiB (65,536 bytes) from a Jsonnet body",
    ]);
    expect(load(yaml("v1.0.0", hook)).errors[0]).toContain("Kratos v1.0.0 accepts less than 64 KiB");
    expect(load(yaml("HEAD", hook))).toMatchObject({ errors: [], warnings: [] });
  });

  test("a max_length character counts 4 bytes (an emoji) for the error, 6 (\\u00XX) for a warning", () => {
    const hook = (n: number) => `  h:\n    on: registration.after\n    body:\n      bio: { from: identity.traits.bio, max_length: ${n} }\n`;
    expect(load(yaml("v26.2.0", hook(10_919)))).toMatchObject({ errors: [], warnings: [] });
    expect(load(yaml("v26.2.0", hook(10_920)))).toMatchObject({
      errors: [],
      warnings: ["hooks.yaml:8:5: hooks.h.body: the body can be 65,537 bytes when its max_length fields are filled with control characters; Kratos v26.2.0 accepts less than 64 KiB (65,536 bytes) from a Jsonnet body"],
    });
    expect(load(yaml("v26.2.0", hook(16_379))).errors).toEqual([]);
    expect(load(yaml("v26.2.0", hook(16_380))).errors).toEqual(["hooks.yaml:8:5: hooks.h.body: the body can be 65,537 bytes; Kratos v26.2.0 accepts less than 64 KiB (65,536 bytes) from a Jsonnet body"]);
  });

  test("an unbounded object is a warning; unbounded strings only once half the limit is used", () => {
    expect(load(yaml("v26.2.0", "  h:\n    on: registration.after\n    body:\n      traits: identity.traits\n      email: identity.traits.email\n")).warnings).toEqual([
      "hooks.yaml:8:5: hooks.h.body: traits has no size bound, so the body could pass the limit: Kratos v26.2.0 accepts less than 64 KiB (65,536 bytes) from a Jsonnet body",
    ]);
    expect(load(yaml("v26.2.0", "  h:\n    on: registration.after\n    body:\n      email: identity.traits.email\n")).warnings).toEqual([]);
    const big = `  h:\n    on: registration.after\n    body:\n      email: identity.traits.email\n      blob: { value: "${"x".repeat(40_000)}" }\n`;
    expect(load(yaml("v26.2.0", big)).warnings).toEqual(["hooks.yaml:8:5: hooks.h.body: email has no size bound, so the body could pass the limit: Kratos v26.2.0 accepts less than 64 KiB (65,536 bytes) from a Jsonnet body"]);
  });
});

describe("enrich of an object Kratos does not send", () => {
  const hook = (extra: string) => `  h:\n    on: settings.after\n    methods: [profile]\n    mode: enrich\n${extra}    body:\n      email: identity.traits.email\n    enrich:\n      - metadata_admin: { synced: true }\n`;
  test("refused at settings.after, accepted with replaces: [metadata_admin], and at registration.after", () => {
    expect(load(yaml("v26.2.0", hook(""))).errors[0]).toContain("enriching metadata_admin at settings.after erases its other keys");
    expect(load(yaml("v26.2.0", hook("    replaces: [metadata_admin]\n")))).toMatchObject({ errors: [], warnings: [] });
    expect(load(yaml("v26.2.0", hook("").replace("settings.after", "registration.after").replace("[profile]", "[password]")))).toMatchObject({ errors: [], warnings: [] });
  });
  test("replaces: [metadata_public] stands for the current metadata_public in the body; replaces naming nothing set is a warning", () => {
    const pub = "  h:\n    on: settings.after\n    methods: [profile]\n    mode: enrich\n    replaces: [metadata_public]\n    body:\n      email: identity.traits.email\n    enrich:\n      - metadata_public: { seen: true }\n";
    expect(load(yaml("v26.2.0", pub))).toMatchObject({ errors: [], warnings: [] });
    expect(load(yaml("v26.2.0", pub.replace("[metadata_public]", "[metadata_public, metadata_admin]"))).warnings).toEqual([
      "hooks.yaml:10:33: hooks.h.replaces[1]: replaces names metadata_admin, which no enrich step of this hook sets",
    ]);
  });
});

describe("serve.listen and receiver.url", () => {
  const remote = (listen: string) => `kratos:\n  version: v26.2.0\nreceiver:\n  url: http://kratos-hooks:4459\n${listen}hooks:\n  h:\n    on: login.after\n    body:\n      email: identity.traits.email\n`;
  test("loopback listen (given or the default) with another host in receiver.url is a warning", () => {
    expect(load(remote("serve:\n  listen: 127.0.0.1:4459\n")).warnings).toEqual([
      "hooks.yaml:6:11: warning: serve.listen: serve listens on loopback (serve.listen 127.0.0.1:4459), but Kratos calls kratos-hooks: a loopback address is reachable only from the same host".replace("warning: ", ""),
    ]);
    expect(load(remote("")).warnings[0]).toContain("serve listens on loopback (the default listen address 127.0.0.1:4459)");
    expect(load(remote(""), { KRATOS_HOOKS_LISTEN: "[::1]:4459" }).warnings[0]).toContain("(KRATOS_HOOKS_LISTEN=[::1]:4459)");
  });
  test("a loopback receiver.url on another port than serve listens on is a warning; the same port is fine", () => {
    const local = (url: string) => `kratos:\n  version: v26.2.0\nreceiver:\n  url: ${url}\nserve:\n  listen: 127.0.0.1:4459\nhooks:\n  h:\n    on: login.after\n    body:\n      email: identity.traits.email\n`;
    expect(load(local("http://127.0.0.1:8080")).warnings).toEqual(["hooks.yaml:4:8: receiver.url: Kratos calls 127.0.0.1 on port 8080, but serve listens on port 4459 (serve.listen 127.0.0.1:4459)"]);
    expect(load(local("http://localhost")).warnings[0]).toContain("on port 80, but serve listens on port 4459");
    expect(load(local("http://127.0.0.1:4459/kh")).warnings).toEqual([]);
  });
  test("all interfaces, or a loopback receiver.url, is fine", () => {
    expect(load(remote("serve:\n  listen: 0.0.0.0:4459\n")).warnings).toEqual([]);
    expect(load(remote(""), { KRATOS_HOOKS_LISTEN: ":4459" }).warnings).toEqual([]);
    expect(load(remote("").replace("kratos-hooks:4459", "localhost:4459")).warnings).toEqual([]);
  });
});

describe("no template syntax where Kratos reads values verbatim", () => {
  test("auth value_prefix and a body constant; action fields keep their templates", () => {
    const auth = "  h:\n    on: login.after\n    auth: { type: api_key, in: header, name: X-Key, value_prefix: \"${PREFIX} \", secret_env: S }\n    body:\n      email: identity.traits.email\n";
    expect(load(yaml("v26.2.0", auth)).errors).toEqual(["hooks.yaml:8:67: hooks.h.auth.value_prefix: ${PREFIX} is sent to Kratos as literal text"]);
    const constant = "  h:\n    on: login.after\n    body:\n      email: identity.traits.email\n      token: { value: \"{{ env.TOKEN }}\" }\n";
    expect(load(yaml("v26.2.0", constant)).errors).toEqual(["hooks.yaml:10:23: hooks.h.body.token.value: {{ env.TOKEN }} is sent to Kratos as literal text"]);
    const action = "  h:\n    on: login.after\n    body:\n      email: identity.traits.email\n    actions:\n      - http: { url: \"https://crm.example.com/{{ body.email }}\", headers: { Authorization: \"Bearer {{ env.CRM }}\" } }\n";
    expect(load(yaml("v26.2.0", action)).errors).toEqual([]);
  });
});

describe("action urls", () => {
  test("no scheme, another scheme, userinfo without a scheme: errors that never echo the userinfo or query", () => {
    const hook = (url: string) => `  h:\n    on: login.after\n    body:\n      email: identity.traits.email\n    actions:\n      - http: { url: "${url}" }\n`;
    expect(load(yaml("v26.2.0", hook("user:pw-secret@crm.example.com/x?token=abc"))).errors).toEqual([
      "hooks.yaml:11:22: hooks.h.actions[0].http.url: an action url holds credentials (user:password@)",
      "hooks.yaml:11:22: hooks.h.actions[0].http.url: 'crm.example.com/x' has no http:// or https:// scheme",
    ]);
    expect(load(yaml("v26.2.0", hook("ftp://crm.example.com/x"))).errors).toEqual(["hooks.yaml:11:22: hooks.h.actions[0].http.url: an http action url must be http:// or https://, not ftp://"]);
    expect(load(yaml("v26.2.0", hook("{{ env.CRM_URL }}/contacts"))).errors).toEqual([]);
    expect(load(yaml("v26.2.0", hook("https://crm.example.com/x?email={{ body.email }}&at=a@b"))).errors).toEqual([]);
  });
});

describe("default dedupe key without Ory-Webhook-Trigger-Id", () => {
  const hook = "  recovered:\n    on: recovery.after\n    body:\n      identity_id: identity.id\n      email: identity.traits.email\n";
  const v = (t: string) => parseVersion(t)!;

  test("two real recoveries of one user get two keys; a retry of one gets the same key (v1.3.1, real jsonnet)", () => {
    const { config } = load(yaml("v1.3.1", hook));
    const ctx = exampleCtx("recovery.after", false, v("v1.3.1"));
    const second = { ...ctx, flow: { ...(ctx.flow as object), id: "9d2a5c3e-1111-4c8e-9d5e-0d1f8c2b6a22" } };
    const key = (c: unknown) => dedupeKey("recovered", undefined, null, JSON.parse(render(config!, "recovered", c))).key;
    expect(key(ctx)).not.toBe(key(second));
    expect(key(ctx)).toBe(key(ctx));
  });

  test("a hand-written body that carries no flow.id: a warning; one that sends it (declared or not) or a dedupe.key: none", () => {
    const hook = (extra = "") => `  recovered:\n    on: recovery.after\n    jsonnet: body.jsonnet\n${extra}    body:\n      email: identity.traits.email\n`;
    writeFileSync(join(dir, "body.jsonnet"), "function(ctx) { email: ctx.identity.traits.email, id: ctx.identity.id }\n");
    expect(load(yaml("v1.3.1", hook())).warnings).toEqual([
      "hooks.yaml:8:14: hooks.recovered.jsonnet: without an Ory-Webhook-Trigger-Id the receiver dedupes on the body, and this body seems to carry no flow.id: two real events with the same body would run the actions once",
    ]);
    expect(load(yaml("v1.3.1", hook("    dedupe: { key: [email] }\n"))).warnings).toEqual([]);
    expect(load(yaml("v26.2.0", hook())).warnings).toEqual([]);
    writeFileSync(join(dir, "body.jsonnet"), "function(ctx) { email: ctx.identity.traits.email, flow: ctx.flow[\"id\"] }\n");
    expect(load(yaml("v1.3.1", hook())).warnings).toEqual([]);
  });

  test("generate adds flow_id only where there is no Trigger-Id and no flow.id field", () => {
    const fields = (text: string) => load(text).config!.hooks[0]!.fields.map((f) => `${f.name}=${f.from?.join(".")}`);
    expect(fields(yaml("v1.3.1", hook))).toEqual(["identity_id=identity.id", "email=identity.traits.email", "flow_id=flow.id"]);
    expect(fields(yaml("v26.2.0", hook, "  emit_analytics_event: false\n"))).toContain("flow_id=flow.id");
    expect(fields(yaml("v26.2.0", hook))).toEqual(["identity_id=identity.id", "email=identity.traits.email"]);
    expect(fields(yaml("v1.3.1", `${hook}      flow: flow.id\n`))).toEqual(["identity_id=identity.id", "email=identity.traits.email", "flow=flow.id"]);
    expect(fields(yaml("v1.3.1", `${hook}    dedupe: { key: [identity_id] }\n`))).toEqual(["identity_id=identity.id", "email=identity.traits.email"]);
    expect(fields(yaml("v1.3.1", `${hook}      flow_id: request_url\n`))).toContain("flow_id_2=flow.id");
  });

  test("a dedupe.key with an optional field falls back to the body when it is missing: that body carries flow.id too (v1.3.1, real jsonnet)", () => {
    const keyed = `  recovered:\n    on: recovery.after\n    body:\n      identity_id: identity.id\n      nick: { from: identity.traits.nick, optional: true }\n    dedupe: { key: [nick] }\n`;
    const { config } = load(yaml("v1.3.1", keyed));
    expect(config!.hooks[0]!.fields.map((f) => f.name)).toEqual(["identity_id", "nick", "flow_id"]);
    const ctx = exampleCtx("recovery.after", false, v("v1.3.1"));
    const second = { ...ctx, flow: { ...(ctx.flow as object), id: "9d2a5c3e-1111-4c8e-9d5e-0d1f8c2b6a22" } };
    const key = (c: unknown) => dedupeKey("recovered", ["nick"], null, JSON.parse(render(config!, "recovered", c))).key;
    expect(key(ctx)).not.toBe(key(second));
    // With a Trigger-Id the fallback is the header: nothing is added.
    expect(load(yaml("v26.2.0", keyed)).config!.hooks[0]!.fields.map((f) => f.name)).toEqual(["identity_id", "nick"]);
  });
});
