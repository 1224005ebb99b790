// The two response bodies Kratos parses from a webhook (CONTRACT §5): validation messages on a
// ≥400 answer (§5.2) and an identity update on a 200 answer (§5.1). The receiver asks this module
// for bytes; it does not re-encode Kratos's shapes itself.
import { splitPoint, type Point } from "./hook-points.ts";

/**
 * Status of a rule denial. Kratos parses the messages of any 4xx except 429 (CONTRACT §5.2, §8.14)
 * and ignores which one; 422 keeps denials apart from 400 (malformed request, a misconfiguration)
 * and 401 in metrics and logs. Never 429 or 5xx: Kratos retries those and never parses the body
 * (CONTRACT §4.3).
 */
export const DENY_STATUS = 422;

/** Message ids kratos-hooks uses: a private range clear of Kratos's own 1xxxxxx/4xxxxxx ids (CONTRACT §8.14). */
export const MESSAGE_ID_MIN = 9_000_000;
export const MESSAGE_ID_MAX = 9_099_999;
/** The top of that range is the receiver's own messages; a rule's `deny.id` may not use it. */
export const RECEIVER_MESSAGE_ID_MIN = 9_099_900;
/** A value the user entered does not fit the hook's body declaration (hook-route.ts asFormMessage). */
export const INVALID_VALUE_MESSAGE_ID = 9_099_900;

/** One message on a form node or the whole form (`text.Message`, CONTRACT §5.2). */
export type KratosMessage = {
  id: number;
  text: string;
  /** "error" renders as an error; anything else as info (CONTRACT §5.2). */
  type: "error" | "info";
  context?: Record<string, unknown>;
};

export type MessageEntry = { instancePtr: string; messages: KratosMessage[] };

/**
 * JSON pointer of the form node a body field belongs to: a field read from identity.traits.X points
 * at `#/traits/X`; anything else at the whole form, `#/` (CONTRACT §5.2: pointers without `#/` make
 * Kratos invent a node, so always use `#/...`).
 */
export function instancePtrFor(from: readonly string[] | undefined): string {
  if (from && from.length >= 3 && from[0] === "identity" && from[1] === "traits") {
    return `#/traits/${from.slice(2).map(escapePointerToken).join("/")}`;
  }
  return "#/";
}

function escapePointerToken(token: string): string {
  return token.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** `{"messages":[{"instance_ptr":…,"messages":[{"id","text","type","context"?}]}]}`, keys in Kratos's order. CONTRACT §5.2. */
export function messagesBody(entries: readonly MessageEntry[]): string {
  if (entries.length === 0 || entries.some((e) => e.messages.length === 0)) {
    // Zero messages makes Kratos fail with "got no validation errors" (CONTRACT §5.2).
    throw new Error("messagesBody needs at least one message per entry");
  }
  return JSON.stringify({
    messages: entries.map((e) => ({
      instance_ptr: e.instancePtr,
      messages: e.messages.map((m) => ({ id: m.id, text: m.text, type: m.type, ...(m.context !== undefined ? { context: m.context } : {}) })),
    })),
  });
}

/** Identity fields Kratos reads from a 200 parse answer, in the order it applies them (CONTRACT §5.1). */
export type IdentityUpdate = {
  traits?: Record<string, unknown>;
  schema_id?: string;
  state?: "active" | "inactive";
  verifiable_addresses?: unknown[];
  recovery_addresses?: unknown[];
  metadata_public?: Record<string, unknown>;
  metadata_admin?: Record<string, unknown>;
  /** Kratos ≥ v25.4.0; presence matters, "" unsets it. */
  external_id?: string;
};
const IDENTITY_KEYS = ["traits", "schema_id", "state", "verifiable_addresses", "recovery_addresses", "metadata_public", "metadata_admin", "external_id"] as const;

/**
 * `{"identity":{…only the given fields…}}`, or undefined when nothing is given (answer 204 then:
 * an empty 200 fails the flow, CONTRACT §8.15). Null values are dropped: Kratos would store the
 * literal `null` (CONTRACT §5.1).
 */
export function identityUpdateBody(update: IdentityUpdate): string | undefined {
  const identity: Record<string, unknown> = {};
  for (const key of IDENTITY_KEYS) {
    const value = update[key];
    if (value !== undefined && value !== null) identity[key] = value;
  }
  return Object.keys(identity).length === 0 ? undefined : JSON.stringify({ identity });
}

/** At `before` points there is no identity: an identity answer dereferences nil in Kratos (CONTRACT §5.1, §8.15). */
export function mayAnswerIdentity(point: Point): boolean {
  return splitPoint(point).phase === "after";
}
