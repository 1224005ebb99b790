// Issue 17: the checks that keep side effects to flows Kratos completed (src/config/effects.ts):
// what they refuse beyond the broken corpus, what they warn about, and what they leave alone.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { ConfigErrors } from "../../src/errors.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const AUTH = "    auth: { type: api_key, in: header, name: X-K, secret_env: S }\n";
const hook = (name: string, lines: string) => `  ${name}:\n${AUTH}${lines.replace(/^/gm, "    ")}\n`;
const yaml = (hooks: string, top = "") => `kratos:\n  version: v26.2.0\n${top}receiver:\n  url: http://127.0.0.1:4459\nhooks:\n${hooks}`;

/** Errors and warnings, each as `path: message` (first line). */
function outcome(text: string): { errors: string[]; warnings: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "kh-effects-"));
  dirs.push(dir);
  writeFileSync(join(dir, "hooks.yaml"), text);
  const line = (e: { path?: string; message: string }) => `${e.path}: ${e.message}`;
  try {
    return { errors: [], warnings: (loadConfig(join(dir, "hooks.yaml"), { env: {}, cwd: dir }).warnings ?? []).map(line) };
  } catch (err) {
    if (!(err instanceof ConfigErrors)) throw err;
    return { errors: err.errors.map(line), warnings: [] };
  }
}

const mail = 'actions:\n  - email: { to: "{{body.email}}", subject: Hi }';
const http = (timeout?: string) => `actions:\n  - http: { url: "http://127.0.0.1:4460/x"${timeout ? `, timeout: ${timeout}` : ""} }`;
const body = "body: { email: identity.traits.email }";

describe("actions on hooks Kratos calls before it stores the identity", () => {
  for (const [point, mode] of [["registration.after", "interrupt"], ["registration.after", "enrich"], ["settings.after", "interrupt"], ["settings.after", "enrich"]]) {
    test(`${mode} at ${point} with actions is refused`, () => {
      const steps = mode === "enrich" ? "\nreplaces: [metadata_admin]\nenrich:\n  - metadata_admin: { a: 1 }" : "";
      const o = outcome(yaml(hook("h", `on: ${point}\nmethods: [password]\nmode: ${mode}\n${body}${steps}\n${mail}`)));
      expect(o.errors).toEqual([expect.stringMatching(/^hooks\.h\.actions: actions of \w+ hook 'h' would run before Kratos stores the identity/)]);
    });
  }
  test("the safe shape passes: the gate without actions, a notify hook at the same point with them", () => {
    const o = outcome(yaml(hook("gate", `on: registration.after\nmethods: [password]\nmode: interrupt\n${body}`) + hook("welcome", `on: registration.after\nmethods: [password]\n${body}\n${mail}`)));
    expect(o).toEqual({ errors: [], warnings: [] });
  });
  test("an interrupt hook with actions where nothing refuses after it (login.after alone) passes", () => {
    expect(outcome(yaml(hook("gate", `on: login.after\nmethods: [password]\nmode: interrupt\n${body}\n${mail}`), "  builtin_hooks: { login.after: [] }\n")).errors).toEqual([]);
  });
});

describe("order within one sequence", () => {
  test("a notify hook with actions declared before an interrupt hook it shares a list with: a warning, generate reorders", () => {
    const o = outcome(yaml(hook("mail", `on: recovery.after\n${body}\n${mail}`) + hook("gate", `on: recovery.after\nmode: interrupt\n${body}`)));
    expect(o).toEqual({ errors: [], warnings: [expect.stringMatching(/^hooks\.mail: 'mail' is declared before interrupt hook 'gate' at recovery\.after; generate lists it after 'gate'/)] });
  });
  test("declared in the safe order, or without shared lists, or at registration.after: no warning", () => {
    expect(outcome(yaml(hook("gate", `on: recovery.after\nmode: interrupt\n${body}`) + hook("mail", `on: recovery.after\n${body}\n${mail}`))).warnings).toEqual([]);
    const split = yaml(hook("mail", `on: login.after\nmethods: [code]\n${body}\n${mail}`) + hook("gate", `on: login.after\nmethods: [password]\nmode: interrupt\n${body}`), "  builtin_hooks: { login.after: [] }\n");
    expect(outcome(split).warnings).toEqual([]);
    expect(outcome(yaml(hook("mail", `on: registration.after\nmethods: [password]\n${body}\n${mail}`) + hook("gate", `on: registration.after\nmethods: [password]\nmode: interrupt\n${body}`))).warnings).toEqual([]);
  });
  test("two blocking hooks with actions in one sequence: an error", () => {
    const o = outcome(yaml(hook("a", `on: verification.after\nmode: interrupt\n${body}\n${mail}`) + hook("b", `on: verification.after\nmode: interrupt\n${body}\n${mail}`)));
    expect(o.errors).toEqual([expect.stringMatching(/^hooks\.b\.actions: 'a' and 'b' can both refuse the verification at verification\.after and both have actions/)]);
  });
});

describe("enrich answers", () => {
  test("two enrich hooks answering metadata_public through a lookup and a patch: an error", () => {
    const o = outcome(yaml(hook("a", `on: settings.after\nmethods: [profile]\nmode: enrich\nbody: { email: identity.traits.email, metadata_public: identity.metadata_public }\nenrich:\n  - lookup: { field: email, into: metadata_public, table: { x: { a: 1 } } }`) + hook("b", `on: settings.after\nmethods: [profile, password]\nmode: enrich\nbody: { email: identity.traits.email, metadata_public: identity.metadata_public }\nenrich:\n  - metadata_public: { b: 2 }`)));
    expect(o.errors).toEqual([expect.stringMatching(/^hooks\.b\.enrich: 'a' and 'b' both answer metadata_public at settings\.after/)]);
  });
  test("different objects, or methods that never share a list, pass", () => {
    const objects = yaml(hook("a", `on: registration.after\nmethods: [password]\nmode: enrich\n${body}\nenrich:\n  - metadata_public: { a: 1 }`) + hook("b", `on: registration.after\nmethods: [password]\nmode: enrich\n${body}\nenrich:\n  - metadata_admin: { b: 2 }`));
    expect(outcome(objects).errors).toEqual([]);
    const methods = yaml(hook("a", `on: registration.after\nmethods: [password]\nmode: enrich\n${body}\nenrich:\n  - metadata_public: { a: 1 }`) + hook("b", `on: registration.after\nmethods: [oidc]\nmode: enrich\n${body}\nenrich:\n  - metadata_public: { b: 2 }`));
    expect(outcome(methods).errors).toEqual([]);
  });
});

describe("action timeouts within the lease", () => {
  const at = (lease: string, action: string) => yaml(hook("h", `on: recovery.after\n${body}\n${action}`), "").replace("hooks:\n", `serve:\n  lease: ${lease}\nhooks:\n`);
  test("an explicit timeout equal to the lease, or over its budget, is refused; one inside it passes", () => {
    expect(outcome(at("3s", http("3s"))).errors).toEqual([expect.stringMatching(/^hooks\.h\.actions\[0\]\.http\.timeout: http\.timeout 3s does not fit in serve\.lease 3s: the worker cuts every delivery at 2700ms/)]);
    expect(outcome(at("3s", http("2800ms"))).errors).toHaveLength(1);
    expect(outcome(at("3s", http("2700ms"))).errors).toEqual([]);
    expect(outcome(at("30s", http("29s"))).errors).toEqual([]);
  });
  test("a default timeout counts too (http 10s), and exec's", () => {
    expect(outcome(at("5s", http())).errors).toEqual([expect.stringMatching(/^hooks\.h\.actions\[0\]\.http: the default http\.timeout 10s does not fit in serve\.lease 5s/)]);
    expect(outcome(at("20s", "actions:\n  - exec: { command: [/bin/true], timeout: 1m }")).errors).toEqual([expect.stringMatching(/exec\.timeout 1m does not fit/)]);
    expect(outcome(yaml(hook("h", `on: recovery.after\n${body}\nactions:\n  - exec: { command: [/bin/true] }`))).errors).toEqual([]);
  });
});

describe("flow-level built-ins a per-method list replaces", () => {
  test("a generated login.after per-method list without kratos.builtin_hooks.login.after: a warning naming the list", () => {
    const o = outcome(yaml(hook("audit", `on: login.after\nmethods: [password]\nbody: { id: identity.id }`)));
    expect(o.warnings).toEqual([expect.stringMatching(/^hooks\.audit\.methods: the generated login\.after\.password replaces the flow-level login\.after list for password logins/)]);
    expect(outcome(yaml(hook("audit", `on: login.after\nmethods: [password]\nbody: { id: identity.id }`), "  builtin_hooks: { login.after: [require_verified_address] }\n")).warnings).toEqual([]);
  });
  test("a flow-level built-in Kratos does not allow in the per-method list: an error", () => {
    const o = outcome(yaml(hook("audit", `on: login.after\nmethods: [oidc]\nbody: { id: identity.id }`), "  builtin_hooks: { login.after: [verification] }\n"));
    expect(o.errors).toEqual([expect.stringMatching(/^kratos\.builtin_hooks\["login\.after"\]: 'verification' of kratos\.builtin_hooks\.login\.after would not run for oidc logins: .*Kratos does not allow verification there/)]);
  });
});
