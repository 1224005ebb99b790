// Where a hook's side effects can outrun the flow's outcome, and the order generate gives our own
// web_hooks in a list so they cannot. CONTRACT §1.2-§1.4.
//
// Kratos calls a list's hooks one after another and the first error stops the chain and fails
// the flow (§1.3). At registration.after and settings.after the blocking web_hooks (parse or
// can_interrupt) run in a loop of their own before the identity is stored, the others after it
// (§1.2, §1.4); everywhere else (login.after, recovery/verification after, every before point)
// notify and blocking web_hooks run in one sequence, in list order.
import { flowLevelIgnoresBlocking, splitPoint, type Point } from "./hook-points.ts";

/** The facts about a hook that decide its place in a list. */
export type OrderFacts = { mode: "notify" | "interrupt" | "enrich"; hasActions: boolean };

/** Notify and blocking web_hooks at this point run in one sequence, so their order matters. */
export function runsInOneSequence(point: Point): boolean {
  return !flowLevelIgnoresBlocking(point);
}

/**
 * Registration and settings `after` blocking web_hooks run before Kratos stores the identity, and
 * Kratos can still refuse the flow after them (a taken address, a later hook, the identity
 * schema): their answers are provisional (§1.3, §1.4).
 */
export function runsBeforePersist(point: Point, mode: OrderFacts["mode"]): boolean {
  return mode !== "notify" && flowLevelIgnoresBlocking(point);
}

/**
 * Rank of our web_hook in a list where all run in one sequence: hooks that can refuse the flow
 * without doing anything first, then those that can refuse and have actions (their actions are
 * enqueued only when they let the flow through, so no later hook of ours can refuse it after),
 * then notify hooks, which only run once every hook that can refuse has let the flow through.
 */
export function sequenceRank(h: OrderFacts): number {
  return h.mode === "notify" ? 2 : h.hasActions ? 1 : 0;
}

/**
 * Kratos's own hooks that can end a flow with an error after our web_hooks were called:
 * require_verified_address refuses a login from an unverified address (CONTRACT §1.1, §1.3).
 */
export function refusesFlow(builtin: string): boolean {
  return builtin === "require_verified_address";
}

/**
 * Points where a per-method list that yields hooks replaces the flow-level list for its method
 * (login after; registration and settings after, post-persist): Kratos falls back to the
 * flow-level list only when the per-method one is empty (CONTRACT §1.2).
 */
export const FLOW_LEVEL_FALLBACK_POINTS: readonly Point[] = ["login.after", "registration.after", "settings.after"];

/** What the flow is called in messages: "sign-up", "login", ... */
export function flowNoun(point: Point): string {
  return { registration: "sign-up", login: "login", settings: "settings change", recovery: "recovery", verification: "verification" }[splitPoint(point).flow];
}
