// Checks that tie a hook's effects to what Kratos really did, across hooks: actions only for flows
// Kratos completes, one enrich answer per identity object, action timeouts that fit the lease, and
// Kratos's own hooks kept when a per-method list replaces the flow-level one. Kept apart from
// semantics.ts (per-hook shape rules) because each rule here looks at several hooks at once.
import { durationMs } from "./units.ts";
import { allowedHooks, listExists, listKey, type Point } from "../kratos/hook-points.ts";
import { FLOW_LEVEL_FALLBACK_POINTS, flowNoun, runsBeforePersist, runsInOneSequence, sequenceRank } from "../kratos/list-order.ts";
import type { Version } from "../kratos/versions.ts";
import { deliveryBudgetMs, leaseForMs } from "../outbox/lease.ts";
import type { HookDecl, HooksFile } from "./model.ts";
import { DEFAULTS } from "./resolve.ts";
import type { ConfigPath } from "./source-map.ts";

/** What semantics.ts's report offers; effects only adds errors and warnings. */
export type EffectsReport = {
  error(path: ConfigPath, part: "key" | "value", message: string, hint?: string): void;
  warn(path: ConfigPath, part: "key" | "value", message: string, hint?: string): void;
};

type Named = { name: string; hook: HookDecl; point: Point; mode: "notify" | "interrupt" | "enrich"; hasActions: boolean };

export function checkEffects(raw: HooksFile, v: Version | undefined, r: EffectsReport): void {
  const hooks: Named[] = Object.entries(raw.hooks).map(([name, hook]) => ({ name, hook, point: hook.on as Point, mode: hook.mode ?? "notify", hasActions: (hook.actions ?? []).length > 0 }));
  checkProvisionalActions(hooks, r);
  checkSequenceOrder(hooks, r);
  checkEnrichAnswers(hooks, r);
  checkTimeouts(raw, r);
  if (v) checkBuiltinsKept(raw, hooks, v, r);
}

/** Two hooks at one point meet in a list unless both name methods and no method is shared. */
function shareAList(a: Named, b: Named): boolean {
  if (a.point !== b.point) return false;
  if (a.hook.methods === undefined || b.hook.methods === undefined) return true;
  return a.hook.methods.some((m) => b.hook.methods!.includes(m));
}

const DOCS_ORDER = "docs/kratos.md#execution-order";

/**
 * Actions of a blocking hook at registration/settings after would run for a flow Kratos may still
 * refuse after the hook answered (CONTRACT §1.3, §1.4). The same point's notify hook runs only
 * after the identity is stored: that is where actions belong.
 */
function checkProvisionalActions(hooks: Named[], r: EffectsReport): void {
  for (const h of hooks) {
    if (!h.hasActions || !runsBeforePersist(h.point, h.mode)) continue;
    const noun = flowNoun(h.point);
    const methods = h.hook.methods ? `, methods: [${h.hook.methods.join(", ")}]` : "";
    r.error(
      ["hooks", h.name, "actions"],
      "key",
      `actions of ${h.mode} hook '${h.name}' would run before Kratos stores the identity, and Kratos can still refuse the ${noun} after this hook (a taken address, a later hook, the identity schema)`,
      `move the actions to a separate hook { on: ${h.point}${methods}, mode: notify }: Kratos calls a notify hook there only after the ${noun} is stored (${DOCS_ORDER})`,
    );
  }
}

/**
 * Where notify and blocking hooks run in one sequence, generate lists ours as sequenceRank says,
 * so a notify hook's actions never run for a flow a later hook refuses. A declared order that
 * differs is a warning; two blocking hooks with actions in one list cannot both go last: an error.
 */
function checkSequenceOrder(hooks: Named[], r: EffectsReport): void {
  hooks.forEach((a, i) => {
    // Both findings need actions on `a`; checked first, and the cheap tests before shareAList, since
    // this looks at every pair of hooks (a 1,000-hook file has half a million).
    if (!a.hasActions || !runsInOneSequence(a.point)) return;
    for (let j = i + 1; j < hooks.length; j++) {
      const b = hooks[j]!;
      if (b.point !== a.point) continue;
      const bothBlock = a.mode !== "notify" && b.mode !== "notify" && b.hasActions;
      if (!bothBlock && sequenceRank(a) <= sequenceRank(b)) continue;
      if (!shareAList(a, b)) continue;
      const noun = flowNoun(a.point);
      if (a.mode !== "notify" && b.mode !== "notify" && a.hasActions && b.hasActions) {
        r.error(
          ["hooks", b.name, "actions"],
          "key",
          `'${a.name}' and '${b.name}' can both refuse the ${noun} at ${a.point} and both have actions: the actions of the one Kratos calls first run even when the other refuses`,
          `keep actions on one of them, or move them to a notify hook at ${a.point}: generate lists notify hooks after every hook that can refuse (${DOCS_ORDER})`,
        );
      } else if (a.hasActions && sequenceRank(a) > sequenceRank(b)) {
        r.warn(
          ["hooks", a.name],
          "key",
          `'${a.name}' is declared before ${b.mode} hook '${b.name}' at ${a.point}; generate lists it after '${b.name}', so its actions run only for a ${noun} '${b.name}' lets through`,
          `declare '${b.name}' first to silence this (${DOCS_ORDER})`,
        );
      }
    }
  });
}

/** The identity objects an enrich hook's answer replaces. */
function answeredObjects(hook: HookDecl): Set<"metadata_public" | "metadata_admin"> {
  const out = new Set<"metadata_public" | "metadata_admin">();
  for (const step of hook.enrich ?? []) {
    if (step.metadata_public) out.add("metadata_public");
    if (step.metadata_admin) out.add("metadata_admin");
    if (step.lookup) out.add(step.lookup.into);
  }
  return out;
}

/** Kratos replaces an identity object with each answer that carries it (CONTRACT §5.1): the last answer wins. */
function checkEnrichAnswers(hooks: Named[], r: EffectsReport): void {
  const enrich = hooks.filter((h) => h.mode === "enrich");
  enrich.forEach((b, i) => {
    const mine = answeredObjects(b.hook);
    for (const a of enrich.slice(0, i)) {
      if (!shareAList(a, b)) continue;
      const both = [...answeredObjects(a.hook)].filter((o) => mine.has(o));
      if (both.length === 0) continue;
      r.error(
        ["hooks", b.name, "enrich"],
        "key",
        `'${a.name}' and '${b.name}' both answer ${both.join(" and ")} at ${b.point}: Kratos replaces the whole object with each answer, so the later one erases what the earlier set`,
        `merge them into one hook: move the enrich steps of '${b.name}' into '${a.name}' (one answer per identity object) (docs/kratos.md#identity-updates)`,
      );
    }
  });
}

/** The worker cuts a delivery a margin before its lease ends (src/outbox/lease.ts): a longer timeout is never reached. */
function checkTimeouts(raw: HooksFile, r: EffectsReport): void {
  const leaseText = raw.serve?.lease ?? DEFAULTS.lease;
  const lease = durationMs(leaseText);
  const budget = deliveryBudgetMs(lease);
  for (const [name, hook] of Object.entries(raw.hooks)) {
    (hook.actions ?? []).forEach((a, i) => {
      const kind = "http" in a ? "http" : "exec" in a ? "exec" : undefined;
      if (!kind) return;
      const explicit = kind === "http" ? (a as { http: { timeout?: number | string } }).http.timeout : (a as { exec: { timeout?: number | string } }).exec.timeout;
      const timeout = durationMs(explicit ?? (kind === "http" ? DEFAULTS.httpTimeout : DEFAULTS.execTimeout));
      if (timeout <= budget) return;
      const what = `${explicit === undefined ? "the default " : ""}${kind}.timeout ${explicit ?? (kind === "http" ? DEFAULTS.httpTimeout : DEFAULTS.execTimeout)}`;
      const message = `${what} does not fit in serve.lease ${leaseText}: the worker cuts every delivery at ${budget}ms (the lease less ${lease - budget}ms), so the action never gets its timeout`;
      const hint = `set timeout to at most ${budget}ms, or raise serve.lease to at least ${leaseForMs(timeout)}ms (docs/delivery.md#leases)`;
      r.error(explicit === undefined ? ["hooks", name, "actions", i, kind] : ["hooks", name, "actions", i, kind, "timeout"], explicit === undefined ? "key" : "value", message, hint);
    });
  }
}


/**
 * A per-method list replaces the flow-level list for its method (CONTRACT §1.2). generate copies
 * the flow-level built-ins of kratos.builtin_hooks into each per-method list it creates
 * (config-emit.ts); this reports the ones that cannot come along: a per-method list declared
 * without them, or one where Kratos does not allow them.
 */
function checkBuiltinsKept(raw: HooksFile, hooks: Named[], v: Version, r: EffectsReport): void {
  const builtins = raw.kratos.builtin_hooks ?? {};
  const nameOf = (item: string | { hook: string }) => (typeof item === "string" ? item : item.hook);
  warnUnknownFlowLevel(raw, hooks, v, r);
  for (const point of FLOW_LEVEL_FALLBACK_POINTS) {
    const flowLevel = (builtins[point] ?? []).map(nameOf);
    if (flowLevel.length === 0) continue;
    const lists = new Set<string>(Object.keys(builtins).filter((k) => k.startsWith(`${point}.`)));
    for (const h of hooks) if (h.point === point) for (const m of h.hook.methods ?? []) lists.add(listKey(point, m));
    for (const key of [...lists].sort()) {
      if (!listExists(key, v)) continue;
      const method = key.slice(point.length + 1);
      const declared = builtins[key];
      for (const b of flowLevel) {
        if (declared && declared.map(nameOf).includes(b)) continue;
        const lost = `'${b}' of kratos.builtin_hooks.${point} would not run for ${method} ${flowNoun(point)}s: the per-method list ${key} replaces the flow-level list`;
        if (!allowedHooks(key, v).includes(b)) {
          r.error(declared ? ["kratos", "builtin_hooks", key] : ["kratos", "builtin_hooks", point], "key", `${lost}, and Kratos does not allow ${b} there`, `attach this point's hooks to methods whose list allows ${b}, or drop it from ${point} (docs/kratos.md#how-kratos-picks-a-list)`);
        } else if (declared) {
          r.error(["kratos", "builtin_hooks", key], "key", lost, `add ${b} to kratos.builtin_hooks.${key} (docs/kratos.md#how-kratos-picks-a-list)`);
        }
      }
    }
  }
}

/**
 * login.after's flow-level list is where Kratos's own login hooks usually live
 * (require_verified_address, revoke_active_sessions; registration and settings allow no such
 * built-ins there). A per-method list generate creates replaces it for that method, and without
 * kratos.builtin_hooks.login.after generate cannot know what it held.
 */
function warnUnknownFlowLevel(raw: HooksFile, hooks: Named[], v: Version, r: EffectsReport): void {
  const point: Point = "login.after";
  const builtins = raw.kratos.builtin_hooks ?? {};
  if (point in builtins) return;
  for (const h of hooks) {
    if (h.point !== point || !h.hook.methods) continue;
    const created = h.hook.methods.filter((m) => listExists(listKey(point, m), v) && !(listKey(point, m) in builtins));
    if (created.length === 0) continue;
    const lists = created.map((m) => listKey(point, m)).join(", ");
    r.warn(
      ["hooks", h.name, "methods"],
      "key",
      `the generated ${lists} replaces the flow-level ${point} list for ${created.join(", ")} logins: Kratos's own hooks listed there in your kratos.yml (require_verified_address, revoke_active_sessions, ...) would stop running for them`,
      `declare them in kratos.builtin_hooks.${point} (generate copies them into ${lists}; write ${point}: [] if there are none), or use generate --into kratos.yml (docs/kratos.md#how-kratos-picks-a-list)`,
    );
  }
}
