// Hostile values against the exec action, through the real loader, a real SQLite outbox, the
// worker and real processes: what the command's environment holds, argv staying argv, a script
// that would interpolate a value, and its stderr in the stored error.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupDirs, deliverThroughOutbox, hookYaml, load } from "./harness.ts";

afterAll(() => cleanupDirs());

const SECRETS = { KRATOS_HOOKS_SECRET: "hook-secret-value-1", SMTP_PASSWORD: "smtp-pa55word-2", CRM_TOKEN: "crm-t0ken-7f3a9c2e1b5d4f6a8c0e" };
const ENV = { ...SECRETS, PATH: process.env.PATH, LANG: "C.UTF-8", LC_ALL: "C.UTF-8", TZ: "UTC", HOME: "/tmp", UNRELATED: "serve-only" };
const ada = { identity_id: "5ff66179-c240-4703-b0d8-494592cefff5", email: "ada@example.org", name: "Ada" };

describe("environment", () => {
  test("a command sees PATH, LANG, LC_*, TZ, HOME and what its action declares, never serve's secrets", async () => {
    const { config, dir } = load(hookYaml(`      - name: run\n        exec: { command: [/bin/sh, -c, 'env > "$1"', sh, "{{env.OUT}}"], env: { REGION: eu } }\n`));
    const out = join(dir, "env.txt");
    const [job] = await deliverThroughOutbox(config!, "welcome.run", [ada], { ...ENV, OUT: out });
    expect(job!.state).toBe("done");
    const seen = Object.fromEntries(readFileSync(out, "utf8").trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    delete seen.PWD; // set by the shell itself
    delete seen.SHLVL;
    delete seen._;
    expect(Object.keys(seen).sort()).toEqual(["HOME", "KRATOS_HOOKS_ATTEMPT", "KRATOS_HOOKS_JOB_ID", "LANG", "LC_ALL", "PATH", "REGION", "TZ"]);
    expect(seen.REGION).toBe("eu");
    for (const v of Object.values(SECRETS)) expect(Object.values(seen)).not.toContain(v);
  });
});

describe("argv", () => {
  test("a user-controlled value inside a shell (or other inline) script is refused by check, with the argv form as hint; as its own argv element no shell reads it", async () => {
    for (const command of [`[/bin/sh, -c, "echo {{body.name}}"]`, `[bash, -ec, "x={{body.email}}"]`, `[/usr/bin/env, FOO=1, python3, -c, "print('{{body.name}}')"]`]) {
      const { errors } = load(hookYaml(`      - exec: { command: ${command} }\n`));
      expect([command, errors[0]?.split("\n")[0]]).toEqual([command, expect.stringMatching(/^hooks\.yaml:13:\d+: hooks\.welcome\.actions\[0\]\.exec\.command\[\d\]: \{\{body\.(name|email)\}\} is interpolated into a \w+ script, and identity\.traits\.(name|email) is typed by the user$/)]);
      expect(errors[0]).toContain(`'cmd "$1"'`);
    }
    // A trusted value (Kratos's identity id) in a script is fine.
    expect(load(hookYaml(`      - exec: { command: [/bin/sh, -c, "provision {{body.identity_id}}"] }\n`)).errors).toEqual([]);

    // The form the hint gives: the value is "$1", data to the script.
    const { config, dir } = load(hookYaml(`      - name: run\n        exec: { command: [/bin/sh, -c, 'printf %s "$1" > "$2"', sh, "{{body.name}}", "{{env.OUT}}"] }\n`));
    const out = join(dir, "arg.txt");
    const pwned = join(dir, "pwned");
    const name = `$(touch ${pwned}); \`touch ${pwned}\` && touch ${pwned} | "'`;
    const [job] = await deliverThroughOutbox(config!, "welcome.run", [{ ...ada, name }], { ...ENV, OUT: out });
    expect(job!.state).toBe("done");
    expect(readFileSync(out, "utf8")).toBe(name);
    expect(existsSync(pwned)).toBe(false);
  });
});

describe("options", () => {
  test("a value that would start an option ('-o file') kills the job before the program runs; after '--' or as an argument of an inline script it is data", async () => {
    const { config, dir } = load(hookYaml(`      - name: sort\n        exec: { command: [sort, "{{body.name}}"] }\n      - name: ended\n        exec: { command: [sort, --, "{{body.name}}"] }\n      - name: script\n        exec: { command: [/bin/sh, -c, 'printf %s "$1" > "$2"', sh, "{{body.name}}", "{{env.OUT}}"] }\n`));
    const pwned = join(dir, "pwned");
    // sort -o FILE writes what it read (the job, on stdin) to FILE.
    const name = `-o${pwned}`;
    const [sorted] = await deliverThroughOutbox(config!, "welcome.sort", [{ ...ada, name }], ENV);
    expect(sorted!.state).toBe("dead");
    expect(sorted!.lastError).toBe(`argv[1]: {{body.name}} starts with '-', which the program would read as an option; refused (put a "--" element before it where the program ends its options there)`);
    expect(existsSync(pwned)).toBe(false);
    // After "--" sort takes it as a file name (there is none): it fails, and writes nothing.
    const [ended] = await deliverThroughOutbox(config!, "welcome.ended", [{ ...ada, name }], ENV);
    expect(ended!.lastError).toContain("exited with code 2");
    expect(existsSync(pwned)).toBe(false);
    const out = join(dir, "arg.txt");
    const [script] = await deliverThroughOutbox(config!, "welcome.script", [{ ...ada, name }], { ...ENV, OUT: out });
    expect(script!.state).toBe("done");
    expect(readFileSync(out, "utf8")).toBe(name);
  });
});

describe("the program and its environment", () => {
  test("check refuses a user-controlled program (argv[0]) and a user-controlled value in a variable that decides what code runs", () => {
    const program = load(hookYaml(`      - exec: { command: ["/opt/tools/{{body.name}}", --run] }\n`));
    expect(program.errors[0]?.split("\n")[0]).toBe("hooks.yaml:13:27: hooks.welcome.actions[0].exec.command[0]: the program to run takes {{body.name}}, and identity.traits.name is typed by the user");
    for (const name of ["LD_PRELOAD", "BASH_ENV", "NODE_OPTIONS", "PATH"]) {
      const { errors } = load(hookYaml(`      - exec: { command: [/usr/local/bin/provision], env: { ${name}: "{{body.name}}" } }\n`));
      expect([name, errors[0]?.split("\n")[0]?.replace(/^hooks\.yaml:\d+:\d+: /, "")]).toEqual([name, `hooks.welcome.actions[0].exec.env.${name}: ${name} takes {{body.name}}, and identity.traits.name is typed by the user`]);
    }
    // Data in a variable of the action's own, and trusted values anywhere, pass.
    expect(load(hookYaml(`      - exec: { command: [/usr/local/bin/provision], env: { USER_NAME: "{{body.name}}", PATH: "{{env.PATH}}" } }\n`)).errors).toEqual([]);
  });

  test("through env, the program and the variables env sets are checked as command[0] and env: are", () => {
    const cases: [string, string][] = [
      [`[/usr/bin/env, "{{body.name}}", /usr/local/bin/provision]`, "command[1]: an element of env before the program (an option, a variable or the program) takes {{body.name}}"],
      [`[env, FOO=1, "{{body.name}}"]`, "command[2]: an element of env before the program (an option, a variable or the program) takes {{body.name}}"],
      [`[/usr/bin/env, "LD_PRELOAD={{body.name}}", /usr/local/bin/provision]`, "command[1]: LD_PRELOAD takes {{body.name}}"],
    ];
    for (const [command, message] of cases) {
      const { errors } = load(hookYaml(`      - exec: { command: ${command} }\n`));
      expect([command, errors[0]?.split("\n")[0]?.replace(/^hooks\.yaml:\d+:\d+: hooks\.welcome\.actions\[0\]\.exec\./, "")]).toEqual([command, `${message}, and identity.traits.name is typed by the user`]);
    }
    for (const command of [`[env, -i, "USER_NAME={{body.name}}", /usr/local/bin/provision]`, `[env, FOO=1, /usr/local/bin/provision, "{{body.name}}"]`]) expect([command, load(hookYaml(`      - exec: { command: ${command} }\n`)).errors]).toEqual([command, []]);
  });

  test("the variables check keeps from a user go by family: code, config files and proxies of any program, in any case", () => {
    for (const name of ["http_proxy", "HTTPS_PROXY", "ALL_PROXY", "JAVA_TOOL_OPTIONS", "LUA_INIT", "PYTHONWARNINGS", "OPENSSL_CONF", "GLIBC_TUNABLES", "XDG_CONFIG_HOME", "CURL_HOME", "WGETRC", "GIT_SSH_COMMAND", "PHPRC", "LC_ALL", "TZ"]) {
      const { errors } = load(hookYaml(`      - exec: { command: [/usr/local/bin/provision], env: { ${name}: "{{body.name}}" } }\n`));
      expect([name, errors[0]?.split("\n")[0]?.replace(/^hooks\.yaml:\d+:\d+: /, "")]).toEqual([name, `hooks.welcome.actions[0].exec.env.${name}: ${name} takes {{body.name}}, and identity.traits.name is typed by the user`]);
    }
    for (const name of ["USER_NAME", "USER_EMAIL", "REGION", "ACCOUNT_ID"]) expect([name, load(hookYaml(`      - exec: { command: [/usr/local/bin/provision], env: { ${name}: "{{body.name}}" } }\n`)).errors]).toEqual([name, []]);
  });
});

describe("stderr", () => {
  test("a secret serve knows is masked in stderr before its end is kept: not a piece of it is stored", async () => {
    // The command got the CRM token the way its action declared, and prints it where the kept
    // tail of stderr begins (its last 400 characters), so a cut would fall inside it.
    const { config } = load(hookYaml(`      - name: run\n        exec: { command: [/bin/sh, -c, 'printf "%01000d" 0 >&2; printf "%s" "$T" >&2; printf "%0390d" 0 >&2; exit 3'], env: { T: "{{env.CRM_TOKEN}}" } }\n`));
    const [job] = await deliverThroughOutbox(config!, "welcome.run", [ada], ENV);
    expect(job!.state).toBe("dead");
    expect(job!.lastError).toStartWith("/bin/sh exited with code 3; stderr: ");
    expect(job!.lastError).toContain("***");
    const t = SECRETS.CRM_TOKEN;
    for (let n = 4; n <= t.length; n++) for (let i = 0; i + n <= t.length; i++) expect(job!.lastError).not.toContain(t.slice(i, i + n));
  });

  test("a secret serve knows but this action never used (the SMTP password), printed by a command, is masked too", async () => {
    const smtp = `serve:\n  smtp: { host: 127.0.0.1, port: 2525, user: hooks, password_env: SMTP_PASSWORD, from: hi@example.com }\n`;
    const { config, dir } = load(hookYaml(`      - name: run\n        exec: { command: [/bin/sh, -c, 'echo "leaked $(cat "$1")" >&2; exit 1', sh, "{{env.FILE}}"] }\n`, smtp));
    writeFileSync(join(dir, "pw"), SECRETS.SMTP_PASSWORD);
    const [job] = await deliverThroughOutbox(config!, "welcome.run", [ada], { ...ENV, FILE: join(dir, "pw") });
    expect(job!.lastError).toBe("/bin/sh exited with code 1; stderr: leaked ***");
  });
});
