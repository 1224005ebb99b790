// Credential-bearing ctx fields: a hook body may not read the Kratos session cookie or token (it
// would be stored in the outbox and sent on), nor every cookie or header at once where those
// carry it; other cookies only where the body names them. Also the one rule check and serve share
// for {{ env.X }} in enrich patches, and what serve's logs may hold.
import { afterAll, describe, expect, test } from "bun:test";
import { compileEnrich } from "../../src/server/rules.ts";
import { createLogger } from "../../src/server/log.ts";
import { knownSecrets } from "../../src/secrets.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { ConfigError, ConfigErrors } from "../../src/errors.ts";
import { cleanupDirs, KRATOS, load, writeBeside } from "./harness.ts";

afterAll(() => cleanupDirs());

const hook = (on: string, body: string, version = "v26.2.0", extra = "") => `kratos: { version: ${version}${extra} }
receiver: { url: http://127.0.0.1:4459 }
hooks:
  crm:
    on: ${on}
    auth: { type: api_key, in: header, name: X-Key, secret_env: KRATOS_HOOKS_SECRET }
    body:
      identity_id: identity.id
${body}`;

const firstLine = (errors: string[]) => errors[0]?.split("\n")[0];

describe("credential ctx fields", () => {
  test("the session cookie, any ory_* or csrf_token* cookie, the whole cookie map and the credential headers are refused at file:line:col", () => {
    const cases: [string, string][] = [
      ["request_cookies.ory_kratos_session", "cookie ory_kratos_session is a Kratos session, continuity or CSRF cookie"],
      ["request_cookies.ory_session_acmecorp", "cookie ory_session_acmecorp is a Kratos session, continuity or CSRF cookie"],
      ["request_cookies.csrf_token_806060ca5bf70dff", "cookie csrf_token_806060ca5bf70dff is a Kratos session, continuity or CSRF cookie"],
      ["request_cookies", "request_cookies holds every cookie of the request, the Kratos session cookie included"],
      ["request_headers.Cookie", "header Cookie carries the user's session or credentials"],
      ["request_headers.Authorization", "header Authorization carries the user's session or credentials"],
      ["request_headers.X-Session-Token", "header X-Session-Token carries the user's session or credentials"],
      ["session.tokenized", "session.tokenized is the session as a token (a JWT), which carries the user's session"],
    ];
    for (const [from, why] of cases) {
      const { errors } = load(hook("settings.after", `      leak: { from: ${from}, optional: true }\n`, "v26.2.0", ", header_allowlist: [Cookie, Authorization, X-Session-Token]"));
      const expected = `hooks.yaml:9:21: hooks.crm.body.leak.from: ${from} is a credential: ${why}, and a hook body may not read it`;
      expect([from, errors.find((e) => e.includes(" is a credential"))?.split("\n")[0]]).toEqual([from, expected]);
    }
  });

  test("every request header at once is a credential where Kratos passes Cookie or Authorization (v1.2), not behind v1.3's fixed allowlist", () => {
    expect(firstLine(load(hook("login.after", "      headers: request_headers\n", "v1.2.0")).errors)).toBe(
      "hooks.yaml:9:16: hooks.crm.body.headers: request_headers is a credential: request_headers is every header Kratos passes, and Kratos before v1.3.0 passes every header, including Cookie, Authorization, Proxy-Authorization, X-Session-Token, Ory-Session-Token, and a hook body may not read it",
    );
    expect(load(hook("login.after", "      headers: request_headers\n", "v1.3.1")).errors).toEqual([]);
  });

  test("a cookie the body names that is not Kratos's own is allowed; a session cookie renamed in kratos.session_cookie is not", () => {
    expect(load(hook("settings.after", "      theme: { from: request_cookies.theme, optional: true }\n")).errors).toEqual([]);
    const renamed = load(hook("settings.after", "      s: { from: request_cookies.my_session, optional: true }\n", "v26.2.0", ", session_cookie: my_session"));
    expect(firstLine(renamed.errors)).toBe("hooks.yaml:9:18: hooks.crm.body.s.from: request_cookies.my_session is a credential: cookie my_session is a Kratos session, continuity or CSRF cookie, and a hook body may not read it");
  });

  test("a hand-written jsonnet body that reads the session cookie or the cookie map is refused; one that only looks a cookie up is not", () => {
    const jsonnetHook = (file: string) => `${KRATOS}hooks:\n  crm:\n    on: settings.after\n    auth: { type: api_key, in: header, name: X-Key, secret_env: KRATOS_HOOKS_SECRET }\n    jsonnet: ./${file}\n    body:\n      identity_id: identity.id\n`;
    const cases: [string, string | undefined][] = [
      ["function(ctx) { identity_id: ctx.identity.id, s: ctx.request_cookies.ory_kratos_session }", "./body.jsonnet reads cookie ory_kratos_session, a credential a hook body may not read"],
      ["function(ctx) { identity_id: ctx.identity.id, s: ctx.request_cookies['ory_session_acme'] }", "./body.jsonnet reads cookie ory_session_acme, a credential a hook body may not read"],
      ["function(ctx) { identity_id: ctx.identity.id, all: ctx.request_cookies }", "./body.jsonnet reads request_cookies (every cookie, the Kratos session cookie included), a credential a hook body may not read"],
      ["function(ctx) { identity_id: ctx.identity.id, t: ctx.request_headers['X-Session-Token'] }", "./body.jsonnet reads header X-Session-Token, a credential a hook body may not read"],
      ["function(ctx) { identity_id: ctx.identity.id, theme: if std.objectHas(ctx.request_cookies, 'theme') then ctx.request_cookies.theme else null }", undefined],
    ];
    for (const [text, message] of cases) {
      const { dir } = load("kratos: { version: v26.2.0 }\n");
      writeBeside(dir, "body.jsonnet", text);
      const { errors } = loadIn(dir, jsonnetHook("body.jsonnet"));
      expect([text, firstLine(errors)?.replace(/^hooks\.yaml:\d+:\d+: hooks\.crm\.jsonnet: /, "")]).toEqual([text, message]);
    }
  });
});

describe("a hand-written body that sends the whole ctx", () => {
  test("ctx as a value is refused, however it is passed on (its request_cookies holds the session cookie); asking whether a field exists, or getting one by name, is not", () => {
    const jsonnetHook = (version: string, allowlist = "") => `kratos: { version: ${version}${allowlist} }\nreceiver: { url: http://127.0.0.1:4459 }\nhooks:\n  crm:\n    on: settings.after\n    auth: { type: api_key, in: header, name: X-Key, secret_env: KRATOS_HOOKS_SECRET }\n    jsonnet: ./body.jsonnet\n    body:\n      identity_id: identity.id\n`;
    const whole = "./body.jsonnet reads the whole ctx (its request_cookies holds every cookie, the Kratos session cookie included), a credential a hook body may not read";
    const cases: [string, string, string | undefined][] = [
      ["v26.2.0", "function(ctx) ctx", whole],
      ["v26.2.0", "function(ctx) { identity_id: ctx.identity.id, all: ctx }", whole],
      ["v26.2.0", "function(ctx) std.mergePatch(ctx, { identity_id: ctx.identity.id })", whole],
      ["v26.2.0", "function(ctx) { identity_id: ctx.identity.id, all: { [k]: ctx[k] for k in std.objectFields(ctx) } }", whole],
      ["v26.2.0", "function(ctx) { identity_id: ctx.identity.id, t: ctx.session.tokenized }", "./body.jsonnet reads session.tokenized (the session as a token), a credential a hook body may not read"],
      ["v26.2.0", "function(ctx) { identity_id: ctx.identity.id, c: std.get(ctx, 'request_cookies') }", "./body.jsonnet reads request_cookies (every cookie, the Kratos session cookie included), a credential a hook body may not read"],
      // Kratos v1.2 passes every header, the Cookie header included.
      ["v1.2.0", "function(ctx) { identity_id: ctx.identity.id, h: ctx.request_headers }", expect.stringMatching(/^\.\/body\.jsonnet reads request_headers \(request_headers is every header Kratos passes/) as unknown as string],
      ["v26.2.0", "local lower = function(s) std.asciiLower(s);\nfunction(ctx) { identity_id: ctx.identity.id, e: lower(ctx.identity.traits.email) }", undefined],
      ["v26.2.0", "function(ctx) { identity_id: ctx.identity.id, h: ctx.request_headers, s: if std.objectHas(ctx, 'session') then ctx.session.id else null, f: std.get(ctx, 'flow', {}).id, note: 'ctx' }", undefined],
    ];
    for (const [version, text, message] of cases) {
      const { dir } = load("kratos: { version: v26.2.0 }\n");
      writeBeside(dir, "body.jsonnet", text);
      const { errors } = loadIn(dir, jsonnetHook(version));
      expect([text, firstLine(errors)?.replace(/^hooks\.yaml:\d+:\d+: hooks\.crm\.jsonnet: /, "")]).toEqual([text, message]);
    }
  });
});

/** Loads hooks.yaml text written into an existing directory (beside a jsonnet file). */
function loadIn(dir: string, text: string) {
  writeFileSync(join(dir, "hooks.yaml"), text);
  try {
    loadConfig(join(dir, "hooks.yaml"), { env: {}, cwd: dir });
    return { errors: [] as string[] };
  } catch (err) {
    if (!(err instanceof ConfigErrors)) throw err;
    return { errors: err.errors.map((e) => e.format().replace(`${dir}/`, "")) };
  }
}

describe("{{ env.X }} in an enrich patch", () => {
  test("check refuses it at file:line:col, as serve does, with the same words", () => {
    const yaml = `${KRATOS}hooks:\n  plan:\n    on: registration.after\n    methods: [password]\n    mode: enrich\n    auth: { type: api_key, in: header, name: X-Key, secret_env: KRATOS_HOOKS_SECRET }\n    body:\n      email: { from: identity.traits.email, format: email }\n    enrich:\n      - metadata_public: { plan: "{{env.PLAN}}" }\n`;
    const { errors } = load(yaml);
    expect(firstLine(errors)).toBe("hooks.yaml:12:34: hooks.plan.enrich[0].metadata_public.plan: {{env.PLAN}} is not allowed in an enrich patch");
    let served: unknown;
    try {
      compileEnrich([{ metadata_public: { plan: "{{env.PLAN}}" } }], "plan", { loc: undefined, files: undefined } as never);
    } catch (err) {
      served = err;
    }
    expect(served).toBeInstanceOf(ConfigError);
    expect((served as ConfigError).message).toBe("{{env.PLAN}} is not allowed in an enrich patch");
  });
});

describe("logs", () => {
  test("serve's log lines mask every secret the config names, wherever it appears, before anything cuts a line", () => {
    const yaml = `${KRATOS}serve:\n  store: "postgres://kh:pg-pa55@127.0.0.1:5432/test"\n  smtp: { host: 127.0.0.1, user: hooks, password_env: SMTP_PASSWORD, from: hi@example.com }\nhooks:\n  h:\n    on: login.after\n    auth: { type: basic_auth, user: kratos, password_env: BASIC_PW }\n    body: { id: identity.id }\n    actions:\n      - http: { url: "https://crm.example.com/", headers: { Authorization: "Bearer {{env.CRM_TOKEN}}" } }\n`;
    const env = { SMTP_PASSWORD: "smtp-pa55word", BASIC_PW: "basic \\\"pw\\\"", CRM_TOKEN: "crm-t0ken-xyz" };
    const { config } = load(yaml, env);
    const lines: string[] = [];
    const log = createLogger({ sink: (l) => lines.push(l), redactor: knownSecrets(config!, env) });
    log.warn("delivery failed: got header: Bearer crm-t0ken-xyz", { error: `smtp-pa55word / ${env.BASIC_PW} / pg-pa55`, nested: { token: "crm-t0ken-xyz" } });
    expect(lines).toHaveLength(1);
    for (const secret of ["crm-t0ken-xyz", "smtp-pa55word", "pg-pa55", "basic", JSON.stringify(env.BASIC_PW).slice(1, -1)]) expect(lines[0]).not.toContain(secret);
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: "delivery failed: got header: Bearer ***", error: "*** / *** / ***" });
  });

  test("the /metrics bearer token and the admin page's token are masked too", () => {
    const yaml = `${KRATOS}serve:\n  metrics: { token_env: METRICS_TOKEN }\n  admin: { listen: 127.0.0.1:4460, token_env: ADMIN_TOKEN }\nhooks:\n  h:\n    on: login.after\n    body: { id: identity.id }\n`;
    const env = { METRICS_TOKEN: "metrics-t0ken-abc", ADMIN_TOKEN: "admin-t0ken-0123456789" };
    const { config } = load(yaml, env);
    const lines: string[] = [];
    const log = createLogger({ sink: (l) => lines.push(l), redactor: knownSecrets(config!, env) });
    log.warn("echoed", { a: "Bearer metrics-t0ken-abc", b: "token=admin-t0ken-0123456789" });
    expect(JSON.parse(lines[0]!)).toMatchObject({ a: "Bearer ***", b: "token=***" });
  });
});
