// The Jsonnet `ctx` Kratos passes to a web_hook body: which paths exist, what JSON type each has,
// and which may be absent. CONTRACT §3.2 (shape and presence), §3.3 (nil id pre-persist).
import type { JsonType } from "../config/types.ts";
import { ctxPresence, flowHasIdentity, type Point } from "./hook-points.ts";
import { atLeast, supports, type Version } from "./versions.ts";

export type CtxFieldType = { type: JsonType; format?: "uuid" | "date-time" | "uri" | "email" };

const UUID: CtxFieldType = { type: "string", format: "uuid" };
const TIME: CtxFieldType = { type: "string", format: "date-time" };
const STRING: CtxFieldType = { type: "string" };
const ANY: CtxFieldType = { type: "any" };

// Identity keys as `Identity.MarshalJSON` writes them (CONTRACT §3.2). `metadata_public` may be null.
const IDENTITY: Record<string, CtxFieldType> = {
  id: UUID,
  external_id: STRING,
  schema_id: STRING,
  schema_url: STRING,
  state: STRING,
  state_changed_at: TIME,
  traits: { type: "object" },
  verifiable_addresses: { type: "array" },
  recovery_addresses: { type: "array" },
  metadata_public: ANY,
  created_at: TIME,
  updated_at: TIME,
  organization_id: ANY,
};

const SESSION: Record<string, CtxFieldType> = {
  id: UUID,
  active: { type: "boolean" },
  expires_at: TIME,
  authenticated_at: TIME,
  issued_at: TIME,
  authenticator_assurance_level: STRING,
  authentication_methods: { type: "array" },
  devices: { type: "array" },
  tokenized: { type: "boolean" },
};

const FLOW: Record<string, CtxFieldType> = {
  id: UUID,
  type: STRING,
  expires_at: TIME,
  issued_at: TIME,
  created_at: TIME,
  updated_at: TIME,
  request_url: STRING,
  return_to: STRING,
  active: STRING,
  state: ANY,
  ui: { type: "object" },
  refresh: { type: "boolean" },
  requested_aal: STRING,
  organization_id: ANY,
  oauth2_login_challenge: STRING,
};

function identityField(rest: string[]): CtxFieldType {
  if (rest.length === 0) return { type: "object" };
  const [key, ...deeper] = rest as [string, ...string[]];
  // Traits are whatever the identity schema says; string is the common case (CONTRACT §3.2).
  if (key === "traits") return deeper.length === 0 ? { type: "object" } : STRING;
  if (deeper.length > 0) return ANY;
  return IDENTITY[key] ?? ANY;
}

/**
 * The JSON type Kratos gives a ctx path, e.g. identity.id → uuid string, request_headers.X → array
 * of strings. Unknown paths are `any`: the receiver then accepts whatever arrives.
 */
export function ctxFieldType(path: readonly string[]): CtxFieldType {
  const [root, ...rest] = path as [string, ...string[]];
  switch (root) {
    case "identity":
      return identityField(rest);
    case "session":
      if (rest.length === 0) return { type: "object" };
      if (rest[0] === "identity") return identityField(rest.slice(1));
      return rest.length === 1 ? (SESSION[rest[0]!] ?? ANY) : ANY;
    case "flow":
      if (rest.length === 0) return { type: "object" };
      if (rest[0] === "identity") return identityField(rest.slice(1));
      if (rest[0] === "transient_payload") return rest.length === 1 ? { type: "object" } : ANY;
      return rest.length === 1 ? (FLOW[rest[0]!] ?? ANY) : ANY;
    case "request_headers":
      // http.Header: each header is a list of strings (CONTRACT §3.2).
      return rest.length === 0 ? { type: "object" } : rest.length === 1 ? { type: "array" } : ANY;
    case "request_cookies":
      return rest.length === 0 ? { type: "object" } : rest.length === 1 ? STRING : ANY;
    case "request_method":
    case "request_url":
      return rest.length === 0 ? STRING : ANY;
    default:
      return ANY;
  }
}

/**
 * `flow.transient_payload` is omitted unless the client sent one on this request (CONTRACT §3.2),
 * so a field read from it is always optional.
 */
export function ctxPathAlwaysOptional(path: readonly string[]): boolean {
  return path[0] === "flow" && path[1] === "transient_payload";
}

export type CtxAvailability = { ok: true } | { ok: false; reason: string };

/**
 * Whether a ctx path can exist at a hook point: `identity` and `session` are omitted where Kratos
 * has none, `flow.identity` exists only in settings flows. CONTRACT §3.2 presence matrix.
 */
export function ctxPathAvailable(path: readonly string[], point: Point, blocking: boolean, v: Version): CtxAvailability {
  const presence = ctxPresence(point, blocking, v);
  const phaseNote = blocking ? " (interrupt/enrich hooks run before the identity is stored)" : "";
  if (path[0] === "identity" && !presence.identity) {
    return { ok: false, reason: `Kratos sends no ctx.identity at ${point}${phaseNote}` };
  }
  if (path[0] === "session" && !presence.session) {
    return { ok: false, reason: `Kratos sends no ctx.session at ${point}${blocking ? " for interrupt/enrich hooks" : ""} in ${v.text}` };
  }
  if (path[0] === "flow" && path[1] === "identity" && !flowHasIdentity(point)) {
    return { ok: false, reason: `only settings flows carry flow.identity, not ${point}` };
  }
  return { ok: true };
}

/**
 * Kratos's default `clients.web_hook.header_allowlist` (= the fixed list of v1.3.x). CONTRACT §3.4.
 */
export const DEFAULT_HEADER_ALLOWLIST = [
  "Accept",
  "Accept-Encoding",
  "Accept-Language",
  "Content-Length",
  "Content-Type",
  "Origin",
  "Priority",
  "Referer",
  "Sec-Ch-Ua",
  "Sec-Ch-Ua-Mobile",
  "Sec-Ch-Ua-Platform",
  "Sec-Fetch-Dest",
  "Sec-Fetch-Mode",
  "Sec-Fetch-Site",
  "Sec-Fetch-User",
  "True-Client-Ip",
  "User-Agent",
] as const;

/**
 * The request headers Kratos passes into ctx.request_headers, or undefined when it passes all of
 * them (v1.0-v1.2). v1.3.x: the fixed list; v25.4.0+: `configured` replaces the default. CONTRACT §3.4.
 */
export function headerAllowlistAt(v: Version, configured: readonly string[] | undefined): readonly string[] | undefined {
  if (!atLeast(v, "v1.3.0")) return undefined;
  if (configured && supports(v, "header_allowlist")) return configured;
  return DEFAULT_HEADER_ALLOWLIST;
}

/** RFC 9110 token, the syntax of a header name (and of a cookie name). */
export function isHeaderToken(name: string): boolean {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name);
}
