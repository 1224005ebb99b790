// Who controls each ctx path Kratos hands a web_hook body (CONTRACT §3.2): Kratos itself (ids,
// flow type, timestamps, AAL), the person filling in the form (traits, transient_payload, request
// headers and cookies, anything echoing the request), or neither, because the value is a
// credential (the Kratos session cookie or token, §0.5, §3.4, §8.11) that a body must never read.
import { atLeast, type Version } from "./versions.ts";

/**
 * - trusted: computed by Kratos, not typed by the user.
 * - user: typed or sent by an anonymous person (a sign-up form, a browser); hostile.
 * - credential: carries the user's session (or CSRF) secret; a body may not read it.
 */
export type Trust = "trusted" | "user" | "credential";

export type TrustVerdict = { trust: Trust; why: string };

// Identity keys Kratos fills itself; the rest (traits, addresses taken from traits) the user typed.
// metadata_public is not among them: Kratos stores what an enrich answer (or the admin API) put
// there, and an enrich patch may copy a trait into it (`website: "{{ body.website }}"`).
const IDENTITY_TRUSTED = new Set(["id", "external_id", "schema_id", "schema_url", "state", "state_changed_at", "created_at", "updated_at", "organization_id"]);
const SESSION_TRUSTED = new Set(["id", "active", "expires_at", "authenticated_at", "issued_at", "authenticator_assurance_level", "authentication_methods"]);
// flow.request_url, return_to, oauth2_login_challenge come from the request's URL; ui holds what
// the user entered; transient_payload is the user's own JSON.
const FLOW_TRUSTED = new Set(["id", "type", "expires_at", "issued_at", "created_at", "updated_at", "active", "state", "refresh", "requested_aal", "organization_id"]);

/**
 * Request headers that carry a session or credentials: the Cookie header (the session cookie),
 * Authorization and X-Session-Token (Kratos reads the API session token from both).
 */
export const CREDENTIAL_HEADERS = ["Cookie", "Authorization", "Proxy-Authorization", "X-Session-Token", "Ory-Session-Token"] as const;

/**
 * Cookies Kratos (or Ory Network) sets: the session cookie `ory_kratos_session` (or `ory_session_<project>`),
 * the continuity and OIDC cookies (`ory_kratos_*`), and the CSRF cookie `csrf_token_<hash>`.
 */
export function isCredentialCookie(name: string, sessionCookie?: string): boolean {
  return /^(ory_|csrf_token)/i.test(name) || (sessionCookie !== undefined && name === sessionCookie);
}

export function isCredentialHeader(name: string): boolean {
  return CREDENTIAL_HEADERS.some((h) => h.toLowerCase() === name.toLowerCase());
}

export type TrustOptions = {
  version: Version | undefined;
  /** The request headers Kratos passes (undefined: all of them, v1.0-v1.2). */
  headerAllowlist: readonly string[] | undefined;
  /** Kratos's session cookie name when session.cookie.name changes it (kratos.session_cookie). */
  sessionCookie?: string;
};

function identityTrust(rest: readonly string[], where: string): TrustVerdict {
  if (rest.length === 0) return { trust: "user", why: `${where} holds the traits the user typed` };
  if (rest[0] === "metadata_public") return { trust: "user", why: `${where}.metadata_public holds what enrich hooks stored, and a patch may copy a trait there` };
  if (IDENTITY_TRUSTED.has(rest[0]!)) return { trust: "trusted", why: `${where}.${rest[0]} is set by Kratos` };
  return { trust: "user", why: `${[where, ...rest].join(".")} is typed by the user` };
}

/**
 * The trust of a ctx path (split into keys). Unknown keys are user-controlled: the safe side.
 * CONTRACT §3.2 (ctx shape), §3.4 (header allowlist), §0.5 (request_cookies is never filtered).
 */
export function ctxPathTrust(path: readonly string[], o: TrustOptions): TrustVerdict {
  const [root, ...rest] = path as [string, ...string[]];
  switch (root) {
    case "identity":
      return identityTrust(rest, "identity");
    case "session":
      if (rest.length === 0) return { trust: "user", why: "session holds the identity's traits and the user's devices" };
      if (rest[0] === "identity") return identityTrust(rest.slice(1), "session.identity");
      // The session as a token (a JWT from a tokenize template, §3.2 session/session.go): whoever holds it is the user.
      if (rest[0] === "tokenized") return { trust: "credential", why: "session.tokenized is the session as a token (a JWT), which carries the user's session" };
      if (SESSION_TRUSTED.has(rest[0]!)) return { trust: "trusted", why: `session.${rest[0]} is set by Kratos` };
      return { trust: "user", why: `session.${rest[0]} holds what the browser sent (user agent, address)` };
    case "flow":
      if (rest.length === 0) return { trust: "user", why: "flow holds the request URL and what the user entered" };
      if (rest[0] === "identity") return identityTrust(rest.slice(1), "flow.identity");
      if (FLOW_TRUSTED.has(rest[0]!)) return { trust: "trusted", why: `flow.${rest[0]} is set by Kratos` };
      return { trust: "user", why: `${path.join(".")} is sent or typed by the user` };
    case "request_method":
      return { trust: "trusted", why: "request_method is the method Kratos routed" };
    case "request_url":
      return { trust: "user", why: "request_url is the URL the browser asked for, query included" };
    case "request_cookies":
      if (rest.length === 0) return { trust: "credential", why: "request_cookies holds every cookie of the request, the Kratos session cookie included" };
      if (isCredentialCookie(rest[0]!, o.sessionCookie)) return { trust: "credential", why: `cookie ${rest[0]} is a Kratos session, continuity or CSRF cookie` };
      return { trust: "user", why: `cookie ${rest[0]} is sent by the browser` };
    case "request_headers": {
      if (rest.length === 0) {
        const passed = credentialHeadersPassed(o);
        if (passed.length > 0) {
          const how = o.headerAllowlist ? "kratos.header_allowlist lets through" : "Kratos before v1.3.0 passes every header, including";
          return { trust: "credential", why: `request_headers is every header Kratos passes, and ${how} ${passed.join(", ")}` };
        }
        return { trust: "user", why: "request headers are sent by the browser" };
      }
      if (isCredentialHeader(rest[0]!)) return { trust: "credential", why: `header ${rest[0]} carries the user's session or credentials` };
      return { trust: "user", why: `header ${rest[0]} is sent by the browser` };
    }
    default:
      return { trust: "user", why: `${root} is not a ctx key Kratos fills` };
  }
}

/** Credential headers Kratos would put into ctx.request_headers. */
function credentialHeadersPassed(o: TrustOptions): string[] {
  // v1.0-v1.2 pass every header (CONTRACT §3.4); with no version known, assume the worst.
  if (!o.headerAllowlist || (o.version && !atLeast(o.version, "v1.3.0"))) return [...CREDENTIAL_HEADERS];
  return CREDENTIAL_HEADERS.filter((h) => o.headerAllowlist!.some((a) => a.toLowerCase() === h.toLowerCase()));
}
