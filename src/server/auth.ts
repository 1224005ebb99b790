// Checks the credentials exactly as Kratos sends them (CONTRACT §2.3): api_key in a header
// (`Header.Set(name, value)`), api_key in a cookie (`req.AddCookie(name=value)`), or basic_auth
// (`Authorization: Basic base64(user:password)`). Secrets come from the environment at startup;
// comparisons hash both sides first so neither the value nor its length leaks through timing.
import { createHash, timingSafeEqual } from "node:crypto";
import { RUNTIME } from "../runtime.ts";
import { ConfigError } from "../errors.ts";
import type { AuthDecl } from "../config/model.ts";
import type { SourceLoc } from "../config/types.ts";

/** True when the request carries the hook's credentials (always true for a hook without auth). */
export type AuthCheck = (headers: Headers) => boolean;

type Env = Record<string, string | undefined>;

/** SHA-256: Bun's native one where it runs (the faster, on every authenticated request), else node:crypto's. */
const digest: (data: string | Uint8Array) => Uint8Array =
  RUNTIME === "bun" ? (data) => Bun.SHA256.hash(data) as Uint8Array : (data) => createHash("sha256").update(data).digest();

function sameSecret(presented: string | Uint8Array, expectedDigest: Uint8Array): boolean {
  return timingSafeEqual(digest(presented), expectedDigest);
}

function readSecret(env: Env, name: string, hook: string, key: string, loc: SourceLoc | undefined): string {
  const value = env[name];
  if (value === undefined || value === "") {
    throw new ConfigError(
      `environment variable ${name} is not set (the ${key === "secret_env" ? "api key" : "basic auth password"} of hook '${hook}')`,
      loc,
      `hooks.${hook}.auth.${key}`,
      `export ${name}=... before 'kratos-hooks serve'; Kratos must send the same value`,
    );
  }
  return value;
}

/**
 * Go's `http.Cookie.String` drops bytes that are invalid in a cookie value (control bytes, `"`,
 * `;`, `\`, non-ASCII) and wraps a value containing a space or comma in double quotes
 * (net/http `sanitizeCookieValue`). What Kratos sends is therefore the sanitised secret.
 */
export function goCookieValue(value: string): string {
  let out = "";
  for (const ch of value) {
    const c = ch.charCodeAt(0);
    if (ch.length === 1 && c >= 0x20 && c < 0x7f && ch !== '"' && ch !== ";" && ch !== "\\") out += ch;
  }
  return out;
}

/** Values of every cookie called `name` in a Cookie header (`a=1; b=2`), surrounding quotes removed. */
export function cookieValues(header: string | null, name: string): string[] {
  if (!header) return [];
  const found: string[] = [];
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    let v = part.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    found.push(v);
  }
  return found;
}

export function compileAuth(hook: string, auth: AuthDecl | undefined, env: Env, loc?: SourceLoc): AuthCheck {
  if (!auth) return () => true;
  if (auth.type === "basic_auth") {
    const password = readSecret(env, auth.password_env, hook, "password_env", loc);
    const expected = digest(`${auth.user}:${password}`);
    return (headers) => {
      const header = headers.get("authorization");
      if (!header) return false;
      const sp = header.indexOf(" ");
      if (sp < 0 || header.slice(0, sp).toLowerCase() !== "basic") return false;
      const decoded = Buffer.from(header.slice(sp + 1).trim(), "base64");
      return sameSecret(decoded, expected);
    };
  }
  const secret = readSecret(env, auth.secret_env, hook, "secret_env", loc);
  const value = (auth.value_prefix ?? "") + secret;
  if (auth.in === "cookie") {
    const expected = digest(goCookieValue(value));
    const name = auth.name;
    return (headers) => {
      let ok = false;
      // Check every same-named cookie so the time spent does not depend on which one matched.
      for (const v of cookieValues(headers.get("cookie"), name)) ok = sameSecret(v, expected) || ok;
      return ok;
    };
  }
  const expected = digest(value);
  const name = auth.name;
  return (headers) => {
    const presented = headers.get(name); // Headers.get is case-insensitive (CONTRACT §8.16).
    return presented !== null && sameSecret(presented, expected);
  };
}

/**
 * The check of GET /metrics when `serve.metrics.token_env` is set: `Authorization: Bearer <token>`
 * (RFC 6750; the scheme in any case). Without it /metrics is open (always true).
 */
export function compileMetricsAuth(tokenEnv: { name: string; loc: SourceLoc } | undefined, env: Env): AuthCheck {
  if (!tokenEnv) return () => true;
  const token = env[tokenEnv.name];
  if (token === undefined || token === "") {
    throw new ConfigError(
      `environment variable ${tokenEnv.name} is not set (the bearer token /metrics requires)`,
      tokenEnv.loc,
      "serve.metrics.token_env",
      `export ${tokenEnv.name}=... before 'kratos-hooks serve', and give Prometheus the same value (authorization: { credentials_file: ... })`,
    );
  }
  const expected = digest(token);
  return (headers) => {
    const header = headers.get("authorization");
    if (!header) return false;
    const sp = header.indexOf(" ");
    if (sp < 0 || header.slice(0, sp).toLowerCase() !== "bearer") return false;
    return sameSecret(header.slice(sp + 1).trim(), expected);
  };
}
