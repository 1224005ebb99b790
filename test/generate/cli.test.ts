// `kratos-hooks generate` and `render` as a user runs them: real files in a temp dir, the real
// jsonnet CLI, exit codes and output.
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ctxFixture, FIXTURES, REPO, tempDir } from "./helpers.ts";

function cli(args: string[], env: Record<string, string | undefined> = {}, cwd = REPO) {
  const r = Bun.spawnSync([process.execPath, join(REPO, "src/cli.ts"), ...args], { cwd, env: { ...process.env, ...env } });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

function readDir(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f), "utf8")]));
}

/** The example hooks.yaml in a temp dir, so tests can edit it and its outputs. */
function exampleCopy(): { dir: string; config: string; out: string } {
  const dir = tempDir();
  copyFileSync(join(REPO, "config/hooks.yaml"), join(dir, "hooks.yaml"));
  return { dir, config: join(dir, "hooks.yaml"), out: join(dir, "out") };
}

describe("generate", () => {
  test("the committed jsonnet/ is what generate writes for config/hooks.yaml", () => {
    const r = cli(["generate", "--config", "config/hooks.yaml", "--out", "jsonnet", "--check"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
  });

  test("two runs give the same bytes, and --check passes on fresh output", () => {
    const { config, out } = exampleCopy();
    expect(cli(["generate", "--config", config, "--out", out]).code).toBe(0);
    const first = readDir(out);
    expect(Object.keys(first)).toEqual(["kratos-hooks.env", "kratos-hooks.kratos.yml", "login-audit.jsonnet", "plan.jsonnet", "profile-sync.jsonnet", "recovered.jsonnet", "signup-gate.jsonnet", "verified.jsonnet", "welcome.jsonnet"]);
    expect(cli(["generate", "--config", config, "--out", out]).code).toBe(0);
    expect(readDir(out)).toEqual(first);
    expect(cli(["generate", "--config", config, "--out", out, "--check"]).code).toBe(0);
  });

  test("--check fails with a unified diff after an edit, and generate repairs it", () => {
    const { config, out } = exampleCopy();
    cli(["generate", "--config", config, "--out", out]);
    const file = join(out, "welcome.jsonnet");
    writeFileSync(file, readFileSync(file, "utf8").replace("flow_id: ctx.flow.id,", "flow_id: ctx.flow.id, hacked: true,"));
    const r = cli(["generate", "--config", config, "--out", out, "--check"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("welcome.jsonnet (on disk)");
    expect(r.out).toMatch(/^@@ -\d+,\d+ \+\d+,\d+ @@$/m);
    expect(r.out).toContain("-    flow_id: ctx.flow.id, hacked: true,\n+    flow_id: ctx.flow.id,\n");
    expect(r.err).toContain("1 file(s) out of date");
    expect(cli(["generate", "--config", config, "--out", out]).code).toBe(0);
    expect(cli(["generate", "--config", config, "--out", out, "--check"]).code).toBe(0);
  });

  test("a body left from a removed hook is reported by --check and removed by generate", () => {
    const { config, out } = exampleCopy();
    cli(["generate", "--config", config, "--out", out]);
    writeFileSync(join(out, "gone.jsonnet"), readFileSync(join(out, "plan.jsonnet"), "utf8"));
    writeFileSync(join(out, "mine.jsonnet"), "function(ctx) {}\n");
    const r = cli(["generate", "--config", config, "--out", out, "--check"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("+++ /dev/null");
    cli(["generate", "--config", config, "--out", out]);
    expect(readdirSync(out)).not.toContain("gone.jsonnet");
    expect(readdirSync(out)).toContain("mine.jsonnet");
  });

  test("--body-dir overrides kratos.body.file_dir", () => {
    const { config, out } = exampleCopy();
    expect(cli(["generate", "--config", config, "--out", out, "--body-dir", "/srv/kratos/bodies"]).code).toBe(0);
    expect(readFileSync(join(out, "kratos-hooks.kratos.yml"), "utf8")).toContain("body: file:///srv/kratos/bodies/welcome.jsonnet");
    const r = cli(["generate", "--config", config, "--out", out, "--body-dir", "relative/dir"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--body-dir must be an absolute path");
  });

  test("--into updates a kratos.yml in place; a second run and --check find nothing to do; drift is reported", () => {
    const { dir, config, out } = exampleCopy();
    const kratos = join(dir, "kratos.yml");
    copyFileSync(join(FIXTURES, "kratos.yml"), kratos);
    expect(cli(["generate", "--config", config, "--out", out, "--into", kratos, "--check"]).code).toBe(1);
    expect(cli(["generate", "--config", config, "--out", out, "--into", kratos]).code).toBe(0);
    const once = readFileSync(kratos, "utf8");
    expect(once).toContain("url: http://127.0.0.1:4459/hooks/welcome");
    expect(readdirSync(out)).not.toContain("kratos-hooks.kratos.yml");
    expect(readFileSync(join(out, "kratos-hooks.env"), "utf8")).toContain("SELFSERVICE_FLOWS_REGISTRATION_AFTER_PASSWORD_HOOKS_2_CONFIG_AUTH_CONFIG_VALUE=\"Bearer ${KRATOS_HOOKS_SECRET}\"");
    const again = cli(["generate", "--config", config, "--out", out, "--into", kratos]);
    expect(again.code).toBe(0);
    expect(again.out).toBe(`generate: 9 files (0 changed), ${kratos} unchanged\n`);
    expect(readFileSync(kratos, "utf8")).toBe(once);
    expect(cli(["generate", "--config", config, "--out", out, "--into", kratos, "--check"]).code).toBe(0);
    writeFileSync(kratos, once.replace("url: http://127.0.0.1:4459/hooks/plan", "url: http://127.0.0.1:4459/hooks/plan2"));
    const r = cli(["generate", "--config", config, "--out", out, "--into", kratos, "--check"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("+                url: http://127.0.0.1:4459/hooks/plan\n");
  });

  test("--into refuses a kratos.yml whose own version: follows other rules than kratos.version", () => {
    const { dir, config, out } = exampleCopy();
    const kratos = join(dir, "kratos.yml");
    const text = readFileSync(join(FIXTURES, "kratos.yml"), "utf8").replace("version: v26.2.0", "version: v1.1.0");
    writeFileSync(kratos, text);
    const r = cli(["generate", "--config", config, "--out", out, "--into", kratos]);
    expect(r.code).toBe(2);
    expect(r.err).toStartWith(`kratos-hooks: ${kratos} is for Kratos v1.1.0, but hooks.yaml targets v26.2.0: the generated lists would hold keys that Kratos v1.1.0 rejects\n  hint: set kratos.version`);
    expect(readFileSync(kratos, "utf8")).toBe(text);
    writeFileSync(kratos, text.replace("v1.1.0", "v26.2.0"));
    expect(cli(["generate", "--config", config, "--out", out, "--into", kratos]).code).toBe(0);
  });

  test("--into with a target older than the file's version (v1.3.0 target, v1.3.1 file): a warning, and the lists are written", () => {
    const dir = tempDir();
    const config = join(dir, "hooks.yaml");
    writeFileSync(config, "kratos: { version: v1.3.0 }\nreceiver: { url: http://127.0.0.1:4459 }\nhooks:\n  recovered:\n    on: recovery.after\n    auth: { type: api_key, in: header, name: X-Key, secret_env: S }\n    body:\n      email: identity.traits.email\n");
    const kratos = join(dir, "kratos.yml");
    writeFileSync(kratos, "version: v1.3.1\ndsn: memory\n");
    const r = cli(["generate", "--config", config, "--out", join(dir, "out"), "--into", kratos]);
    expect(r.code).toBe(0);
    expect(r.err).toBe(`kratos-hooks: warning: ${kratos} is for Kratos v1.3.1 and hooks.yaml targets v1.3.0; the lists follow v1.3.0's rules (what Kratos v1.3.1 accepts, but not what it offers)\n`);
    expect(readFileSync(kratos, "utf8")).toContain("url: http://127.0.0.1:4459/hooks/recovered");
  });

  test("--check gives the same verdict from any working directory, and any --out gets the same bytes (headers name paths relative to hooks.yaml)", () => {
    const { dir, config, out } = exampleCopy();
    mkdirSync(join(dir, "sub"));
    writeFileSync(config, readFileSync(config, "utf8").replace("{ file_dir: /etc/config/kratos/hooks }", "{ inline: true }"));
    expect(cli(["generate", "--config", "hooks.yaml", "--out", "out"], {}, dir).code).toBe(0);
    expect(readFileSync(join(out, "welcome.jsonnet"), "utf8").split("\n")[0]).toBe("// Generated by kratos-hooks from hooks.yaml (hook welcome). Do not edit.");
    expect(cli(["generate", "--config", "../hooks.yaml", "--out", "../out", "--check"], {}, join(dir, "sub"))).toMatchObject({ code: 0 });
    expect(cli(["generate", "--config", config, "--out", out, "--check"])).toMatchObject({ code: 0 });
    expect(cli(["generate", "--config", config, "--out", join(dir, "sub", "elsewhere")]).code).toBe(0);
    expect(readDir(join(dir, "sub", "elsewhere"))).toEqual(readDir(out));
  });

  test("a config error is printed with its location, exit 1", () => {
    const { config, out } = exampleCopy();
    writeFileSync(config, readFileSync(config, "utf8").replace("methods: [password, oidc]\n    mode: notify", "methods: [password, saml]\n    mode: notify"));
    const r = cli(["generate", "--config", config, "--out", out]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/hooks\.yaml:\d+:\d+/);
  });
});

describe("render", () => {
  test("prints the JSON Kratos would send, evaluated by the jsonnet CLI", () => {
    const r = cli(["render", "welcome", "--config", "config/hooks.yaml", "--ctx", join(FIXTURES, "ctx/registration.after.post-persist.json")]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({
      identity_id: "5ff66179-c240-4703-b0d8-494592cefff5",
      email: "new@example.org",
      name: "Ada Lovelace",
      flow_id: "e2e0b6b0-3f4c-4f3b-9b6a-7f2d1c0e9a55",
      referrer: "newsletter",
    });
  });

  test("says so when the body cancels the call (skip_if), exit 0", () => {
    const dir = tempDir();
    const ctx = ctxFixture("registration.after.post-persist");
    ctx.identity.traits.email = "bot@loadtest.example.com";
    writeFileSync(join(dir, "ctx.json"), JSON.stringify(ctx));
    const r = cli(["render", "welcome", "--config", "config/hooks.yaml", "--ctx", join(dir, "ctx.json")]);
    expect(r.code).toBe(0);
    expect(r.out).toBe('skipped: the body cancels the call (error "cancel")\n');
  });

  test("without --ctx it uses an example ctx for the hook's point", () => {
    const r = cli(["render", "login-audit", "--config", "config/hooks.yaml"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const body = JSON.parse(r.out);
    expect(Object.keys(body)).toEqual(expect.arrayContaining(["identity_id", "session_id", "aal"]));
  });

  test("every hook of the example renders against its example ctx", () => {
    for (const name of ["welcome", "signup-gate", "plan", "login-audit", "profile-sync", "recovered", "verified"]) {
      const r = cli(["render", name, "--config", "config/hooks.yaml"]);
      expect({ name, code: r.code, err: r.err }).toEqual({ name, code: 0, err: "" });
      expect(typeof JSON.parse(r.out)).toBe("object");
    }
  });

  test("a body that fails (missing ctx key) exits 1 with jsonnet's error", () => {
    const dir = tempDir();
    const ctx = ctxFixture("registration.after.post-persist");
    delete ctx.identity;
    writeFileSync(join(dir, "ctx.json"), JSON.stringify(ctx));
    const r = cli(["render", "welcome", "--config", "config/hooks.yaml", "--ctx", join(dir, "ctx.json")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("RUNTIME ERROR");
  });

  test("a clear usage error when no jsonnet is on PATH, or the hook does not exist", () => {
    const empty = tempDir();
    mkdirSync(join(empty, "bin"));
    const r = cli(["render", "welcome", "--config", "config/hooks.yaml"], { PATH: join(empty, "bin"), KRATOS_HOOKS_JSONNET: undefined });
    expect(r.code).toBe(2);
    expect(r.err).toContain("no `jsonnet` executable on PATH");
    const u = cli(["render", "nope", "--config", "config/hooks.yaml"]);
    expect(u.code).toBe(2);
    expect(u.err).toContain("no hook named 'nope'");
  });
});
