// `kratos-hooks check` as a user runs it: the real CLI in a subprocess.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const REPO = join(import.meta.dir, "../..");
const BROKEN = join(import.meta.dir, "../fixtures/broken");
const tmp = mkdtempSync(join(tmpdir(), "kratos-hooks-check-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The secrets config/hooks.yaml names: check warns about every one that is unset. */
const EXAMPLE_ENV = { KRATOS_HOOKS_SECRET: "s", KRATOS_HOOKS_BASIC_PASSWORD: "p", CRM_TOKEN: "t" };
const TEST_ENV = { ...EXAMPLE_ENV, KH_PASSWORD: "k" };

function check(...args: string[]) {
  return checkWith({}, ...args);
}

function checkWith(extra: Record<string, string>, ...args: string[]) {
  const env: Record<string, string | undefined> = { ...process.env, ...TEST_ENV, ...extra };
  delete env.KRATOS_HOOKS_STORE;
  delete env.KRATOS_HOOKS_LISTEN;
  const r = Bun.spawnSync(["bun", join(REPO, "src/cli.ts"), "check", ...args], { cwd: REPO, env, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe("kratos-hooks check", () => {
  test("the example is valid: exit 0 and a one-line summary", () => {
    const trigger = (h: string) => `  ${h}: dedupes on Ory-Webhook-Trigger-Id header\n`;
    const stdout = `config/hooks.yaml: ok, 7 hooks for Kratos v26.2.0\n  welcome: dedupes on dedupe.key identity_id\n${["signup-gate", "plan", "login-audit", "profile-sync", "recovered"].map(trigger).join("")}  verified: dedupes on dedupe.key identity_id\n`;
    expect(check("--config", "config/hooks.yaml")).toEqual({ code: 0, stdout, stderr: "" });
  });

  test("a broken file: exit 1, every error with location and hint, a count, no stack trace", () => {
    const file = join(BROKEN, "schema-unknown-hook-key.yaml");
    const r = check("-c", file);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`${readFileSync(join(BROKEN, "schema-unknown-hook-key.expected"), "utf8").replace("schema-unknown-hook-key.yaml", file)}${file}: 1 error\n`);
    expect(r.stderr).toContain("\n  hint: did you mean 'methods'? allowed keys: on, methods, mode,");
  });

  test("warnings are printed but do not fail", () => {
    const file = join(tmp, "warn.yaml");
    writeFileSync(file, "kratos:\n  version: v26.2.0\nreceiver:\n  url: http://127.0.0.1:4459\nhooks:\n  h:\n    on: login.after\n    auth: { type: basic_auth, user: kratos, password_env: KH_PASSWORD }\n    body:\n      ua: request_headers.User-Agent\n");
    const r = check("--config", file);
    expect(r.code).toBe(0);
    expect(r.stderr).toStartWith(`${file}:10:11: warning: hooks.h.body.ua: request header 'User-Agent' may be missing from a request`);
    expect(r.stdout).toBe(`${file}: ok, 1 hook for Kratos v26.2.0, 1 warning\n  h: dedupes on Ory-Webhook-Trigger-Id header\n`);
    expect(check("--quiet", "--config", file)).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  test("each hook's dedupe key: the Trigger-Id header where Kratos sends it, else the body with flow.id in it", () => {
    const file = join(tmp, "dedupe.yaml");
    const body = "    auth: { type: basic_auth, user: kratos, password_env: KH_PASSWORD }\n    body:\n      email: identity.traits.email\n";
    writeFileSync(file, `kratos:\n  version: v1.3.1\nreceiver:\n  url: http://127.0.0.1:4459\nhooks:\n  recovered:\n    on: recovery.after\n${body}  settings:\n    on: settings.after\n${body}  keyed:\n    on: login.after\n    dedupe: { key: [email] }\n${body}`);
    expect(check("--config", file).stdout).toBe(
      `${file}: ok, 3 hooks for Kratos v1.3.1\n` +
        "  recovered: dedupes on hash of the body, per execution by flow_id = flow.id, added by generate\n" +
        "  settings: dedupes on hash of the body, per execution by flow_id = flow.id, added by generate; identity_updated_at = identity.updated_at, added by generate\n" +
        "  keyed: dedupes on dedupe.key email\n",
    );
  });

  test("every env var serve will need and the environment lacks: one warning each, at its first use, naming the others", () => {
    const unset = Object.fromEntries(Object.keys(EXAMPLE_ENV).map((k) => [k, ""]));
    const r = checkWith(unset, "--config", "config/hooks.yaml");
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("config/hooks.yaml: ok, 7 hooks for Kratos v26.2.0, 3 warnings\n");
    const firsts = r.stderr.split("\n").filter((l) => !l.startsWith("  hint:"));
    expect(firsts).toEqual([
      "config/hooks.yaml:45:98: warning: hooks.welcome.auth.secret_env: environment variable KRATOS_HOOKS_SECRET is not set (the api key of hook 'welcome' and 5 more)",
      "config/hooks.yaml:67:37: warning: hooks.welcome.actions[1].http.headers.Authorization: environment variable CRM_TOKEN is not set (action crm of hook 'welcome' and 1 more)",
      "config/hooks.yaml:125:59: warning: hooks.profile-sync.auth.password_env: environment variable KRATOS_HOOKS_BASIC_PASSWORD is not set (the basic auth password of hook 'profile-sync')",
      "",
    ]);
    expect(r.stderr).toContain("also used by 134:37 hooks.profile-sync.actions[0].http.headers.Authorization; serve refuses to start without it\n");
  });

  test("a missing file is an error, not a crash", () => {
    const r = check("--config", join(tmp, "nope.yaml"));
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`kratos-hooks: cannot read ${join(tmp, "nope.yaml")}: no such file\n  hint: pass the path of your hooks.yaml with --config <file>\n`);
  });

  test("an unknown option: our prefix, the option as typed, the nearest real one", () => {
    expect(check("--confg", "config/hooks.yaml")).toEqual({ code: 2, stdout: "", stderr: "kratos-hooks: check: unknown option --confg\n  hint: did you mean --config? see 'kratos-hooks check --help'\n" });
    expect(check("--quiet=yes")).toEqual({ code: 2, stdout: "", stderr: "kratos-hooks: check: --quiet takes no value\n  hint: see 'kratos-hooks check --help'\n" });
  });
});
