// `generate --into`: only the lists kratos-hooks manages change; every other byte of a
// hand-written Kratos config stays (comments, order, quoting).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isSeq, parseDocument, type Node } from "yaml";
import { parse as parseYaml } from "yaml";
import { mergeInto } from "../../src/kratos/merge-into.ts";
import { bodyRef, envLines } from "../../src/kratos/config-emit.ts";
import { diffOps } from "../../src/line-diff.ts";
import type { ResolvedConfig } from "../../src/config/types.ts";
import { config, field, FIXTURES, hook, kratosSchema } from "./helpers.ts";

const FIXTURE = readFileSync(join(FIXTURES, "kratos.yml"), "utf8");
const apiKey = { type: "api_key" as const, in: "header" as const, name: "Authorization", value_prefix: "Bearer ", secret_env: "KRATOS_HOOKS_SECRET" };

const cfg = config(
  "v26.2.0",
  [
    hook("welcome", "registration.after", { methods: ["password", "oidc"], auth: apiKey }),
    hook("gate", "registration.after", { methods: ["password"], mode: "interrupt", fields: [field("email", "identity.traits.email")] }),
    hook("audit", "login.after", { auth: apiKey }),
    hook("profile-sync", "settings.after", { methods: ["profile"] }),
    hook("recovered", "recovery.after"),
  ],
  { headerAllowlist: ["User-Agent", "X-Request-Id"] },
);

function merge(text: string, c: ResolvedConfig = cfg) {
  return mergeInto(text, c, bodyRef(c, new Map()), "kratos.yml");
}

/** 0-based line ranges of every `selfservice.flows.*.hooks` value and of clients.web_hook.header_allowlist. */
function managedLines(text: string): Array<[number, number]> {
  const doc = parseDocument(text);
  const lineOf = (off: number) => text.slice(0, off).split("\n").length - 1;
  const out: Array<[number, number]> = [];
  const visit = (node: unknown, path: string[]) => {
    if (!node || typeof node !== "object") return;
    const n = node as { items?: Array<{ key: { value: unknown }; value: Node }> };
    if (isSeq(node)) return;
    for (const p of n.items ?? []) {
      const k = String(p.key?.value);
      const here = [...path, k];
      const managed = (k === "hooks" && here[0] === "selfservice") || here.join(".") === "clients.web_hook.header_allowlist";
      if (managed && p.value?.range) out.push([lineOf((p.key as unknown as Node).range![0]), lineOf(p.value.range[1] - 1)]);
      else visit(p.value, here);
    }
  };
  visit(doc.contents, []);
  return out;
}

describe("--into a hand-written kratos.yml", () => {
  const { text, lists } = merge(FIXTURE);

  test("the result is a valid Kratos v26.2.0 config", () => {
    const validate = kratosSchema("v26.2.0");
    expect(validate(parseYaml(text))).toBe(true);
  });

  test("only managed lists (and the parent keys they need) change; the rest is byte-for-byte", () => {
    const before = managedLines(FIXTURE), after = managedLines(text);
    const inside = (ranges: Array<[number, number]>, line: number) => ranges.some(([a, b]) => line >= a && line <= b);
    const insertedParents = /^\s*(after|password|profile|hooks|clients|web_hook|header_allowlist):$/;
    for (const op of diffOps(FIXTURE.split("\n"), text.split("\n"))) {
      if (op.kind === "-") expect({ line: op.line, managed: inside(before, op.a) }).toEqual({ line: op.line, managed: true });
      if (op.kind === "+") expect({ line: op.line, managed: inside(after, op.b) || insertedParents.test(op.line) }).toEqual({ line: op.line, managed: true });
    }
    for (const kept of ["# public API", "# chatty in dev", "default_browser_return_url: 'http://127.0.0.1:4455/'", "# Hand-written Kratos config"]) expect(text).toContain(kept);
  });

  test("the foreign web_hook keeps its text and place; our items replace ours; session goes last", () => {
    const crm = FIXTURE.slice(FIXTURE.indexOf("            # The CRM team's"), FIXTURE.indexOf("            - hook: session"));
    expect(text).toContain(crm);
    const reg = (parseYaml(text) as any).selfservice.flows.registration.after;
    expect(reg.password.hooks.map((i: any) => i.config?.url ?? i.hook)).toEqual([
      "https://crm.example.com/kratos/signup",
      "show_verification_ui",
      "http://127.0.0.1:4459/hooks/welcome",
      "http://127.0.0.1:4459/hooks/gate",
      "session",
    ]);
    expect(reg.oidc.hooks.map((i: any) => i.config?.url ?? i.hook)).toEqual(["http://127.0.0.1:4459/hooks/welcome", "session"]);
  });

  test("a stale item of ours is removed; a hook without methods joins the flow-level and existing per-method lists", () => {
    const login = (parseYaml(text) as any).selfservice.flows.login.after;
    expect(text).not.toContain("old-audit");
    expect(login.hooks.map((i: any) => i.config.url)).toEqual(["http://127.0.0.1:4459/hooks/audit"]);
    expect(login.password.hooks.map((i: any) => i.config?.url ?? i.hook)).toEqual(["require_verified_address", "http://127.0.0.1:4459/hooks/audit"]);
  });

  test("missing parents are inserted minimally (settings.after, recovery.after, clients)", () => {
    const doc = parseYaml(text) as any;
    expect(doc.selfservice.flows.settings.after.profile.hooks[0].config.id).toBe("profile-sync");
    expect(doc.selfservice.flows.settings.privileged_session_max_age).toBe("15m");
    expect(doc.selfservice.flows.recovery.after.hooks[0].config.id).toBe("recovered");
    expect(doc.clients).toEqual({ web_hook: { header_allowlist: ["User-Agent", "X-Request-Id"] } });
  });

  test("env var indices are positions in the merged lists", () => {
    expect(envLines(lists)).toEqual([
      'SELFSERVICE_FLOWS_REGISTRATION_AFTER_OIDC_HOOKS_0_CONFIG_AUTH_CONFIG_VALUE="Bearer ${KRATOS_HOOKS_SECRET}"',
      'SELFSERVICE_FLOWS_REGISTRATION_AFTER_PASSWORD_HOOKS_2_CONFIG_AUTH_CONFIG_VALUE="Bearer ${KRATOS_HOOKS_SECRET}"',
      'SELFSERVICE_FLOWS_LOGIN_AFTER_HOOKS_0_CONFIG_AUTH_CONFIG_VALUE="Bearer ${KRATOS_HOOKS_SECRET}"',
      'SELFSERVICE_FLOWS_LOGIN_AFTER_PASSWORD_HOOKS_1_CONFIG_AUTH_CONFIG_VALUE="Bearer ${KRATOS_HOOKS_SECRET}"',
    ]);
  });

  test("a second run changes nothing", () => {
    expect(merge(text).text).toBe(text);
  });

  test("removing every hook removes our items and keeps the rest", () => {
    const empty = merge(text, config("v26.2.0", [], { headerAllowlist: ["User-Agent", "X-Request-Id"] })).text;
    expect(empty).not.toContain("127.0.0.1:4459");
    expect(empty).toContain("https://crm.example.com/kratos/signup");
    expect(merge(empty, config("v26.2.0", [], { headerAllowlist: ["User-Agent", "X-Request-Id"] })).text).toBe(empty);
    expect(kratosSchema("v26.2.0")(parseYaml(empty))).toBe(true);
  });
});

describe("--into edge cases", () => {
  const one = config("v26.2.0", [hook("rec", "recovery.after")]);

  test("an empty file gets the lists appended", () => {
    const { text } = merge("", one);
    expect((parseYaml(text) as any).selfservice.flows.recovery.after.hooks[0].config.id).toBe("rec");
    expect(merge(text, one).text).toBe(text);
  });

  test("`hooks:` with no value and a comment on its line", () => {
    const src = "selfservice:\n  flows:\n    recovery:\n      after:\n        hooks: # filled by kratos-hooks\nlog:\n  level: info\n";
    const { text } = merge(src, one);
    expect(text).toContain("        hooks: # filled by kratos-hooks\n          - hook: web_hook\n");
    expect(text.endsWith("log:\n  level: info\n")).toBe(true);
    expect(merge(text, one).text).toBe(text);
  });

  test("a file without a final newline", () => {
    const src = "selfservice:\n  flows:\n    recovery:\n      enabled: true";
    const { text } = merge(src, one);
    expect((parseYaml(text) as any).selfservice.flows.recovery).toMatchObject({ enabled: true, after: { hooks: [{ hook: "web_hook" }] } });
    expect(merge(text, one).text).toBe(text);
  });

  test("compact sequences (`- ` at the key's column) keep their indentation", () => {
    const src = "selfservice:\n  flows:\n    recovery:\n      after:\n        hooks:\n        - hook: revoke_active_sessions\n";
    const { text } = merge(src, one);
    expect(text).toContain("        hooks:\n        - hook: revoke_active_sessions\n        - hook: web_hook\n          config:\n");
    expect(merge(text, one).text).toBe(text);
  });

  test("a flow mapping on the way is refused with a location", () => {
    expect(() => merge("selfservice: { flows: { recovery: { enabled: true } } }\n", one)).toThrow(/kratos\.yml:1:/);
  });
});
