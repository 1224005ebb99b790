// Where a web_hook can attach and how Kratos treats it there. CONTRACT §1.1-§1.4, §3.2, §5.1.
import { hookListsAt, atLeast, type Version } from "./versions.ts";

export type Flow = "registration" | "login" | "settings" | "recovery" | "verification";
export type Phase = "before" | "after";
export type Point = `${Flow}.${Phase}`;
export type Blocking = "notify" | "interrupt" | "enrich";

export function splitPoint(point: string): { flow: Flow; phase: Phase } {
  const [flow, phase] = point.split(".") as [Flow, Phase];
  return { flow, phase };
}

/** Per-method list names for a hook point at a version, e.g. registration.after → [password, oidc, ...]. CONTRACT §1.1. */
export function methodsAt(point: Point, v: Version): string[] {
  const prefix = `${point}.`;
  return Object.keys(hookListsAt(v))
    .filter((k) => k.startsWith(prefix))
    .map((k) => k.slice(prefix.length))
    .sort();
}

/** The list key (below selfservice.flows, without `.hooks`) for a point and an optional method. */
export function listKey(point: Point, method?: string): string {
  return method ? `${point}.${method}` : point;
}

export function listExists(key: string, v: Version): boolean {
  return key in hookListsAt(v);
}

export function allowedHooks(key: string, v: Version): readonly string[] {
  return hookListsAt(v)[key] ?? [];
}

/**
 * Blocking (interrupt/enrich) webhooks in registration/settings `after` run pre-persist, and
 * Kratos reads pre-persist hooks only from per-method lists: in the flow-level list they are never
 * called. CONTRACT §1.2. Other points read the flow-level list (before, recovery/verification after)
 * or fall back to it (login after) and call any webhook there.
 */
export function flowLevelIgnoresBlocking(point: Point): boolean {
  return point === "registration.after" || point === "settings.after";
}

/** Points without per-method lists: the flow-level list is the only one. CONTRACT §1.1. */
export function hasMethodLists(point: Point): boolean {
  const { flow, phase } = splitPoint(point);
  return phase === "after" && (flow === "registration" || flow === "login" || flow === "settings");
}

/**
 * Identity changes from a `response.parse` answer are persisted only at registration and settings
 * `after` (pre-persist). Elsewhere they are applied to a copy and lost [inferred], and at `before`
 * points there is no identity at all. CONTRACT §1.4, §5.1, §8.15.
 */
export function persistsIdentityChanges(point: Point): boolean {
  return point === "registration.after" || point === "settings.after";
}

/**
 * Whether ctx.identity / ctx.session are present at a point (CONTRACT §3.2 presence matrix).
 * `blocking` matters at registration/settings after: a parse/interrupt webhook runs pre-persist,
 * a notify one post-persist.
 */
export function ctxPresence(point: Point, blocking: boolean, v: Version): { identity: boolean; session: boolean; identityIdIsNil: boolean } {
  const { flow, phase } = splitPoint(point);
  if (phase === "before") {
    return { identity: false, session: flow === "settings" && atLeast(v, "v26.2.0"), identityIdIsNil: false };
  }
  switch (flow) {
    case "login":
      return { identity: true, session: atLeast(v, "v1.2.0"), identityIdIsNil: false };
    case "registration":
      // Pre-persist identity has the all-zero UUID (CONTRACT §3.3); no session at either phase.
      return { identity: true, session: false, identityIdIsNil: blocking };
    case "settings":
      return { identity: true, session: blocking ? atLeast(v, "v26.2.0") : atLeast(v, "v25.4.0"), identityIdIsNil: false };
    case "recovery":
    case "verification":
      return { identity: true, session: false, identityIdIsNil: false };
  }
}

/** `settings` flows carry `flow.identity` even at settings.before. CONTRACT §3.2. */
export function flowHasIdentity(point: Point): boolean {
  return splitPoint(point).flow === "settings";
}

/** Kratos's built-in hooks a list may carry besides web_hook; `session` must go last. CONTRACT §1.3, §8.7. */
export const SESSION_HOOK = "session";
