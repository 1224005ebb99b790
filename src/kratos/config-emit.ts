// The Kratos side of hooks.yaml: complete hook lists (Kratos replaces arrays wholesale across -c
// files, CONTRACT §7), each web_hook item gated by the target version, and the names of the
// environment variables that carry the secrets.
import { Buffer } from "node:buffer";
import { ConfigError } from "../errors.ts";
import type { ResolvedConfig, ResolvedHook } from "../config/types.ts";
import { allowedHooks, flowLevelIgnoresBlocking, hasMethodLists, listExists, listKey, methodsAt, persistsIdentityChanges, SESSION_HOOK, type Point } from "./hook-points.ts";
import { FLOW_LEVEL_FALLBACK_POINTS, refusesFlow, sequenceRank, runsInOneSequence, type OrderFacts } from "./list-order.ts";
import { supports } from "./versions.ts";
import { envAssignment, hookListPath, kratosEnvName } from "./env-names.ts";
import { mappingLines } from "./yaml-text.ts";

/** A hook list item as Kratos reads it: `{hook, config?}`. */
export type HookItem = { hook: string; config?: Record<string, unknown> };

/** The value written where Kratos's schema requires a secret; the env var from kratos-hooks.env overrides it (CONTRACT §2.3, §7). */
export const SECRET_PLACEHOLDER = "set-by-env";

/** An entry of an assembled list: our own web_hook (with the hook it serves) or anything else, kept as is. */
export type ListEntry = { item: HookItem; own?: ResolvedHook };

export type BodyRef = (hook: ResolvedHook) => string;

/** `file:///<dir>/<hook>.jsonnet`, or the body itself as standard padded base64 (CONTRACT §2.4, §8.3). */
export function bodyRef(config: ResolvedConfig, bodies: ReadonlyMap<string, string>, bodyDir?: string): BodyRef {
  return (hook) => {
    const body = config.kratos.body;
    if (body.kind === "inline" && bodyDir === undefined) return `base64://${Buffer.from(bodies.get(hook.name)!, "utf8").toString("base64")}`;
    const dir = (bodyDir ?? (body.kind === "file" ? body.dir : "")).replace(/\/+$/, "");
    return `file://${dir}/${hook.name}.jsonnet`;
  };
}

const FLOWS = ["registration", "login", "settings", "recovery", "verification"];
const PHASES = ["before", "after"];

/** Canonical order of list keys: by flow, phase, flow-level first, then methods by name. */
export function compareListKeys(a: string, b: string): number {
  const pa = a.split("."), pb = b.split(".");
  return FLOWS.indexOf(pa[0]!) - FLOWS.indexOf(pb[0]!) || PHASES.indexOf(pa[1]!) - PHASES.indexOf(pb[1]!) || (pa[2] ?? "").localeCompare(pb[2] ?? "");
}

/** The web_hook item for a hook, with only the keys the target version accepts. CONTRACT §2.1, §8.1, §8.5. */
export function webHookItem(config: ResolvedConfig, hook: ResolvedHook, body: string): HookItem {
  const v = config.kratos.version;
  const c: Record<string, unknown> = { url: hook.url, method: hook.method.toUpperCase(), body };
  if (hook.auth?.type === "api_key") c.auth = { type: "api_key", config: { name: hook.auth.name, in: hook.auth.in, value: SECRET_PLACEHOLDER } };
  else if (hook.auth?.type === "basic_auth") c.auth = { type: "basic_auth", config: { user: hook.auth.user, password: SECRET_PLACEHOLDER } };
  const headerNames = Object.keys(hook.headers).sort();
  if (headerNames.length > 0) {
    if (!supports(v, "headers")) throw new ConfigError(`headers need Kratos v1.2.0 or later (target ${v.text})`, hook.loc, `hooks.${hook.name}.headers`, "docs/kratos.md#web-hook-config");
    c.headers = Object.fromEntries(headerNames.map((h) => [h, hook.headers[h]]));
  }
  // CONTRACT §8.5: never ignore together with parse/can_interrupt. Interrupt uses parse where
  // identity changes persist (the receiver answers 204 to allow), can_interrupt elsewhere.
  if (hook.mode === "notify") {
    if (!hook.wait) c.response = { ignore: true };
  } else if (hook.mode === "enrich" || persistsIdentityChanges(hook.point)) c.response = { parse: true };
  else c.can_interrupt = true;
  if (config.kratos.emitAnalyticsEvent !== undefined) {
    if (!supports(v, "emit_analytics_event")) throw new ConfigError(`emit_analytics_event needs Kratos v1.1.0 or later (target ${v.text})`, undefined, "kratos.emit_analytics_event", "docs/kratos.md#web-hook-config");
    c.emit_analytics_event = config.kratos.emitAnalyticsEvent;
  }
  if (supports(v, "id")) c.id = hook.name;
  return { hook: "web_hook", config: c };
}

export type ListPlan = { builtins: HookItem[]; own: ListEntry[] };

/**
 * What `--into` found in the target file: the items of each flow-level list that are not ours, and
 * the per-method lists that hold items of the user's own (those lists are theirs as written).
 */
export type FileLists = { flowLevel: ReadonlyMap<string, readonly HookItem[]>; declared: ReadonlySet<string> };
const NO_FILE: FileLists = { flowLevel: new Map(), declared: new Set() };

/**
 * Which list each hook goes to. CONTRACT §1.2, §8.6: a hook with methods goes to each per-method
 * list; one without goes to the flow-level list and to every per-method list managed for that point
 * (a non-empty per-method list replaces the flow-level one). Blocking hooks at registration/settings
 * `after` run pre-persist, which reads per-method lists only, so they never go flow-level.
 * `existing` names lists already present in a target file (--into): they are managed too.
 */
export function planLists(config: ResolvedConfig, body: BodyRef, existing: ReadonlySet<string> = new Set(), fromFile: FileLists = NO_FILE): Map<string, ListPlan> {
  const v = config.kratos.version;
  const plans = new Map<string, ListPlan>();
  const plan = (key: string) => {
    let p = plans.get(key);
    if (!p) plans.set(key, (p = { builtins: [], own: [] }));
    return p;
  };
  for (const [key, items] of Object.entries(config.kratos.builtinHooks).sort(([a], [b]) => compareListKeys(a, b))) {
    if (!listExists(key, v)) throw new ConfigError(`Kratos ${v.text} has no hook list selfservice.flows.${key}.hooks`, undefined, `kratos.builtin_hooks.${key}`, "docs/kratos.md#hook-points-by-version");
    for (const item of items) {
      if (!allowedHooks(key, v).includes(item.hook)) {
        throw new ConfigError(`Kratos ${v.text} does not allow hook '${item.hook}' in selfservice.flows.${key}.hooks`, undefined, `kratos.builtin_hooks.${key}`, `allowed: ${allowedHooks(key, v).join(", ")} (docs/kratos.md#hook-points-by-version)`);
      }
      plan(key).builtins.push(item.config === undefined ? { hook: item.hook } : { hook: item.hook, config: item.config });
    }
  }
  for (const hook of config.hooks) {
    for (const m of hook.methods) {
      const key = listKey(hook.point, m);
      if (!listExists(key, v)) throw new ConfigError(`Kratos ${v.text} has no per-method list selfservice.flows.${key}.hooks`, hook.loc, `hooks.${hook.name}.methods`, `methods at ${hook.point}: ${methodsAt(hook.point, v).join(", ") || "none"} (docs/kratos.md#hook-points-by-version)`);
      plan(key);
    }
  }
  const managedMethods = (point: Point) => {
    const prefix = `${point}.`;
    return [...new Set([...plans.keys(), ...existing].filter((k) => k.startsWith(prefix) && listExists(k, v)))].sort(compareListKeys);
  };
  // Decide every hook's lists before adding any, so a hook without methods sees all per-method lists.
  const targets = config.hooks.map((hook) => {
    if (hook.methods.length > 0) return hook.methods.map((m) => listKey(hook.point, m));
    if (!hasMethodLists(hook.point)) return [hook.point];
    const blocking = hook.mode !== "notify";
    const perMethod = managedMethods(hook.point);
    if (blocking && flowLevelIgnoresBlocking(hook.point)) return perMethod.length > 0 ? perMethod : methodsAt(hook.point, v).map((m) => listKey(hook.point, m));
    return [hook.point, ...perMethod];
  });
  config.hooks.forEach((hook, i) => {
    for (const key of targets[i]!) plan(key).own.push({ item: webHookItem(config, hook, body(hook)), own: hook });
  });
  // Where notify and blocking web_hooks run in one sequence, a notify hook listed before one that
  // refuses the flow would already have run (list-order.ts): ours go blocking first (stable sort).
  for (const [key, p] of plans) {
    if (!runsInOneSequence(key.split(".").slice(0, 2).join(".") as Point)) continue;
    p.own.sort((a, b) => sequenceRank(orderFacts(a.own!)) - sequenceRank(orderFacts(b.own!)));
  }
  carryFlowLevelBuiltins(config, plans, fromFile);
  return new Map([...plans].sort(([a], [b]) => compareListKeys(a, b)));
}

const orderFacts = (h: ResolvedHook): OrderFacts => ({ mode: h.mode, hasActions: h.actions.length > 0 });


/**
 * A per-method list replaces the flow-level list for its method (CONTRACT §1.2), so Kratos's own
 * hooks of the flow-level list (kratos.builtin_hooks.<point>, or the target file's flow-level list
 * with --into) go into each per-method list kratos-hooks creates, before our items. A per-method
 * list the user declared (kratos.builtin_hooks.<point>.<method>, or one with their own items in
 * the target file) is theirs as written; check reports a flow-level built-in it leaves out.
 */
function carryFlowLevelBuiltins(config: ResolvedConfig, plans: Map<string, ListPlan>, fromFile: FileLists): void {
  const v = config.kratos.version;
  for (const [key, p] of plans) {
    const [flow, phase, method] = key.split(".");
    const point = `${flow}.${phase}`;
    if (method === undefined || !FLOW_LEVEL_FALLBACK_POINTS.includes(point as Point) || key in config.kratos.builtinHooks || fromFile.declared.has(key) || p.own.length === 0) continue;
    const declared = (config.kratos.builtinHooks[point] ?? []).map((b) => (b.config === undefined ? { hook: b.hook } : { hook: b.hook, config: b.config }));
    const flowLevel = [...declared, ...(fromFile.flowLevel.get(point) ?? [])];
    const have = new Set(p.builtins.map(canonical));
    for (const item of flowLevel) {
      if (item.hook === "web_hook" || item.hook === SESSION_HOOK || have.has(canonical(item)) || !allowedHooks(key, v).includes(item.hook)) continue;
      have.add(canonical(item));
      p.builtins.push(item);
    }
  }
}

const canonical = (v: unknown): string =>
  Array.isArray(v) ? `[${v.map(canonical).join(",")}]` : v && typeof v === "object" ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(",")}}` : JSON.stringify(v);

/**
 * The final list: `existing` items kept in place (ours, marked by `isOwn`, replaced by the new own
 * items at the first one's place), declared built-ins not yet there before our items, `session`
 * last (CONTRACT §1.3, §8.7), and no two identical items (uniqueItems, §1.1).
 */
export function assembleList<T>(existing: ReadonlyArray<{ item: HookItem; keep: T }>, isOwn: (item: HookItem) => boolean, plan: ListPlan): Array<ListEntry & { keep?: T }> {
  const OWN = Symbol("own");
  const seq: Array<{ item: HookItem; keep: T } | typeof OWN> = [];
  for (const e of existing) {
    if (!isOwn(e.item)) seq.push(e);
    else if (!seq.includes(OWN)) seq.push(OWN);
  }
  const present = new Set(seq.map((e) => (e === OWN ? "" : canonical(e.item))));
  const missing = plan.builtins.filter((b) => !present.has(canonical(b))).map((item) => ({ item, keep: undefined as T }));
  const at = seq.indexOf(OWN);
  if (at >= 0) seq.splice(at, 0, ...missing);
  else seq.push(...missing, OWN);
  // A built-in that can refuse the flow, kept after our items (--into), would run after our
  // notify hooks had already fired: ours go after it (list-order.ts).
  const lastRefusing = seq.findLastIndex((e) => e !== OWN && refusesFlow(e.item.hook));
  if (lastRefusing > seq.indexOf(OWN)) {
    seq.splice(seq.indexOf(OWN), 1);
    seq.splice(lastRefusing, 0, OWN);
  }
  const out: Array<ListEntry & { keep?: T }> = [];
  for (const e of seq) if (e === OWN) out.push(...plan.own);
  else out.push(e);
  const ordered = [...out.filter((e) => e.item.hook !== SESSION_HOOK), ...out.filter((e) => e.item.hook === SESSION_HOOK)];
  const seen = new Set<string>();
  return ordered.filter((e) => {
    const c = canonical(e.item);
    if (seen.has(c)) return false;
    seen.add(c);
    return true;
  });
}

/** Is this web_hook item ours? Its url lies under receiver.url. */
export function ownedBy(receiverUrl: string): (item: HookItem) => boolean {
  const base = receiverUrl.replace(/\/+$/, "");
  return (item) => {
    const url = item.hook === "web_hook" ? item.config?.url : undefined;
    return typeof url === "string" && (url === base || url.startsWith(`${base}/`));
  };
}

/** `KRATOS_ENV_NAME="${SECRET_ENV}"` lines for the secrets of our items, by final list position. CONTRACT §7. */
export function envLines(lists: ReadonlyMap<string, readonly ListEntry[]>): string[] {
  return envRefs(lists).map((r) => envAssignment(r.name, r.parts));
}

/** Each Kratos env var that carries a secret: its name and its value as literal text and secret env var names. */
export type EnvRef = { name: string; parts: Array<{ literal: string } | { env: string }> };

export function envRefs(lists: ReadonlyMap<string, readonly ListEntry[]>): EnvRef[] {
  const refs: EnvRef[] = [];
  for (const [key, entries] of [...lists].sort(([a], [b]) => compareListKeys(a, b))) {
    entries.forEach((e, i) => {
      const auth = e.own?.auth;
      if (!auth) return;
      const path = [...hookListPath(key), i, "config", "auth", "config"];
      if (auth.type === "api_key") refs.push({ name: kratosEnvName([...path, "value"]), parts: [{ literal: auth.value_prefix ?? "" }, { env: auth.secret_env }] });
      else refs.push({ name: kratosEnvName([...path, "password"]), parts: [{ env: auth.password_env }] });
    });
  }
  return refs;
}

export function envFileText(lines: readonly string[], source: string): string {
  return [
    `# Generated by kratos-hooks from ${source}. Do not edit.`,
    "# Kratos reads each webhook secret from these variables (docs/kratos.md#env-var-overrides). Each is set from the",
    "# variable hooks.yaml names, by reference: this file holds names, never a secret.",
    "# Load it before starting Kratos, e.g. `set -a; . ./kratos-hooks.env; set +a`.",
    ...lines,
    "",
  ].join("\n");
}

/** The nested `selfservice: flows: ...` value for the given lists (and the header allowlist). */
export function configTree(config: ResolvedConfig, lists: ReadonlyMap<string, readonly ListEntry[]>): Record<string, unknown> {
  const flows: Record<string, Record<string, Record<string, unknown>>> = {};
  for (const [key, entries] of [...lists].sort(([a], [b]) => compareListKeys(a, b))) {
    const [flow, phase, method] = key.split(".") as [string, string, string | undefined];
    const phaseNode = ((flows[flow] ??= {})[phase] ??= {});
    const items = entries.map((e) => e.item);
    if (method) phaseNode[method] = { hooks: items };
    else phaseNode.hooks = items;
  }
  // Flow-level `hooks` before per-method keys, for reading.
  for (const f of Object.values(flows)) for (const [p, node] of Object.entries(f)) f[p] = "hooks" in node ? { hooks: node.hooks, ...node } : node;
  const tree: Record<string, unknown> = {};
  if (Object.keys(flows).length > 0) tree.selfservice = { flows };
  const allow = headerAllowlist(config);
  if (allow) tree.clients = { web_hook: { header_allowlist: allow } };
  return tree;
}

/** clients.web_hook.header_allowlist when set, gated at v25.4.0 (CONTRACT §3.4, §8.10). */
export function headerAllowlist(config: ResolvedConfig): string[] | undefined {
  const allow = config.kratos.headerAllowlist;
  if (!allow) return undefined;
  if (!supports(config.kratos.version, "header_allowlist")) {
    throw new ConfigError(`header_allowlist needs Kratos v25.4.0 or later (target ${config.kratos.version.text})`, undefined, "kratos.header_allowlist", "docs/kratos.md#header-allowlist");
  }
  return [...allow];
}

export function kratosConfigText(tree: Record<string, unknown>, source: string): string {
  return [
    `# Generated by kratos-hooks from ${source}. Do not edit.`,
    "# Load it after your own config (kratos serve -c kratos.yml -c kratos-hooks.kratos.yml): Kratos",
    "# replaces hook lists wholesale across -c files, so every list here is complete. Secrets are",
    "# placeholders overridden by the variables in kratos-hooks.env (docs/kratos.md#env-var-overrides).",
    ...mappingLines(tree, 0),
    "",
  ].join("\n");
}

/** The whole generated config for a fresh file: the lists in order, with their env lines. */
export function generateLists(config: ResolvedConfig, body: BodyRef): Map<string, ListEntry[]> {
  const own = ownedBy(config.receiverUrl);
  const lists = new Map<string, ListEntry[]>();
  for (const [key, plan] of planLists(config, body)) {
    const entries = assembleList([], own, plan);
    if (entries.length > 0) lists.set(key, entries);
  }
  return lists;
}

