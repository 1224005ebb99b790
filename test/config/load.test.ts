// hooks.yaml → ResolvedConfig: the example file, every default, env overrides, field types
// from ctx paths, and paths resolved against the right directory.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, loadConfigText } from "../../src/config/load.ts";
import { ConfigErrors, UsageError } from "../../src/errors.ts";
import { Kind } from "@sinclair/typebox";
import { HooksFile, REFERENCED } from "../../src/config/model.ts";
import { EXPLAINED_KINDS } from "../../src/config/schema-errors.ts";

const REPO = join(import.meta.dir, "../..");
const EXAMPLE = join(REPO, "config/hooks.yaml");

const MINIMAL = `kratos:
  version: v26.2.0
receiver:
  url: http://hooks.internal:8080/
hooks:
  welcome:
    on: registration.after
    body:
      email: identity.traits.email
`;

const tempDirs: string[] = [];
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

/** A hooks.yaml in a fresh directory (with optional side files), loaded with no env overrides. */
function load(text: string, options: { files?: Record<string, string>; env?: Record<string, string>; cwd?: string } = {}) {
  const dir = tempDir("kratos-hooks-load-");
  for (const [name, content] of Object.entries(options.files ?? {})) writeFileSync(join(dir, name), content);
  writeFileSync(join(dir, "hooks.yaml"), text);
  return { dir, config: loadConfig(join(dir, "hooks.yaml"), { env: options.env ?? {}, cwd: options.cwd ?? dir }) };
}

describe("config/hooks.yaml (the example)", () => {
  const config = loadConfig(EXAMPLE, { env: {}, cwd: REPO });
  const hook = (name: string) => config.hooks.find((h) => h.name === name)!;

  test("loads with every hook, in file order, and no warnings", () => {
    expect(config.hooks.map((h) => h.name)).toEqual(["welcome", "signup-gate", "plan", "login-audit", "profile-sync", "recovered", "verified"]);
    expect(config.warnings).toBeUndefined();
    expect(config.file).toBe(EXAMPLE);
    expect(config.dir).toBe(join(REPO, "config"));
  });

  test("kratos settings: version, body directory, builtin hooks as {hook} items", () => {
    expect(config.kratos.version.text).toBe("v26.2.0");
    expect(config.kratos.body).toEqual({ kind: "file", dir: "/etc/config/kratos/hooks" });
    expect(config.kratos.builtinHooks).toEqual({
      "registration.after.password": [{ hook: "show_verification_ui" }, { hook: "session" }],
      "registration.after.oidc": [{ hook: "session" }],
      "login.after.password": [{ hook: "require_verified_address" }],
    });
  });

  test("hooks get point, methods, mode, endpoint path and URL", () => {
    expect(hook("welcome")).toMatchObject({ point: "registration.after", methods: ["password", "oidc"], mode: "notify", wait: false, path: "/hooks/welcome", url: "http://127.0.0.1:4459/hooks/welcome", method: "POST", headers: {} });
    expect(hook("signup-gate")).toMatchObject({ mode: "interrupt", methods: ["password"], url: "http://127.0.0.1:4459/hooks/signup-gate" });
    expect(hook("recovered")).toMatchObject({ point: "recovery.after", methods: [] });
    const line = readFileSync(EXAMPLE, "utf8").split("\n").indexOf("  welcome:") + 1;
    expect(hook("welcome").loc).toEqual({ file: EXAMPLE, line, col: 3 });
  });

  test("body fields: shorthand and full specs, types and formats from the ctx path", () => {
    expect(hook("welcome").fields).toEqual([
      { name: "identity_id", from: ["identity", "id"], type: "string", format: "uuid", optional: false },
      { name: "email", from: ["identity", "traits", "email"], type: "string", format: "email", optional: false },
      { name: "name", from: ["identity", "traits", "name"], type: "string", optional: true },
      { name: "flow_id", from: ["flow", "id"], type: "string", format: "uuid", optional: false },
      { name: "referrer", from: ["flow", "transient_payload", "referrer"], type: "any", optional: true },
    ]);
    expect(hook("login-audit").fields).toEqual([
      { name: "identity_id", from: ["identity", "id"], type: "string", format: "uuid", optional: false },
      { name: "session_id", from: ["session", "id"], type: "string", format: "uuid", optional: false },
      { name: "aal", from: ["session", "authenticator_assurance_level"], type: "string", optional: false },
      { name: "user_agent", from: ["request_headers", "User-Agent"], type: "array", optional: true },
    ]);
  });

  test("actions get ids <hook>.<name> and their defaults", () => {
    const [email, crm] = hook("welcome").actions;
    expect(email).toMatchObject({ id: "welcome.email", hook: "welcome", kind: "email", to: "{{body.email}}", subject: "Welcome to Example", retry: { attempts: 8, baseMs: 2000, capMs: 600000 }, concurrency: 16 });
    expect(crm).toEqual({
      id: "welcome.crm",
      hook: "welcome",
      kind: "http",
      method: "POST",
      url: "http://127.0.0.1:4460/contacts",
      headers: { Authorization: "Bearer {{env.CRM_TOKEN}}" },
      body: { email: "{{body.email}}", name: "{{body.name}}", external_id: "{{body.identity_id}}", source: "kratos" },
      timeoutMs: 10000,
      retry4xx: false,
      retry: { attempts: 10, baseMs: 1000, capMs: 600000 },
      concurrency: 16,
      rateLimit: 50,
      destination: "http://127.0.0.1:4460",
    });
    expect(hook("verified").actions[0]).toMatchObject({ id: "verified.provision", kind: "exec", command: ["/bin/sh", "-c", "cat > /dev/null"], timeoutMs: 10000, env: {} });
    expect(hook("profile-sync").actions[0]).toMatchObject({ kind: "http", method: "PATCH" });
  });

  test("dedupe keys and windows: the hook's own window, else serve.dedupe_window", () => {
    expect(hook("welcome").dedupe).toEqual({ key: ["identity_id"], windowMs: 86_400_000, source: "fields", description: "dedupe.key identity_id" });
    expect(hook("verified").dedupe).toEqual({ key: ["identity_id"], windowMs: 7 * 86_400_000, source: "fields", description: "dedupe.key identity_id" });
    expect(hook("plan").dedupe).toEqual({ windowMs: 86_400_000, source: "trigger", description: "Ory-Webhook-Trigger-Id header" });
  });

  test("rules, enrich, skip_if and auth pass through", () => {
    expect(hook("signup-gate").rules).toHaveLength(2);
    expect(hook("plan").enrich).toEqual([{ when: { field: "email", ends_with: "@example.com" }, metadata_public: { plan: "staff" } }, { metadata_public: { plan: "free" } }]);
    expect(hook("welcome").skipIf).toEqual({ field: "email", ends_with: "@loadtest.example.com" });
    expect(hook("profile-sync").auth).toEqual({ type: "basic_auth", user: "kratos", password_env: "KRATOS_HOOKS_BASIC_PASSWORD" });
  });

  test("serve: the file's values, defaults for the rest, sqlite path against the working directory", () => {
    expect(config.serve).toEqual({
      listen: { host: "127.0.0.1", port: 4459 },
      store: `sqlite:${join(REPO, "var/kratos-hooks.db")}`,
      synchronous: "full",
      groupCommitWaitMs: 2,
      bodyLimitBytes: 262144,
      dedupeWindowMs: 86_400_000,
      smtp: { host: "127.0.0.1", port: 2525, security: "none", from: "Example <welcome@example.com>" },
      leaseMs: 30000,
      pollMs: 200,
      shutdownTimeoutMs: 10000,
      rateLimits: {},
      retention: { doneMs: 7 * 86_400_000, deadMs: 30 * 86_400_000 },
    });
  });
});

describe("defaults", () => {
  test("a minimal file gets every default", () => {
    const { dir, config } = load(MINIMAL);
    expect(config.receiverUrl).toBe("http://hooks.internal:8080");
    expect(config.kratos.body).toEqual({ kind: "file", dir: "/etc/config/kratos/hooks" });
    expect(config.kratos.builtinHooks).toEqual({});
    expect(config.kratos.emitAnalyticsEvent).toBeUndefined();
    expect(config.serve).toEqual({
      listen: { host: "127.0.0.1", port: 4459 },
      store: `sqlite:${join(dir, "var/kratos-hooks.db")}`,
      synchronous: "full",
      groupCommitWaitMs: 2,
      bodyLimitBytes: 256 * 1024,
      dedupeWindowMs: 24 * 3_600_000,
      leaseMs: 30_000,
      pollMs: 200,
      shutdownTimeoutMs: 10_000,
      rateLimits: {},
      retention: { doneMs: 7 * 86_400_000, deadMs: 30 * 86_400_000 },
    });
    const [hook] = config.hooks;
    expect(hook).toMatchObject({ name: "welcome", mode: "notify", wait: false, method: "POST", path: "/hooks/welcome", url: "http://hooks.internal:8080/hooks/welcome", methods: [], rules: [], enrich: [], actions: [] });
  });

  test("a relative sqlite path resolves against the working directory, not the hooks.yaml directory", () => {
    const cwd = tempDir("kratos-hooks-cwd-");
    const { config } = load(MINIMAL + "serve:\n  store: sqlite:data/hooks.db\n", { cwd });
    expect(config.serve.store).toBe(`sqlite:${join(cwd, "data/hooks.db")}`);
  });

  test("sqlite:// is read like sqlite: (relative unless the path starts with /)", () => {
    const cwd = tempDir("kratos-hooks-cwd-");
    expect(load(MINIMAL + "serve:\n  store: sqlite://var/a.db\n", { cwd }).config.serve.store).toBe(`sqlite:${join(cwd, "var/a.db")}`);
    expect(load(MINIMAL + "serve:\n  store: sqlite:///srv/a.db\n", { cwd }).config.serve.store).toBe("sqlite:/srv/a.db");
  });

  test("postgres stores and absolute sqlite paths stay as written", () => {
    expect(load(MINIMAL + "serve:\n  store: postgres://kh@127.0.0.1:5432/test\n").config.serve.store).toBe("postgres://kh@127.0.0.1:5432/test");
    expect(load(MINIMAL + "serve:\n  store: sqlite:/var/lib/kh.db\n").config.serve.store).toBe("sqlite:/var/lib/kh.db");
  });

  test("action defaults: retry 10 × 1s..10m, concurrency 16, http timeout 10s, exec timeout 25s (under the default lease), index ids", () => {
    const { dir, config } = load(MINIMAL + `    actions:
      - http: { url: "http://127.0.0.1:4460/a" }
      - exec: { command: [/bin/true], cwd: scripts }
      - email: { to: "{{ body.email }}", subject: Hi }
`);
    const [http, exec, email] = config.hooks[0]!.actions;
    expect(http).toEqual({ id: "welcome.0", hook: "welcome", kind: "http", method: "POST", url: "http://127.0.0.1:4460/a", headers: {}, timeoutMs: 10_000, retry4xx: false, retry: { attempts: 10, baseMs: 1000, capMs: 600_000 }, concurrency: 16, destination: "http://127.0.0.1:4460" });
    expect(exec).toEqual({ id: "welcome.1", hook: "welcome", kind: "exec", command: ["/bin/true"], cwd: join(dir, "scripts"), timeoutMs: 25_000, env: {}, retry: { attempts: 10, baseMs: 1000, capMs: 600_000 }, concurrency: 16 });
    expect(email).toMatchObject({ id: "welcome.2", kind: "email" });
  });

  test("durations and sizes in every unit", () => {
    const { config } = load(MINIMAL.replace("hooks:\n", "serve:\n  group_commit_wait: 0\n  lease: 2m\n  poll: 1500\n  shutdown_timeout: 1h\n  dedupe_window: 7d\n  body_limit: 1mb\nhooks:\n"));
    expect(config.serve).toMatchObject({ groupCommitWaitMs: 0, leaseMs: 120_000, pollMs: 1500, shutdownTimeoutMs: 3_600_000, dedupeWindowMs: 604_800_000, bodyLimitBytes: 1_048_576 });
    expect(config.hooks[0]!.dedupe.windowMs).toBe(604_800_000);
  });

  test("kratos.body inline and emit_analytics_event / header_allowlist pass through", () => {
    const { config } = load(MINIMAL.replace("receiver:", "  body: { inline: true }\n  emit_analytics_event: true\n  header_allowlist: [User-Agent, X-Request-Id]\nreceiver:"));
    expect(config.kratos.body).toEqual({ kind: "inline" });
    expect(config.kratos.emitAnalyticsEvent).toBe(true);
    expect(config.kratos.headerAllowlist).toEqual(["User-Agent", "X-Request-Id"]);
  });
});

describe("env overrides", () => {
  test("KRATOS_HOOKS_STORE and KRATOS_HOOKS_LISTEN win over the file", () => {
    const text = MINIMAL + "serve:\n  listen: 127.0.0.1:9000\n  store: sqlite:./a.db\n";
    const { config } = load(text, { env: { KRATOS_HOOKS_STORE: "postgres://kh@127.0.0.1/test", KRATOS_HOOKS_LISTEN: "[::1]:7000" } });
    expect(config.serve.store).toBe("postgres://kh@127.0.0.1/test");
    expect(config.serve.listen).toEqual({ host: "::1", port: 7000 });
  });

  test("':port' listens on all interfaces", () => {
    expect(load(MINIMAL, { env: { KRATOS_HOOKS_LISTEN: ":4459" } }).config.serve.listen).toEqual({ host: "0.0.0.0", port: 4459 });
  });

  test("a malformed override is a config error naming the variable", () => {
    let thrown: unknown;
    try {
      load(MINIMAL, { env: { KRATOS_HOOKS_LISTEN: "4459" } });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigErrors);
    expect((thrown as ConfigErrors).errors.map((e) => e.format().split("\n")[0])).toEqual(["env KRATOS_HOOKS_LISTEN: '4459' is not host:port"]);
  });
});

describe("body fields", () => {
  const fieldsOf = (point: string, body: string, extra = "") =>
    load(`kratos:\n  version: v26.2.0\nreceiver:\n  url: http://127.0.0.1:4459\nhooks:\n  h:\n    on: ${point}\n${extra}    body:\n${body}`).config.hooks[0]!.fields;

  test("types default from the ctx path Kratos fixes", () => {
    const fields = fieldsOf(
      "login.after",
      `      identity_id: identity.id
      flow_id: flow.id
      flow_type: flow.type
      session_id: session.id
      aal: session.authenticator_assurance_level
      ua: { from: request_headers.User-Agent, optional: true }
      theme: request_cookies.theme
      name: identity.traits.name
      metadata: identity.metadata_public
      consent: flow.transient_payload.consent
      something: flow.ui.nodes
      method: request_method
`,
    );
    expect(Object.fromEntries(fields.map((f) => [f.name, [f.type, f.format ?? "", f.optional]]))).toEqual({
      identity_id: ["string", "uuid", false],
      flow_id: ["string", "uuid", false],
      flow_type: ["string", "", false],
      session_id: ["string", "uuid", false],
      aal: ["string", "", false],
      ua: ["array", "", true],
      theme: ["string", "", false],
      name: ["string", "", false],
      metadata: ["any", "", false],
      consent: ["any", "", true],
      something: ["any", "", false],
      method: ["string", "", false],
    });
  });

  test("flow.transient_payload fields are optional even when declared otherwise (Kratos omits it unless sent)", () => {
    const [f] = fieldsOf("registration.after", "      consent: { from: flow.transient_payload.consent, type: boolean, optional: false }\n");
    expect(f).toEqual({ name: "consent", from: ["flow", "transient_payload", "consent"], type: "boolean", optional: true });
  });

  test("a declared type replaces the ctx type and its format; a declared format is kept", () => {
    const fields = fieldsOf("registration.after", "      id: { from: flow.id, type: any }\n      email: { from: identity.traits.email, format: email, max_length: 254 }\n");
    expect(fields).toEqual([
      { name: "id", from: ["flow", "id"], type: "any", optional: false },
      { name: "email", from: ["identity", "traits", "email"], type: "string", format: "email", optional: false, maxLength: 254 },
    ]);
  });

  test("constants take the type of their value", () => {
    const fields = fieldsOf("registration.after", "      source: { value: kratos }\n      version: { value: 2 }\n      flags: { value: [a] }\n");
    expect(fields).toEqual([
      { name: "source", value: "kratos", type: "string", optional: false },
      { name: "version", value: 2, type: "integer", optional: false },
      { name: "flags", value: ["a"], type: "array", optional: false },
    ]);
  });
});

describe("YAML features", () => {
  test("anchors and merge keys (<<: *base) share settings between hooks", () => {
    const { config } = load(`kratos:
  version: v26.2.0
receiver:
  url: http://127.0.0.1:4459
hooks:
  a: &base
    on: login.after
    auth: { type: api_key, in: header, name: X-Key, secret_env: KRATOS_HOOKS_SECRET }
    body:
      email: identity.traits.email
  b:
    <<: *base
    on: recovery.after
`);
    const [a, b] = config.hooks;
    expect(b).toMatchObject({ name: "b", point: "recovery.after", auth: a!.auth, fields: a!.fields, path: "/hooks/b" });
  });
});

describe("files named in hooks.yaml resolve against its directory", () => {
  test("jsonnet, in_file, domain_in_file and lookup.file become absolute paths", () => {
    const { dir, config } = load(
      `kratos:
  version: v26.2.0
receiver:
  url: http://127.0.0.1:4459
hooks:
  gate:
    on: registration.after
    methods: [password]
    mode: enrich
    jsonnet: body.jsonnet
    body:
      email: identity.traits.email
    rules:
      - when: { any: [{ field: email, in_file: blocked.txt }, { field: email, domain_in_file: domains.txt }] }
        deny: { field: email, id: 9000001, text: Blocked. }
    enrich:
      - lookup: { field: email, into: metadata_public, key: email_domain, file: plans.json }
`,
      { files: { "body.jsonnet": "function(ctx) { email: ctx.identity.traits.email }\n", "blocked.txt": "a@b.c\n", "domains.txt": "b.c\n", "plans.json": '{"b.c": {"plan": "x"}}' } },
    );
    const hook = config.hooks[0]!;
    expect(hook.jsonnetFile).toBe(join(dir, "body.jsonnet"));
    expect(hook.rules[0]!.when).toEqual({ any: [{ field: "email", in_file: join(dir, "blocked.txt") }, { field: "email", domain_in_file: join(dir, "domains.txt") }] });
    expect(hook.enrich[0]!.lookup).toEqual({ field: "email", into: "metadata_public", key: "email_domain", file: join(dir, "plans.json") });
  });
});

describe("serve.retention and serve.admin", () => {
  const withServe = (serve: string) => MINIMAL.replace("hooks:\n", `serve:\n${serve}hooks:\n`);

  test("retention takes durations or forever; admin is off unless its listen is set", () => {
    const { config } = load(withServe("  retention: { done: 12h, dead: forever }\n  admin: { listen: 127.0.0.1:4460, token_env: ADMIN_TOKEN }\n"));
    expect(config.serve.retention).toEqual({ doneMs: 12 * 3_600_000, deadMs: null });
    expect(config.serve.admin).toEqual({ listen: "127.0.0.1:4460", tokenEnv: "ADMIN_TOKEN" });
    expect(load(withServe("  admin: { listen: \"off\", token_env: ADMIN_TOKEN }\n")).config.serve.admin).toBeUndefined();
  });

  test("an admin listen that is not host:port, or is serve.listen's address, is an error at its field", () => {
    const errorOf = (serve: string) => {
      try {
        load(withServe(serve));
      } catch (err) {
        return (err as ConfigErrors).errors.map((e) => `${e.path}: ${e.message}`);
      }
      return [];
    };
    expect(errorOf("  admin: { listen: nowhere, token_env: T }\n")).toEqual([expect.stringMatching(/^serve\.admin\.listen: .*'nowhere' is not host:port or off/)]);
    expect(errorOf("  listen: 127.0.0.1:4459\n  admin: { listen: 127.0.0.1:4459, token_env: T }\n")).toEqual([expect.stringMatching(/^serve\.admin\.listen: .*needs its own address/)]);
    expect(errorOf("  admin: { listen: 127.0.0.1:4460 }\n")).toEqual([expect.stringMatching(/^serve\.admin/)]);
  });

  test("a retention that is not a duration is an error at its line, naming the field", () => {
    let thrown: unknown;
    try {
      load(withServe("  retention:\n    done: 7 days\n"));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigErrors);
    const e = (thrown as ConfigErrors).errors[0]!;
    expect(e.path).toBe("serve.retention.done");
    expect(e.at!.line).toBe(7);
  });
});

describe("loadConfig errors", () => {
  test("a missing file is a UsageError (exit 2, like any command-line mistake), not an exception with a stack", () => {
    let thrown: unknown;
    try {
      loadConfig("/nonexistent/hooks.yaml");
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(UsageError);
    expect((thrown as UsageError).message).toBe("cannot read /nonexistent/hooks.yaml: no such file");
    expect((thrown as UsageError).hint).toBe("pass the path of your hooks.yaml with --config <file>");
  });

  test("a failed load leaves the shared model untouched (TypeBox's Check appends to the references it gets)", () => {
    const before = REFERENCED.map((s) => s.$id);
    expect(() => loadConfigText("kratos:\n  version: v26.2.0\nreceiver:\n  url: http://x\nhooks:\n  a:\n    on: login.after\n    skip_if: { any: [{ field: a }] }\n    mode: x\n", "h.yaml", { env: {} })).toThrow(ConfigErrors);
    expect(REFERENCED.map((s) => s.$id)).toEqual(before);
  });

  test("every TypeBox kind the model uses has its own friendly explanation", () => {
    const kinds = new Set<string>();
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) return v.forEach(walk);
      if (!v || typeof v !== "object") return;
      const kind = (v as Record<symbol, unknown>)[Kind];
      if (typeof kind === "string") kinds.add(kind);
      Object.values(v).forEach(walk);
    };
    walk([HooksFile, ...REFERENCED]);
    expect([...kinds].filter((k) => !(EXPLAINED_KINDS as readonly string[]).includes(k))).toEqual([]);
  });

  test("a tab used as indentation in the example is one error, not the parser's follow-on errors", () => {
    const lines = readFileSync(join(import.meta.dir, "../../config/hooks.yaml"), "utf8").split("\n");
    const i = lines.findIndex((l) => l === "    mode: notify");
    lines[i] = "\tmode: notify";
    let thrown: unknown;
    try {
      loadConfigText(lines.join("\n"), "hooks.yaml", { env: {} });
    } catch (err) {
      thrown = err;
    }
    expect((thrown as ConfigErrors).errors.map((e) => e.format())).toEqual([`hooks.yaml:${i + 1}:1: YAML: Tabs are not allowed as indentation\n  hint: indent with spaces, not tabs`]);
  });

  test("every error of a stage is reported, in file order", () => {
    let thrown: unknown;
    try {
      loadConfigText("kratos:\n  version: v26.2.0\n  colour: blue\nreceiver:\n  url: http://x\nhooks:\n  a:\n    on: login.aftr\n    mode: loud\n", "h.yaml", { env: {} });
    } catch (err) {
      thrown = err;
    }
    expect((thrown as ConfigErrors).errors.map((e) => `${e.at!.line}:${e.at!.col} ${e.path}`)).toEqual(["3:3 kratos.colour", "8:9 hooks.a.on", "9:11 hooks.a.mode"]);
  });
});
