// Admin sign-in: the operator enters the token (serve.admin.token_env) once; the page answers with
// a session cookie (HttpOnly, SameSite=Strict, Path=/) naming an in-memory session that holds a
// CSRF token. Every action is a POST that must carry that CSRF token in its form and come from the
// page's own origin (Origin, or Referer when a browser omits Origin); SameSite=Strict already keeps
// the cookie off requests started by other sites. Sessions end after 12 hours or at restart.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export const SESSION_COOKIE = "kh_admin";
const SESSION_MS = 12 * 3_600_000;
const MAX_SESSIONS = 1000;

type Session = { csrf: string; expires: number };

/** Equal-time comparison of two secrets of any length (their digests are compared). */
export function sameSecret(a: string, b: string): boolean {
  const h = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(h(a), h(b));
}

export class AdminSessions {
  readonly #sessions = new Map<string, Session>();
  constructor(readonly token: string, readonly now: () => number = Date.now) {}

  /** A new session if `given` is the admin token, else undefined. */
  signIn(given: string): { id: string; cookie: string } | undefined {
    if (!sameSecret(given, this.token)) return undefined;
    this.#prune();
    const id = randomBytes(32).toString("base64url");
    this.#sessions.set(id, { csrf: randomBytes(32).toString("base64url"), expires: this.now() + SESSION_MS });
    return { id, cookie: `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_MS / 1000}` };
  }

  signOut(request: Request): string {
    const id = sessionId(request);
    if (id) this.#sessions.delete(id);
    return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
  }

  /** The session of a request's cookie, if it is live. */
  session(request: Request): Session | undefined {
    const id = sessionId(request);
    const s = id ? this.#sessions.get(id) : undefined;
    if (!s) return undefined;
    if (s.expires <= this.now()) {
      this.#sessions.delete(id!);
      return undefined;
    }
    return s;
  }

  #prune(): void {
    const now = this.now();
    for (const [id, s] of this.#sessions) if (s.expires <= now) this.#sessions.delete(id);
    // A flood of sign-ins cannot grow memory without bound: the oldest sessions go first.
    while (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
  }
}

function sessionId(request: Request): string | undefined {
  const cookie = request.headers.get("cookie");
  if (!cookie) return undefined;
  for (const part of cookie.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

/**
 * Whether a POST comes from the page itself: its Origin (or, when absent, its Referer's origin)
 * is the origin the request was sent to. A request with neither is refused.
 */
export function sameOrigin(request: Request): boolean {
  const host = request.headers.get("host");
  if (!host) return false;
  const from = request.headers.get("origin") ?? originOf(request.headers.get("referer"));
  if (!from || from === "null") return false;
  try {
    const u = new URL(from);
    return (u.protocol === "http:" || u.protocol === "https:") && u.host === host;
  } catch {
    return false;
  }
}

function originOf(referer: string | null): string | undefined {
  if (!referer) return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    return undefined;
  }
}
