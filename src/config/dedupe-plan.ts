// Which idempotency key the receiver uses for a hook (src/server/dedupe-key.ts), decided once from
// hooks.yaml so that generate, check and serve agree.
//
// Kratos retries one execution with the same body and, from v25.4.0 with emit_analytics_event on,
// the same Ory-Webhook-Trigger-Id (CONTRACT §4.1, §8.13). Without that header the receiver falls
// back to a hash of the body, and a body without anything per execution would merge two real
// events (two recoveries of one user). So where there is no Trigger-Id and no declared dedupe.key,
// the body must carry per-execution ctx values: flow.id (one flow runs its after hooks once), and at
// settings.after also identity.updated_at (one settings flow can be submitted several times, and
// each save moves updated_at). generate adds the missing ones to the body; a hand-written Jsonnet
// body has to send them itself (checked in semantics).
import type { Point } from "../kratos/hook-points.ts";
import { supports, type Version } from "../kratos/versions.ts";
import type { FieldSpecDecl, HookDecl } from "./model.ts";
import type { ResolvedField } from "./types.ts";

/** ctx paths that tell one execution of a hook from another at `point`. */
export function executionPaths(point: Point): string[][] {
  return point === "settings.after" ? [["flow", "id"], ["identity", "updated_at"]] : [["flow", "id"]];
}

/** Whether Kratos sends Ory-Webhook-Trigger-Id (v25.4.0+, unless emit_analytics_event is false). */
export function sendsTriggerId(v: Version, emitAnalyticsEvent: boolean | undefined): boolean {
  return supports(v, "trigger_id_header") && emitAnalyticsEvent !== false;
}

/** Hash of the body; `carriers` are the body fields holding each execution path, `added` those generate adds. */
export type BodyKey = { carriers: Array<{ field: string; from: string }>; added: ResolvedField[]; missing: string[] };

export type DedupePlan =
  /** `fallback`: the body key used when an optional key field is missing and Kratos sends no Trigger-Id. */
  | { kind: "fields"; fields: string[]; fallback?: BodyKey }
  | { kind: "trigger" }
  | ({ kind: "body" } & BodyKey);

/** Fields generate adds to the body so that a body key tells executions apart. */
export function addedFields(plan: DedupePlan): ResolvedField[] {
  return plan.kind === "body" ? plan.added : plan.kind === "fields" ? (plan.fallback?.added ?? []) : [];
}

/** Execution paths a hand-written body must send itself for its body key. */
export function missingCarriers(plan: DedupePlan): string[] {
  return plan.kind === "body" ? plan.missing : plan.kind === "fields" ? (plan.fallback?.missing ?? []) : [];
}

function fromOf(spec: string | FieldSpecDecl): string | undefined {
  return typeof spec === "string" ? spec : spec.from;
}

/** The default name generate gives the field carrying `path`: flow.id → flow_id, unless taken. */
function addedName(path: string[], taken: Set<string>): string {
  const base = path.join("_");
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

export function dedupePlan(hook: HookDecl, v: Version, emitAnalyticsEvent: boolean | undefined): DedupePlan {
  const trigger = sendsTriggerId(v, emitAnalyticsEvent);
  if (hook.dedupe?.key?.length) {
    // The receiver uses the key fields only when all are present (src/server/dedupe-key.ts); an
    // optional one may be missing, and then the body key must still tell executions apart.
    const optional = hook.dedupe.key.some((f) => {
      const spec = hook.body?.[f];
      return spec !== undefined && typeof spec !== "string" && (spec.optional === true || spec.from?.startsWith("flow.transient_payload") === true);
    });
    return { kind: "fields", fields: hook.dedupe.key, ...(optional && !trigger ? { fallback: bodyKey(hook) } : {}) };
  }
  if (trigger) return { kind: "trigger" };
  return { kind: "body", ...bodyKey(hook) };
}

function bodyKey(hook: HookDecl): BodyKey {
  const body = Object.entries(hook.body ?? {});
  const taken = new Set(body.map(([name]) => name));
  const carriers: Array<{ field: string; from: string }> = [];
  const added: ResolvedField[] = [];
  const missing: string[] = [];
  for (const path of executionPaths(hook.on as Point)) {
    const from = path.join(".");
    const have = body.find(([, spec]) => fromOf(spec) === from);
    if (have) {
      carriers.push({ field: have[0], from });
    } else if (hook.jsonnet !== undefined) {
      missing.push(from);
    } else {
      const name = addedName(path, taken);
      // Optional for validation (a body from elsewhere may lack it); Kratos always sets these, so
      // the generated Jsonnet reads them unguarded.
      added.push({ name, from: path, type: "string", format: path[1] === "id" ? "uuid" : "date-time", optional: true });
      carriers.push({ field: name, from });
    }
  }
  return { carriers, added, missing };
}

/** One line for `check`: which key the receiver dedupes this hook on. */
export function describeDedupe(plan: DedupePlan): string {
  if (plan.kind === "fields") return `dedupe.key ${plan.fields.join(", ")}${plan.fallback ? `, else (a key field missing) the ${describeBody(plan.fallback)}` : ""}`;
  if (plan.kind === "trigger") return "Ory-Webhook-Trigger-Id header";
  return describeBody(plan);
}

function describeBody(key: BodyKey): string {
  const carried = key.carriers.map((c) => `${c.field} = ${c.from}${key.added.some((a) => a.name === c.field) ? ", added by generate" : ""}`);
  return `hash of the body, per execution by ${carried.join("; ")}`;
}
