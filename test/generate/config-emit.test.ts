// The generated Kratos config: valid for Kratos's own schema at each tag, and the list rules of
// CONTRACT §1.2, §1.3, §7, §8.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { generateFiles, KRATOS_CONFIG_FILE, ENV_FILE } from "../../src/commands/generate.ts";
import { ConfigError } from "../../src/errors.ts";
import type { ResolvedConfig } from "../../src/config/types.ts";
import { HOOK_LISTS_BY_TAG } from "../../src/kratos/hook-lists.data.ts";
import { SCHEMA_TESTED_TAGS } from "../../src/kratos/versions.ts";
import { readFileSync } from "node:fs";
import { loadConfig } from "../../src/config/load.ts";
import { parseVersion } from "../../src/kratos/versions.ts";
import { config, field, hook, REPO, schemaErrors } from "./helpers.ts";

const OUT = "/virtual/out";

function gen(cfg: ResolvedConfig) {
  const { files, lists } = generateFiles(cfg, { out: OUT, cwd: "/virtual" });
  const yamlText = files.get(join(OUT, KRATOS_CONFIG_FILE))!;
  return { files, lists, yamlText, yaml: parseYaml(yamlText) as any, env: files.get(join(OUT, ENV_FILE))! };
}

/** The items of one list, by key below selfservice.flows. */
function list(yaml: any, key: string): any[] | undefined {
  let node = yaml?.selfservice?.flows;
  for (const seg of key.split(".")) node = node?.[seg];
  return node?.hooks;
}

const apiKey = { type: "api_key" as const, in: "header" as const, name: "Authorization", value_prefix: "Bearer ", secret_env: "KRATOS_HOOKS_SECRET" };
const basic = { type: "basic_auth" as const, user: "kratos", password_env: "KRATOS_HOOKS_BASIC_PASSWORD" };

/** Hooks at every point in every mode, with auth, headers and built-ins: the widest config we emit. */
function wideConfig(version: string, extraKratos: Partial<ResolvedConfig["kratos"]> = {}) {
  const modern = version === "HEAD" || Number(version.slice(1).split(".")[0]) >= 25;
  return config(
    version,
    [
      hook("reg-before", "registration.before", { fields: [field("flow_id", "flow.id")], headers: { "X-Tenant": "1", "X-Flag": "true" } }),
      hook("gate", "registration.after", { methods: ["password"], mode: "interrupt", auth: apiKey }),
      hook("welcome", "registration.after", { auth: apiKey }),
      hook("plan", "registration.after", { mode: "enrich", auth: basic }),
      hook("login-before", "login.before", { mode: "interrupt", fields: [field("flow_id", "flow.id")] }),
      hook("login-gate", "login.after", { mode: "interrupt", auth: apiKey }),
      hook("login-audit", "login.after", { methods: ["password", "code"], wait: true }),
      hook("settings-before", "settings.before", { fields: [field("flow_id", "flow.id")] }),
      hook("settings-enrich", "settings.after", { methods: ["profile", "password"], mode: "enrich" }),
      hook("recovery-before", "recovery.before", { fields: [field("flow_id", "flow.id")] }),
      hook("recovered", "recovery.after", { mode: "interrupt", auth: basic }),
      hook("verification-before", "verification.before", { fields: [field("flow_id", "flow.id")] }),
      hook("verified", "verification.after", { auth: apiKey }),
    ],
    {
      emitAnalyticsEvent: true,
      builtinHooks: {
        "registration.after.password": [{ hook: "session" }, { hook: "show_verification_ui" }],
        "registration.after.oidc": [{ hook: "session" }],
        "login.after.password": [{ hook: "require_verified_address" }, { hook: "revoke_active_sessions" }],
        "settings.after.password": [{ hook: "revoke_active_sessions" }],
      },
      ...(modern ? { headerAllowlist: ["User-Agent", "Accept-Language", "X-Request-Id"] } : {}),
      ...extraKratos,
    },
  );
}

describe("Kratos's own config schema accepts what we generate", () => {
  test("the committed jsonnet/kratos-hooks.kratos.yml for config/hooks.yaml (v26.2.0)", () => {
    expect(schemaErrors("v26.2.0", readFileSync(join(REPO, "jsonnet", KRATOS_CONFIG_FILE), "utf8"))).toEqual([]);
  });
  for (const tag of SCHEMA_TESTED_TAGS) {
    test(`config/hooks.yaml retargeted at ${tag}`, () => {
      const example = loadConfig(join(REPO, "config/hooks.yaml"));
      const retargeted = { ...example, kratos: { ...example.kratos, version: parseVersion(tag)! } };
      expect(schemaErrors(tag, gen(retargeted).yamlText)).toEqual([]);
    });
  }
  for (const tag of SCHEMA_TESTED_TAGS) {
    test(`every point and mode, file bodies (${tag})`, () => {
      expect(schemaErrors(tag, gen(wideConfig(tag)).yamlText)).toEqual([]);
    });
    test(`inline base64 bodies (${tag})`, () => {
      expect(schemaErrors(tag, gen(wideConfig(tag, { body: { kind: "inline" } })).yamlText)).toEqual([]);
    });
    test(`hooks without methods next to per-method built-ins (${tag})`, () => {
      const cfg = config(tag, [hook("n", "registration.after"), hook("i", "registration.after", { mode: "interrupt" }), hook("l", "login.after", { mode: "interrupt" })], {
        builtinHooks: { "registration.after.password": [{ hook: "session" }], "registration.after.webauthn": [{ hook: "session" }] },
      });
      expect(schemaErrors(tag, gen(cfg).yamlText)).toEqual([]);
    });
  }

  test("the validator is real: it rejects an unknown key and `id` before v25.4.0", () => {
    const { yaml, yamlText: text } = gen(wideConfig("v26.2.0"));
    list(yaml, "recovery.after")![0].config.timeout = "5s";
    // JSON is YAML.
    expect(schemaErrors("v26.2.0", JSON.stringify(yaml))).not.toEqual([]);
    expect(schemaErrors("v1.3.1", text)).not.toEqual([]);
  });

  test("why --into refuses only a newer target: lists for v1.3.1 fit Kratos v26.2.0's schema, lists for v26.2.0 do not fit v1.3.1's", () => {
    expect(schemaErrors("v26.2.0", gen(wideConfig("v1.3.1")).yamlText)).toEqual([]);
    expect(schemaErrors("v1.3.1", gen(wideConfig("v26.2.0")).yamlText)).not.toEqual([]);
  });
});

describe("older versions, checked against the hook lists of their schema (CONTRACT §1.1)", () => {
  for (const tag of ["v1.0.0", "v1.1.0", "v1.2.0"]) {
    test(`every list exists and allows its hooks, no key newer than ${tag}`, () => {
      const cfg = config(
        tag,
        [
          hook("gate", "registration.after", { methods: ["password"], mode: "interrupt", auth: apiKey }),
          hook("welcome", "registration.after", { auth: basic }),
          hook("audit", "login.after", { methods: ["password"] }),
          hook("recovered", "recovery.after", { mode: "interrupt" }),
          hook("settings", "settings.after", { methods: ["profile"], mode: "enrich" }),
        ],
        { builtinHooks: { "registration.after.password": [{ hook: "session" }], "login.after.password": [{ hook: "revoke_active_sessions" }] } },
      );
      const { lists, yamlText } = gen(cfg);
      const allowed = HOOK_LISTS_BY_TAG[tag]!;
      for (const [key, entries] of lists) {
        expect(allowed[key]).toBeDefined();
        for (const e of entries) expect(allowed[key]).toContain(e.item.hook);
      }
      expect(yamlText).not.toContain("id: ");
      expect(yamlText).not.toContain("headers:");
      expect(yamlText).not.toContain("emit_analytics_event");
    });
  }

  test("a per-method list the version lacks is a config error (code needs v1.1.0)", () => {
    expect(() => gen(config("v1.0.0", [hook("a", "login.after", { methods: ["code"] })]))).toThrow(ConfigError);
  });
});

describe("list rules", () => {
  test("a hook with methods goes to each per-method list, not the flow-level list (CONTRACT §1.2)", () => {
    const { yaml } = gen(config("v26.2.0", [hook("w", "registration.after", { methods: ["password", "oidc"] })]));
    expect(list(yaml, "registration.after.password")!.map((i) => i.config.id)).toEqual(["w"]);
    expect(list(yaml, "registration.after.oidc")!.map((i) => i.config.id)).toEqual(["w"]);
    expect(list(yaml, "registration.after")).toBeUndefined();
  });

  test("a notify hook without methods goes to the flow-level list and every managed per-method list (CONTRACT §8.6)", () => {
    const { yaml } = gen(
      config("v26.2.0", [hook("audit", "login.after"), hook("pw", "login.after", { methods: ["password"] })], { builtinHooks: { "login.after.oidc": [{ hook: "revoke_active_sessions" }] } }),
    );
    expect(list(yaml, "login.after")!.map((i) => i.config?.id)).toEqual(["audit"]);
    expect(list(yaml, "login.after.password")!.map((i) => i.config?.id)).toEqual(["audit", "pw"]);
    expect(list(yaml, "login.after.oidc")!.map((i) => i.hook)).toEqual(["revoke_active_sessions", "web_hook"]);
    expect(list(yaml, "login.after.webauthn")).toBeUndefined();
  });

  test("blocking hooks at registration/settings after go only to per-method lists (CONTRACT §1.2, §8.6)", () => {
    const managed = gen(config("v26.2.0", [hook("gate", "registration.after", { mode: "interrupt" })], { builtinHooks: { "registration.after.password": [{ hook: "session" }] } })).yaml;
    expect(list(managed, "registration.after")).toBeUndefined();
    expect(list(managed, "registration.after.password")!.map((i) => i.hook)).toEqual(["web_hook", "session"]);
    // With no per-method list managed, every per-method list of the version gets it.
    const all = gen(config("v26.2.0", [hook("plan", "settings.after", { mode: "enrich" })])).yaml;
    expect(list(all, "settings.after")).toBeUndefined();
    expect(Object.keys(all.selfservice.flows.settings.after).sort()).toEqual(["lookup_secret", "oidc", "passkey", "password", "profile", "totp", "webauthn"]);
  });

  test("a blocking hook at login.after without methods stays flow-level too (login falls back to it)", () => {
    const { yaml } = gen(config("v26.2.0", [hook("gate", "login.after", { mode: "interrupt" })]));
    expect(list(yaml, "login.after")!.map((i) => i.config.id)).toEqual(["gate"]);
  });

  test("session goes last and built-ins keep their relative order (CONTRACT §1.3, §8.7)", () => {
    const { yaml } = gen(
      config("v1.0.0", [hook("w", "registration.after", { methods: ["password"] })], { builtinHooks: { "registration.after.password": [{ hook: "session" }, { hook: "show_verification_ui" }] } }),
    );
    expect(list(yaml, "registration.after.password")!.map((i) => i.hook)).toEqual(["show_verification_ui", "web_hook", "session"]);
  });

  test("no two identical items in one list (uniqueItems)", () => {
    const { yaml } = gen(
      config("v26.2.0", [hook("w", "login.after", { methods: ["password"] })], {
        builtinHooks: { "login.after.password": [{ hook: "revoke_active_sessions" }, { hook: "revoke_active_sessions" }] },
      }),
    );
    expect(list(yaml, "login.after.password")!.map((i) => i.hook)).toEqual(["revoke_active_sessions", "web_hook"]);
  });

  test("a built-in the list does not allow is a config error", () => {
    expect(() => gen(config("v26.2.0", [], { builtinHooks: { "registration.after": [{ hook: "session" }] } }))).toThrow(ConfigError);
  });

  test("modes map to response/can_interrupt and never combine ignore with parse (CONTRACT §8.5)", () => {
    const { yaml } = gen(
      config("v26.2.0", [
        hook("n", "recovery.after"),
        hook("nw", "verification.after", { wait: true }),
        hook("reg", "registration.after", { methods: ["password"], mode: "interrupt" }),
        hook("set", "settings.after", { methods: ["profile"], mode: "interrupt" }),
        hook("log", "login.after", { methods: ["password"], mode: "interrupt" }),
        hook("rb", "registration.before", { mode: "interrupt", fields: [field("flow_id", "flow.id")] }),
        hook("en", "registration.after", { methods: ["oidc"], mode: "enrich" }),
      ]),
    );
    const cfgOf = (key: string) => list(yaml, key)![0].config;
    expect(cfgOf("recovery.after").response).toEqual({ ignore: true });
    expect(cfgOf("verification.after").response).toBeUndefined();
    expect(cfgOf("registration.after.password").response).toEqual({ parse: true });
    expect(cfgOf("registration.after.password").can_interrupt).toBeUndefined();
    expect(cfgOf("settings.after.profile").response).toEqual({ parse: true });
    expect(cfgOf("login.after.password")).toMatchObject({ can_interrupt: true });
    expect(cfgOf("login.after.password").response).toBeUndefined();
    expect(cfgOf("registration.before")).toMatchObject({ can_interrupt: true });
    expect(cfgOf("registration.after.oidc").response).toEqual({ parse: true });
  });

  test("auth carries a placeholder, never the secret (CONTRACT §2.3, §7)", () => {
    const saved = process.env.KRATOS_HOOKS_SECRET;
    process.env.KRATOS_HOOKS_SECRET = "s3cr3t-value-never-written";
    const { files, yaml } = gen(config("v26.2.0", [hook("a", "recovery.after", { auth: apiKey }), hook("b", "verification.after", { auth: basic })]));
    expect(list(yaml, "recovery.after")![0].config.auth).toEqual({ type: "api_key", config: { name: "Authorization", in: "header", value: "set-by-env" } });
    expect(list(yaml, "verification.after")![0].config.auth).toEqual({ type: "basic_auth", config: { user: "kratos", password: "set-by-env" } });
    for (const text of files.values()) expect(text).not.toContain("s3cr3t-value-never-written");
    if (saved === undefined) delete process.env.KRATOS_HOOKS_SECRET;
    else process.env.KRATOS_HOOKS_SECRET = saved;
  });

  test("body is file:///<file_dir>/<hook>.jsonnet, or standard padded base64 inline (CONTRACT §2.4)", () => {
    const file = gen(config("v26.2.0", [hook("ab", "recovery.after")])).yaml;
    expect(list(file, "recovery.after")![0].config.body).toBe("file:///etc/config/kratos/hooks/ab.jsonnet");
    const { yaml, files } = gen(config("v26.2.0", [hook("ab", "recovery.after")], { body: { kind: "inline" } }));
    const body = list(yaml, "recovery.after")![0].config.body as string;
    expect(body).toMatch(/^base64:\/\/[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(body.slice("base64://".length), "base64").toString("utf8")).toBe(files.get(join(OUT, "ab.jsonnet"))!);
  });

  test("numeric- and boolean-looking strings are quoted and read back as strings (CONTRACT §8.4)", () => {
    const { yaml, yamlText } = gen(config("v26.2.0", [hook("h", "recovery.after", { headers: { "X-Tenant": "1", "X-On": "yes", "X-Flag": "true" } })]));
    expect(yamlText).toContain('X-Tenant: "1"');
    expect(yamlText).toContain('X-On: "yes"');
    expect(list(yaml, "recovery.after")![0].config.headers).toEqual({ "X-Flag": "true", "X-On": "yes", "X-Tenant": "1" });
  });

  test("each generated file starts with a do-not-edit header naming hooks.yaml by its name", () => {
    for (const text of gen(wideConfig("v26.2.0")).files.values()) expect(text.split("\n")[0]).toMatch(/^(#|\/\/) Generated by kratos-hooks from hooks\.yaml\b.*Do not edit\.$/);
  });
});

describe("version gates (CONTRACT §8.1)", () => {
  test("id is set to the hook name from v25.4.0 on, and absent before", () => {
    expect(list(gen(config("v25.4.0", [hook("a", "recovery.after")])).yaml, "recovery.after")![0].config.id).toBe("a");
    expect(list(gen(config("v1.3.1", [hook("a", "recovery.after")])).yaml, "recovery.after")![0].config.id).toBeUndefined();
  });
  test("headers need v1.2.0", () => {
    expect(() => gen(config("v1.1.0", [hook("a", "recovery.after", { headers: { "X-A": "b" } })]))).toThrow(ConfigError);
    expect(list(gen(config("v1.2.0", [hook("a", "recovery.after", { headers: { "X-A": "b" } })])).yaml, "recovery.after")![0].config.headers).toEqual({ "X-A": "b" });
  });
  test("emit_analytics_event needs v1.1.0", () => {
    expect(() => gen(config("v1.0.0", [hook("a", "recovery.after")], { emitAnalyticsEvent: false }))).toThrow(ConfigError);
    expect(list(gen(config("v1.1.0", [hook("a", "recovery.after")], { emitAnalyticsEvent: false })).yaml, "recovery.after")![0].config.emit_analytics_event).toBe(false);
  });
  test("clients.web_hook.header_allowlist needs v25.4.0", () => {
    expect(() => gen(config("v1.3.1", [], { headerAllowlist: ["User-Agent"] }))).toThrow(ConfigError);
    expect(gen(config("v25.4.0", [], { headerAllowlist: ["User-Agent"] })).yaml.clients).toEqual({ web_hook: { header_allowlist: ["User-Agent"] } });
  });
});

describe("env var names (CONTRACT §7)", () => {
  test("one line per secret: the upper-cased path with the final list index, set by reference", () => {
    const { env } = gen(
      config(
        "v26.2.0",
        [
          hook("welcome", "registration.after", { methods: ["password"], auth: apiKey }),
          hook("sync", "settings.after", { methods: ["profile"], auth: basic }),
          hook("rec", "recovery.after", { auth: { ...apiKey, value_prefix: 'a"$`\\' } }),
        ],
        { builtinHooks: { "registration.after.password": [{ hook: "show_verification_ui" }, { hook: "session" }] } },
      ),
    );
    expect(env.split("\n").filter((l) => l && !l.startsWith("#"))).toEqual([
      'SELFSERVICE_FLOWS_REGISTRATION_AFTER_PASSWORD_HOOKS_1_CONFIG_AUTH_CONFIG_VALUE="Bearer ${KRATOS_HOOKS_SECRET}"',
      'SELFSERVICE_FLOWS_SETTINGS_AFTER_PROFILE_HOOKS_0_CONFIG_AUTH_CONFIG_PASSWORD="${KRATOS_HOOKS_BASIC_PASSWORD}"',
      'SELFSERVICE_FLOWS_RECOVERY_AFTER_HOOKS_0_CONFIG_AUTH_CONFIG_VALUE="a\\"\\$\\`\\\\${KRATOS_HOOKS_SECRET}"',
    ]);
  });

  test("Kratos's own matching (lower-case, `_` → `.` on both sides, numbers as indices) lands each name on its placeholder", () => {
    const { env, yaml } = gen(wideConfig("v26.2.0"));
    const leaves = new Map<string, unknown>();
    const walk = (v: unknown, path: string[]) => {
      if (v && typeof v === "object") for (const [k, c] of Object.entries(v)) walk(c, [...path, k]);
      else leaves.set(path.join(".").replaceAll("_", "."), v);
    };
    walk(yaml, []);
    const names = env.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.slice(0, l.indexOf("=")));
    expect(names.length).toBe(11);
    for (const name of names) expect({ name, value: leaves.get(name.toLowerCase().replaceAll("_", ".")) }).toEqual({ name, value: "set-by-env" });
  });

  test("the env file expands, under sh, to the prefixed secret at the index of the item", () => {
    const { env, yaml } = gen(config("v26.2.0", [hook("a", "login.after", { methods: ["password"], auth: apiKey })], { builtinHooks: { "login.after.password": [{ hook: "revoke_active_sessions" }] } }));
    const r = Bun.spawnSync(["sh", "-c", `set -a; . /dev/stdin; env`], { stdin: new TextEncoder().encode(env), env: { PATH: process.env.PATH!, KRATOS_HOOKS_SECRET: "tok" } });
    const line = r.stdout.toString().split("\n").find((l) => l.startsWith("SELFSERVICE_"));
    expect(line).toBe("SELFSERVICE_FLOWS_LOGIN_AFTER_PASSWORD_HOOKS_1_CONFIG_AUTH_CONFIG_VALUE=Bearer tok");
    expect(list(yaml, "login.after.password")![1].config.auth.config.value).toBe("set-by-env");
  });
});

test("generate is deterministic: two runs give the same bytes", () => {
  const a = gen(wideConfig("v26.2.0")).files;
  const b = gen(wideConfig("v26.2.0")).files;
  expect([...b]).toEqual([...a]);
});
