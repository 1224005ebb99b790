// The Jsonnet `ctx` Kratos passes to a web_hook body: which paths exist, what JSON type each has,
// and which may be absent. CONTRACT §3.2 (shape and presence), §3.3 (nil id pre-persist).
import type { JsonType } from "../config/types.ts";
import { ctxPresence, flowHasIdentity, splitPoint, type Point } from "./hook-points.ts";
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
 * The part of `path` that is a list in ctx when the path goes on past it
 * (identity.verifiable_addresses.0.value → identity.verifiable_addresses), else undefined. A body
 * reads each key of a path as a name (`x["0"]`), and Jsonnet refuses to index a list by a string:
 * "attempted index an array with string", on every call (CONTRACT §3.2, §3.6).
 */
export function ctxListPrefix(path: readonly string[]): string[] | undefined {
  for (let i = 1; i < path.length; i++) if (ctxFieldType(path.slice(0, i)).type === "array") return path.slice(0, i);
  return undefined;
}

/**
 * The JSON type (and format) Kratos itself fixes for a ctx path, or undefined where the type is not
 * Kratos's to fix: keys below identity.traits follow the identity schema (ctxFieldType's `string`
 * there is only a default), and `any` paths (transient_payload, metadata_public, unknown keys).
 */
export function ctxFixedType(path: readonly string[]): CtxFieldType | undefined {
  const rest = identityRest(path);
  if (rest !== undefined && rest[0] === "traits" && rest.length > 1) return undefined;
  const t = ctxFieldType(path);
  return t.type === "any" ? undefined : t;
}

/**
 * `flow.transient_payload` is omitted unless the client sent one on this request (CONTRACT §3.2),
 * so a field read from it is always optional.
 */
export function ctxPathAlwaysOptional(path: readonly string[]): boolean {
  return path[0] === "flow" && path[1] === "transient_payload";
}

/**
 * Whether flow.transient_payload can be present: only at after hooks (before hooks run at flow
 * creation), in registration flows since ≤v1.0.0 and in every flow since v1.2.0. Even then it is
 * absent unless the client sent one. CONTRACT §3.2, Appendix A.
 */
export function transientPayloadPossible(point: Point, v: Version): boolean {
  const { flow, phase } = splitPoint(point);
  return phase === "after" && (flow === "registration" || atLeast(v, "v1.2.0"));
}

export type CtxAvailability = { ok: true } | { ok: false; reason: string; hint?: string };

/**
 * Identity keys the Go type has but Kratos never puts into ctx, wherever an identity appears
 * (ctx.identity, ctx.session.identity, ctx.flow.identity): `Identity.MarshalJSON` strips
 * `credentials` and sets `metadata_admin` to nil before encoding (CONTRACT §0.4, §3.2, §8.17;
 * the same in every version since v1.0.0). A body that reads one fails with "field does not exist"
 * and fails every flow the hook is in. `since`: the key exists in ctx only from that version on.
 */
const IDENTITY_KEYS_NOT_IN_CTX: Record<string, { never: true; why: string; hint: string } | { since: string; why: string; hint: string }> = {
  metadata_admin: {
    never: true,
    why: "Kratos removes metadata_admin from the identity it passes to webhooks",
    hint: "metadata_admin never reaches a webhook; keep what the receiver needs in metadata_public or traits",
  },
  credentials: {
    never: true,
    why: "Kratos removes credentials from the identity it passes to webhooks",
    hint: "credentials never reach a webhook; read identity.id, traits or verifiable_addresses instead",
  },
  external_id: { since: "v25.4.0", why: "identity.external_id is in ctx only since Kratos v25.4.0", hint: "target Kratos v25.4.0 or later, or key on identity.id" },
};

/** Session keys never serialised: the session token is `json:"-"` (CONTRACT §3.2). */
const SESSION_KEYS_NOT_IN_CTX: Record<string, string> = { token: "Kratos never serialises the session token" };

/** Where an identity sits in ctx: the path after it, or undefined when `path` is not inside one. */
function identityRest(path: readonly string[]): readonly string[] | undefined {
  if (path[0] === "identity") return path.slice(1);
  if ((path[0] === "session" || path[0] === "flow") && path[1] === "identity") return path.slice(2);
  return undefined;
}

/** A path Kratos strips, nulls or does not yet send at `v`, whatever the hook point. */
function strippedField(path: readonly string[], v: Version): CtxAvailability {
  const rest = identityRest(path);
  const key = rest?.[0];
  const entry = key !== undefined ? IDENTITY_KEYS_NOT_IN_CTX[key] : undefined;
  if (entry && ("never" in entry || !atLeast(v, entry.since))) {
    return { ok: false, reason: "never" in entry ? entry.why : `${entry.why} (target ${v.text})`, hint: entry.hint };
  }
  if (path[0] === "session" && path.length >= 2 && SESSION_KEYS_NOT_IN_CTX[path[1]!]) {
    return { ok: false, reason: SESSION_KEYS_NOT_IN_CTX[path[1]!]!, hint: "identify the session by session.id" };
  }
  return { ok: true };
}

/**
 * Whether a ctx path can exist at a hook point: `identity` and `session` are omitted where Kratos
 * has none, `flow.identity` exists only in settings flows (CONTRACT §3.2 presence matrix), and the
 * identity keys Kratos strips or nulls are never there (strippedField).
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
  return strippedField(path, v);
}

/**
 * ctx paths Kratos leaves out (omitempty) or sets to null in ordinary flows, though the key exists
 * (CONTRACT §3.2): a body field that reads one without `optional` fails to build ("field does not
 * exist", or indexing null) whenever it is missing, and so does the flow. `level` error: missing
 * for most users or flows; warning: present with the usual identity schema.
 */
export function ctxPathMayBeMissing(path: readonly string[], point: Point): { level: "error" | "warning"; when: string } | undefined {
  const rest = identityRest(path);
  if (rest !== undefined) {
    const where = path.slice(0, path.length - rest.length).join(".");
    if (rest[0] === "external_id") return { level: "error", when: `for every identity without an external id (Kratos omits ${where}.external_id then)` };
    if (rest[0] === "metadata_public" && rest.length > 1) return { level: "error", when: `while ${where}.metadata_public is null, as it is for every new identity` };
    if ((rest[0] === "verifiable_addresses" || rest[0] === "recovery_addresses") && rest.length === 1) {
      return { level: "warning", when: `when the identity schema marks no trait for ${rest[0] === "verifiable_addresses" ? "verification" : "recovery"} (Kratos omits ${where}.${rest[0]} then)` };
    }
    return undefined;
  }
  if (path[0] !== "flow") return undefined;
  if (path[1] === "return_to") return { level: "error", when: "unless the flow was started with ?return_to= (Kratos omits flow.return_to then)" };
  if (path[1] === "oauth2_login_challenge") return { level: "error", when: "outside OAuth2 logins (Kratos omits flow.oauth2_login_challenge then)" };
  if (path[1] === "active" && splitPoint(point).phase === "before") return { level: "error", when: `at ${point}: no method is chosen when the flow is created` };
  return undefined;
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

/** Go's http.CanonicalHeaderKey: `x-request-id` → `X-Request-Id`; names with other characters stay as they are. */
export function canonicalHeaderName(name: string): string {
  if (!/^[A-Za-z0-9-]+$/.test(name)) return name;
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}

/**
 * The key a request header has in ctx.request_headers. Go canonicalises header names, except in
 * v25.4.x, which keys each header by its allowlist entry's own spelling (CONTRACT §3.2, Appendix C.2).
 */
export function requestHeaderKey(header: string, v: Version, allowlist: readonly string[] | undefined): string {
  if (allowlist && supports(v, "header_allowlist") && !atLeast(v, "v26.2.0")) {
    const entry = allowlist.find((a) => a.toLowerCase() === header.toLowerCase());
    if (entry !== undefined) return entry;
  }
  return canonicalHeaderName(header);
}

/** RFC 9110 token, the syntax of a header name (and of a cookie name). */
export function isHeaderToken(name: string): boolean {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name);
}

// Example ctx ------------------------------------------------------------------------------------

export type ExampleCtxOptions = {
  /** The credentials method that completed (flow.active at after hooks); default per flow. */
  method?: string;
  /** identity.traits; default { email: "foo@example.org" }. */
  traits?: Record<string, unknown>;
  /** flow.transient_payload at after hooks; null = the client sent none (the key is then absent). */
  transientPayload?: Record<string, unknown> | null;
  /** kratos.header_allowlist of hooks.yaml (v25.4.0+), which decides the request headers ctx carries. */
  headerAllowlist?: readonly string[];
};

const EXAMPLE = {
  kratos: "http://127.0.0.1:4433",
  ui: "http://127.0.0.1:4455",
  flowId: "5b3d7f0e-8a53-4c8e-9d5e-0d1f8c2b6a11",
  identityId: "5ff66179-c240-4703-b0d8-494592cefff5",
  sessionId: "068f6bb6-d15f-436d-94f7-b3fd0489c9ef",
  addressId: "45e867e9-2745-4f16-8dd4-84334a252b61",
  recoveryAddressId: "3c1a8e5e-7d4b-4b1e-9f0a-2d6c5e8b7a90",
  deviceId: "a8c2f0d4-1b3e-4c5d-8e7f-9a0b1c2d3e4f",
  nilId: "00000000-0000-0000-0000-000000000000",
  zeroTime: "0001-01-01T00:00:00Z",
  csrfCookie: "csrf_token_806060ca5bf70dff3caa0e5c860002aade9d470a5a4dce73bcfa7ba10778f481",
  created: "2026-07-01T08:00:00Z",
  verified: "2026-07-01T08:05:00Z",
  issued: "2026-07-29T10:05:00Z",
  now: "2026-07-29T10:06:00Z",
  expires: "2026-07-29T10:15:00Z",
  sessionExpires: "2026-07-30T10:06:00Z",
} as const;

const DEFAULT_METHOD: Record<string, string> = { registration: "password", login: "password", settings: "profile", recovery: "code", verification: "code" };

/**
 * A realistic `ctx` for a hook point, as Kratos builds it (CONTRACT §3.2, examples E5/E6):
 * identity and session only where the presence matrix has them, the all-zero identity id at
 * registration pre-persist (§3.3), flow.identity in settings flows, request headers filtered as the
 * version filters them (§3.4), transient_payload at after hooks. Values are fixed, so output is
 * stable. `blocking` = interrupt/enrich (pre-persist at registration/settings after).
 */
export function exampleCtx(point: Point, blocking: boolean, v: Version, options: ExampleCtxOptions = {}): Record<string, unknown> {
  const { flow: flowName, phase } = splitPoint(point);
  const presence = ctxPresence(point, blocking, v);
  const after = phase === "after";
  const method = options.method ?? DEFAULT_METHOD[flowName]!;
  const prePersistRegistration = presence.identityIdIsNil;
  const identity = exampleIdentity(options.traits ?? { email: "foo@example.org" }, prePersistRegistration);

  const flowUrl = `${EXAMPLE.kratos}/self-service/${flowName}?flow=${EXAMPLE.flowId}`;
  const flow: Record<string, unknown> = {
    id: EXAMPLE.flowId,
    organization_id: null,
    type: "browser",
    expires_at: EXAMPLE.expires,
    issued_at: EXAMPLE.issued,
    request_url: `${EXAMPLE.kratos}/self-service/${flowName}/browser`,
    ...(after ? { active: method } : {}),
    ui: {
      action: flowUrl,
      method: "POST",
      nodes: [
        { type: "input", group: "default", attributes: { name: "csrf_token", type: "hidden", value: "<masked csrf token>", required: true, disabled: false, node_type: "input" }, messages: [], meta: {} },
      ],
    },
    state: FLOW_STATE[flowName]![after ? 1 : 0],
  };
  if (flowName === "login") Object.assign(flow, { created_at: EXAMPLE.issued, updated_at: EXAMPLE.issued, refresh: false, requested_aal: "aal1" });
  // Settings flows carry the identity being changed, even at settings.before (CONTRACT §3.2).
  if (flowHasIdentity(point)) flow.identity = exampleIdentity(options.traits ?? { email: "foo@example.org" }, false);
  const transient = options.transientPayload === undefined ? { consent: true } : options.transientPayload;
  if (transient !== null && transientPayloadPossible(point, v)) flow.transient_payload = transient;

  const sent: Record<string, string[]> = {
    Accept: ["application/json"],
    "Content-Type": after ? ["application/json"] : [],
    Origin: [EXAMPLE.ui],
    "User-Agent": ["Mozilla/5.0 (X11; Linux x86_64)"],
    "X-Forwarded-For": ["203.0.113.7"],
    "X-Request-Id": ["7f3c2a10-5d4e-4f6a-9b8c-1d2e3f4a5b6c"],
    Cookie: [`${EXAMPLE.csrfCookie}=<cookie value>`],
  };
  const allowlist = headerAllowlistAt(v, options.headerAllowlist);
  const request_headers = Object.fromEntries(
    Object.entries(sent)
      .filter(([name, values]) => values.length > 0 && (!allowlist || allowlist.some((a) => a.toLowerCase() === name.toLowerCase())))
      .map(([name, values]) => [requestHeaderKey(name, v, allowlist), values]),
  );

  // A settings flow needs a signed-in user, so the session cookie is there; request_cookies is never filtered (CONTRACT §3.2).
  const request_cookies: Record<string, string> = { [EXAMPLE.csrfCookie]: "<cookie value>", ...(flowName === "settings" ? { ory_kratos_session: "<session cookie>" } : {}) };

  const ctx: Record<string, unknown> = {
    flow,
    request_headers,
    request_method: after ? "POST" : "GET",
    request_url: after ? flowUrl : `${EXAMPLE.kratos}/self-service/${flowName}/browser`,
    request_cookies,
  };
  if (presence.identity) ctx.identity = identity;
  if (presence.session) ctx.session = exampleSession(exampleIdentity(options.traits ?? { email: "foo@example.org" }, false), flowName === "login" ? method : "password");
  return ctx;
}

const FLOW_STATE: Record<string, [string, string]> = {
  registration: ["choose_method", "choose_method"],
  login: ["choose_method", "choose_method"],
  settings: ["show_form", "show_form"],
  recovery: ["choose_method", "passed_challenge"],
  verification: ["choose_method", "passed_challenge"],
};

function exampleIdentity(traits: Record<string, unknown>, prePersist: boolean): Record<string, unknown> {
  const email = typeof traits.email === "string" ? traits.email : "foo@example.org";
  // Pre-persist registration: nil ids and zero timestamps, addresses pending (CONTRACT §3.3, E6).
  const id = prePersist ? EXAMPLE.nilId : EXAMPLE.identityId;
  const created = prePersist ? EXAMPLE.zeroTime : EXAMPLE.created;
  return {
    id,
    schema_id: "default",
    schema_url: prePersist ? "" : `${EXAMPLE.kratos}/schemas/ZGVmYXVsdA`,
    state: "active",
    state_changed_at: prePersist ? EXAMPLE.now : EXAMPLE.created,
    traits,
    verifiable_addresses: [
      prePersist
        ? { id: EXAMPLE.nilId, value: email, verified: false, via: "email", status: "pending", created_at: EXAMPLE.zeroTime, updated_at: EXAMPLE.zeroTime }
        : { id: EXAMPLE.addressId, value: email, verified: true, via: "email", status: "completed", verified_at: EXAMPLE.verified, created_at: EXAMPLE.created, updated_at: EXAMPLE.verified },
    ],
    recovery_addresses: [{ id: prePersist ? EXAMPLE.nilId : EXAMPLE.recoveryAddressId, value: email, via: "email", created_at: created, updated_at: created }],
    metadata_public: null,
    created_at: created,
    updated_at: prePersist ? EXAMPLE.zeroTime : EXAMPLE.verified,
    // metadata_admin and credentials are never in ctx; external_id is omitted when empty (CONTRACT §3.2).
    organization_id: null,
  };
}

function exampleSession(identity: Record<string, unknown>, method: string): Record<string, unknown> {
  return {
    id: EXAMPLE.sessionId,
    active: true,
    expires_at: EXAMPLE.sessionExpires,
    authenticated_at: EXAMPLE.now,
    authenticator_assurance_level: "aal1",
    authentication_methods: [{ method, aal: "aal1", completed_at: EXAMPLE.now }],
    issued_at: EXAMPLE.now,
    identity,
    devices: [{ id: EXAMPLE.deviceId, ip_address: "203.0.113.7", user_agent: "Mozilla/5.0 (X11; Linux x86_64)", location: "" }],
  };
}
