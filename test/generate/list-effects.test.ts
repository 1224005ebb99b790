// Issue 17: the lists generate writes keep side effects behind every hook that can refuse the flow,
// and keep Kratos's flow-level hooks running where a per-method list replaces the flow-level one
// (CONTRACT §1.2, §1.3).
import { describe, expect, test } from "bun:test";
import { parse as parseYaml } from "yaml";
import type { ResolvedAction } from "../../src/config/types.ts";
import { bodyRef, generateLists } from "../../src/kratos/config-emit.ts";
import { mergeInto } from "../../src/kratos/merge-into.ts";
import { config, field, hook } from "./helpers.ts";

const action = (id: string): ResolvedAction => ({ id, hook: id.split(".")[0]!, kind: "http", method: "POST", url: "http://127.0.0.1:4460/x", headers: {}, timeoutMs: 1000, retry4xx: false, retry: { attempts: 1, baseMs: 1, capMs: 1 }, concurrency: 1, destination: "http://127.0.0.1:4460" }) as ResolvedAction;
const email = [field("email", "identity.traits.email")];
const names = (items: Array<{ hook: string; config?: Record<string, unknown> }>) => items.map((i) => (i.hook === "web_hook" ? String(i.config!.id) : i.hook));
const lists = (c: ReturnType<typeof config>) => new Map([...generateLists(c, bodyRef(c, new Map()))].map(([k, v]) => [k, names(v.map((e) => e.item))]));

describe("where notify and blocking hooks run in one sequence, ours that can refuse come first", () => {
  test("login.after: a notify hook with actions declared first is listed after the interrupt hook", () => {
    const c = config("v26.2.0", [
      hook("new-sign-in", "login.after", { methods: ["password"], actions: [action("new-sign-in.mail")] }),
      hook("login-gate", "login.after", { methods: ["password"], mode: "interrupt", fields: email }),
    ]);
    expect(lists(c).get("login.after.password")).toEqual(["login-gate", "new-sign-in"]);
  });
  test("the same at a before point and at recovery.after; an interrupt hook with actions goes after one without", () => {
    const c = config("v26.2.0", [
      hook("n", "recovery.after", { actions: [action("n.a")] }),
      hook("i-with", "recovery.after", { mode: "interrupt", actions: [action("i-with.a")] }),
      hook("i-bare", "recovery.after", { mode: "interrupt" }),
      hook("b-n", "registration.before", { actions: [action("b-n.a")] }),
      hook("b-i", "registration.before", { mode: "interrupt" }),
    ]);
    expect(lists(c).get("recovery.after")).toEqual(["i-bare", "i-with", "n"]);
    expect(lists(c).get("registration.before")).toEqual(["b-i", "b-n"]);
  });
  test("registration.after keeps the declared order: Kratos runs its blocking hooks before the identity is stored anyway", () => {
    const c = config("v26.2.0", [hook("welcome", "registration.after", { methods: ["password"] }), hook("gate", "registration.after", { methods: ["password"], mode: "interrupt", fields: email })]);
    expect(lists(c).get("registration.after.password")).toEqual(["welcome", "gate"]);
  });
});

describe("a per-method list kratos-hooks creates carries the flow-level built-ins", () => {
  test("kratos.builtin_hooks.login.after moves into login.after.password, before our hook", () => {
    const c = config("v26.2.0", [hook("audit", "login.after", { methods: ["password"] })], {
      builtinHooks: { "login.after": [{ hook: "require_verified_address" }, { hook: "revoke_active_sessions" }] },
    });
    const l = lists(c);
    expect(l.get("login.after.password")).toEqual(["require_verified_address", "revoke_active_sessions", "audit"]);
    expect(l.get("login.after")).toEqual(["require_verified_address", "revoke_active_sessions"]);
  });
  test("a built-in Kratos does not allow in that per-method list is not copied (check reports it as lost)", () => {
    const c = config("v26.2.0", [hook("audit", "login.after", { methods: ["oidc"] })], { builtinHooks: { "login.after": [{ hook: "verification" }, { hook: "revoke_active_sessions" }] } });
    expect(lists(c).get("login.after.oidc")).toEqual(["revoke_active_sessions", "audit"]);
  });
  test("--into: the flow-level built-ins of the user's kratos.yml move into the per-method list it did not have", () => {
    const c = config("v26.2.0", [hook("audit", "login.after", { methods: ["password"] })]);
    const text = ["selfservice:", "  flows:", "    login:", "      after:", "        hooks:", "          - hook: require_verified_address", "          - hook: revoke_active_sessions", ""].join("\n");
    const out = mergeInto(text, c, bodyRef(c, new Map()), "kratos.yml");
    const tree = parseYaml(out.text);
    expect(names(tree.selfservice.flows.login.after.password.hooks)).toEqual(["require_verified_address", "revoke_active_sessions", "audit"]);
    expect(names(tree.selfservice.flows.login.after.hooks)).toEqual(["require_verified_address", "revoke_active_sessions"]);
  });
  test("--into: a per-method list the user wrote with their own items stays theirs", () => {
    const c = config("v26.2.0", [hook("audit", "login.after", { methods: ["password"] })]);
    const text = ["selfservice:", "  flows:", "    login:", "      after:", "        hooks:", "          - hook: require_verified_address", "        password:", "          hooks:", "            - hook: revoke_active_sessions", ""].join("\n");
    const tree = parseYaml(mergeInto(text, c, bodyRef(c, new Map()), "kratos.yml").text);
    expect(names(tree.selfservice.flows.login.after.password.hooks)).toEqual(["revoke_active_sessions", "audit"]);
  });
  test("--into: our items move after a require_verified_address the file lists after them (it can still refuse the login)", () => {
    const c = config("v26.2.0", [hook("audit", "login.after", { methods: ["password"], actions: [action("audit.a")] })]);
    const text = ["selfservice:", "  flows:", "    login:", "      after:", "        password:", "          hooks:", "            - hook: web_hook", "              config: { url: http://127.0.0.1:4459/hooks/audit, method: POST, body: base64://e30= }", "            - hook: require_verified_address", ""].join("\n");
    const tree = parseYaml(mergeInto(text, c, bodyRef(c, new Map()), "kratos.yml").text);
    expect(names(tree.selfservice.flows.login.after.password.hooks)).toEqual(["require_verified_address", "audit"]);
  });
});
