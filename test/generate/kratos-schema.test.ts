// Kratos's own config schemas ship inside kratos-hooks: generate validates its output against the
// target version's schema, `check --kratos-config` validates a whole kratos.yml with the generated
// lists in it, and `generate --into` keeps Kratos's private-IP guard from refusing the receiver.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ConfigErrors } from "../../src/errors.ts";
import { kratosValidator, MINIMAL_KRATOS_CONFIG } from "../../src/kratos/kratos-schema.ts";
import { validateGenerated } from "../../src/kratos/validate-output.ts";
import { globMatcher } from "../../src/kratos/private-ip.ts";
import { validatorSource, VALIDATOR_DECLARATION } from "../../src/kratos/schema-validators.ts";
import { KNOWN_TAGS } from "../../src/kratos/versions.ts";
import { loadConfig } from "../../src/config/load.ts";
import { config, hook, REPO, SCHEMA_DIR, specDir, tempDir } from "./helpers.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function dir(): string {
  const d = tempDir("kh-kschema-");
  dirs.push(d);
  return d;
}

function cli(args: string[], env: Record<string, string> = {}): { code: number; out: string; err: string } {
  const r = Bun.spawnSync(["bun", join(REPO, "src/cli.ts"), ...args], { cwd: REPO, env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/tmp", ...env } });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

/** A kratos.yml Kratos accepts, apart from what a test adds. */
const KRATOS_YML = `version: v26.2.0
dsn: memory
serve:
  public:
    base_url: http://127.0.0.1:4433/
identity:
  default_schema_id: default
  schemas:
    - id: default
      url: file:///etc/config/kratos/identity.schema.json
selfservice:
  default_browser_return_url: http://127.0.0.1:4455/
  flows:
    registration:
      after:
        password:
          hooks:
            - hook: session
`;

describe("the embedded schemas", () => {
  test("one per supported version, with Kratos's license beside them", () => {
    for (const tag of KNOWN_TAGS) expect(existsSync(join(SCHEMA_DIR, `config.schema.${tag}.json`))).toBe(true);
    expect(readFileSync(join(SCHEMA_DIR, "LICENSE.kratos"), "utf8")).toContain("Apache License");
  });

  test("byte-identical to the spec data beside the repository, when it is there", () => {
    const spec = specDir();
    if (!spec) {
      console.warn("no Kratos spec data beside this clone: nothing to compare the embedded schemas with");
      return;
    }
    const files = readdirSync(SCHEMA_DIR).filter((f) => (f.endsWith(".json") && !f.startsWith("validate-")) || f === "LICENSE.kratos");
    expect(files.length).toBe(KNOWN_TAGS.length + 3);
    for (const f of files) expect(readFileSync(join(SCHEMA_DIR, f), "utf8")).toBe(readFileSync(join(spec, f), "utf8"));
  });

  for (const tag of KNOWN_TAGS) {
    test(`${tag}: the whole schema and generate's precompiled part accept a minimal config and reject an unknown web_hook key`, async () => {
      const bad = { ...MINIMAL_KRATOS_CONFIG, selfservice: { ...MINIMAL_KRATOS_CONFIG.selfservice, flows: { login: { after: { hooks: [{ hook: "web_hook", config: { url: "http://h/x", method: "POST", timeout: 3 } }] } } } } };
      for (const scope of ["full", "hooks"] as const) {
        const v = await kratosValidator(tag, scope);
        expect(v.validate(MINIMAL_KRATOS_CONFIG)).toEqual([]);
        expect(v.validate(bad).some((i) => i.path.join(".") === "selfservice.flows.login.after.hooks.0.config" && i.message.includes("'timeout'"))).toBe(true);
      }
    });
  }

  test("the precompiled validators are what src/kratos/schema-validators.ts makes of the embedded schemas", async () => {
    for (const tag of KNOWN_TAGS) {
      expect(readFileSync(join(SCHEMA_DIR, `validate-hooks.${tag}.js`), "utf8")).toBe(await validatorSource(tag));
      expect(readFileSync(join(SCHEMA_DIR, `validate-hooks.${tag}.d.ts`), "utf8")).toBe(VALIDATOR_DECLARATION);
    }
  });
});

describe("generate validates its output before it writes", () => {
  test("lists Kratos's schema rejects are refused, naming the path", async () => {
    const cfg = config("v1.1.0", [hook("a", "login.after")]);
    const lists = new Map([["login.after", [{ item: { hook: "web_hook", config: { url: "http://127.0.0.1:4459/hooks/a", method: "POST", body: "base64://e30=", headers: { "X-A": "b" } } } }]]]);
    const err = await validateGenerated(cfg, lists as never).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigErrors);
    expect((err as ConfigErrors).errors[0]!.format()).toContain("selfservice.flows.login.after.hooks[0].config: the generated config does not validate against Kratos v1.1.0's config schema: must NOT have additional properties: 'headers'");
    // headers are fine from v1.2.0 on
    await validateGenerated(config("v1.2.0", [hook("a", "login.after")]), lists as never);
  });

  test("the example generates, validated, for its version", () => {
    const out = dir();
    const r = cli(["generate", "--config", "config/hooks.yaml", "--out", out]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(readFileSync(join(out, "kratos-hooks.kratos.yml"), "utf8")).toBe(readFileSync(join(REPO, "jsonnet/kratos-hooks.kratos.yml"), "utf8"));
  });
});

describe("check --kratos-config", () => {
  test("a valid kratos.yml passes with the generated lists in it", () => {
    const d = dir();
    writeFileSync(join(d, "kratos.yml"), KRATOS_YML);
    // The example's secrets set, so check has no warning to print.
    const r = cli(["check", "--config", "config/hooks.yaml", "--kratos-config", join(d, "kratos.yml")], { KRATOS_HOOKS_SECRET: "s", KRATOS_HOOKS_BASIC_PASSWORD: "p", CRM_TOKEN: "t" });
    expect(r.err).toBe("");
    expect(r.out).toContain("ok with the generated hook lists");
    expect(r.code).toBe(0);
    expect(readFileSync(join(d, "kratos.yml"), "utf8")).toBe(KRATOS_YML);
  });

  test("a key Kratos rejects is an error at its kratos.yml line", () => {
    const d = dir();
    writeFileSync(join(d, "kratos.yml"), KRATOS_YML.replace("    base_url: http://127.0.0.1:4433/\n", "    base_url: http://127.0.0.1:4433/\n    cors: { enabled: yes-please }\n"));
    const r = cli(["check", "--config", "config/hooks.yaml", "--kratos-config", join(d, "kratos.yml")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${join(d, "kratos.yml")}:6:13: serve.public.cors.enabled: Kratos v26.2.0 rejects this: must be boolean`);
    expect(r.err).not.toContain("    at ");
  });

  test("a required key is fine when its env var supplies it, as Kratos applies env overrides first", () => {
    const d = dir();
    writeFileSync(join(d, "kratos.yml"), KRATOS_YML.replace("dsn: memory\n", ""));
    const without = cli(["check", "--config", "config/hooks.yaml", "--kratos-config", join(d, "kratos.yml")]);
    expect(without.code).toBe(1);
    expect(without.err).toContain("(top level): Kratos v26.2.0 rejects this: must have required property 'dsn'");
    expect(cli(["check", "--config", "config/hooks.yaml", "--kratos-config", join(d, "kratos.yml")], { DSN: "memory" }).code).toBe(0);
  });

  test("a hook list the user's version lacks is caught in the merged file", () => {
    const d = dir();
    // A v1.0.0 target with a foreign web_hook in a list v1.0.0 does not have.
    writeFileSync(join(d, "kratos.yml"), `${KRATOS_YML}    login:\n      after:\n        code:\n          hooks: []\n`);
    const hooks = join(d, "hooks.yaml");
    writeFileSync(hooks, readFileSync(join(REPO, "config/hooks.yaml"), "utf8").replace("version: v26.2.0", "version: v1.0.0").replace(/\n {2}login-audit:[\s\S]*?(?=\n {2}profile-sync:)/, "").replace("    login.after.password: [require_verified_address]\n", "").replace(/methods: \[password, oidc\]/g, "methods: [password]"));
    const r = cli(["check", "--config", hooks, "--kratos-config", join(d, "kratos.yml")], { KRATOS_HOOKS_SECRET: "x", KRATOS_HOOKS_BASIC_PASSWORD: "x", CRM_TOKEN: "x" });
    expect(r.err).toContain(`${join(d, "kratos.yml")}:21:9: selfservice.flows.login.after: Kratos v1.0.0 rejects this: must NOT have additional properties: 'code'`);
    expect(r.code).toBe(1);
  });
});

describe("the private-IP guard", () => {
  const GUARDED = `${KRATOS_YML}clients:\n  http:\n    disallow_private_ip_ranges: true  # Ory's advice for production\n`;

  test("check --kratos-config reports each hook URL the exceptions do not cover", () => {
    const d = dir();
    writeFileSync(join(d, "kratos.yml"), `${GUARDED}    private_ip_exception_urls: ["http://127.0.0.1:4459/hooks/{welcome,plan}"]\n`);
    const r = cli(["check", "--config", "config/hooks.yaml", "--kratos-config", join(d, "kratos.yml")]);
    expect(r.code).toBe(1);
    const reported = [...r.err.matchAll(/and (http:\S+) is not in private_ip_exception_urls/g)].map((m) => m[1]);
    expect(reported).toEqual(["signup-gate", "login-audit", "profile-sync", "recovered", "verified"].map((h) => `http://127.0.0.1:4459/hooks/${h}`));
    expect(r.err).toContain("docs/kratos.md#private-ip-guard");
  });

  test("generate --into adds each hook URL exactly, keeps the file's other bytes, and a re-run changes nothing", () => {
    const d = dir();
    const file = join(d, "kratos.yml");
    writeFileSync(file, GUARDED);
    const r = cli(["generate", "--config", "config/hooks.yaml", "--out", join(d, "bodies"), "--into", file]);
    expect(r.code).toBe(0);
    const text = readFileSync(file, "utf8");
    expect(text).toContain("    disallow_private_ip_ranges: true  # Ory's advice for production\n    private_ip_exception_urls:\n      - http://127.0.0.1:4459/hooks/welcome\n      - http://127.0.0.1:4459/hooks/signup-gate\n");
    const config = loadConfig(join(REPO, "config/hooks.yaml"), { env: {} });
    for (const h of config.hooks) expect(text).toContain(`      - ${h.url}\n`);
    expect(cli(["check", "--config", "config/hooks.yaml", "--kratos-config", file]).code).toBe(0);
    cli(["generate", "--config", "config/hooks.yaml", "--out", join(d, "bodies"), "--into", file]);
    expect(readFileSync(file, "utf8")).toBe(text);
  });

  test("entries the user had stay, and a glob already covering a URL is respected", () => {
    const d = dir();
    const file = join(d, "kratos.yml");
    writeFileSync(file, `${GUARDED}    private_ip_exception_urls:\n      - http://10.0.0.5/internal\n      - http://127.0.0.1:4459/hooks/*\n`);
    expect(cli(["generate", "--config", "config/hooks.yaml", "--out", join(d, "bodies"), "--into", file]).code).toBe(0);
    expect(readFileSync(file, "utf8")).toContain("    private_ip_exception_urls:\n      - http://10.0.0.5/internal\n      - http://127.0.0.1:4459/hooks/*\n");
  });

  test("without the guard nothing is added", () => {
    const d = dir();
    const file = join(d, "kratos.yml");
    writeFileSync(file, KRATOS_YML);
    cli(["generate", "--config", "config/hooks.yaml", "--out", join(d, "bodies"), "--into", file]);
    expect(readFileSync(file, "utf8")).not.toContain("private_ip_exception_urls");
  });

  test("exception globs: '.' and '/' separate, ** crosses them", () => {
    const m = globMatcher("http://kratos-hooks:4459/hooks/*");
    expect(m("http://kratos-hooks:4459/hooks/welcome")).toBe(true);
    expect(m("http://kratos-hooks:4459/hooks/a/b")).toBe(false);
    expect(m("http://kratos-hooks:4459/kh/hooks/welcome")).toBe(false);
    expect(globMatcher("http://*:4459/hooks/welcome")("http://kratos-hooks:4459/hooks/welcome")).toBe(true);
    expect(globMatcher("http://*:4459/hooks/welcome")("http://hooks.internal:4459/hooks/welcome")).toBe(false);
    expect(globMatcher("http://**/welcome")("http://hooks.internal:4459/hooks/welcome")).toBe(true);
    expect(globMatcher("http://h/hooks/{a,b}")("http://h/hooks/b")).toBe(true);
    expect(globMatcher("http://h/hooks/?")("http://h/hooks/ab")).toBe(false);
    expect(globMatcher("http://h/hooks/[!a]")("http://h/hooks/b")).toBe(true);
    expect(globMatcher("http://h/hooks/a")("http://h/hooks/A")).toBe(false);
  });
});
