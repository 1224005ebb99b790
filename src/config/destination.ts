// Where an action delivers, as the key of serve.rate_limits: an http(s) origin or smtp://host:port.
// One definition for the config (keys, checks) and the worker (which bucket an action draws from).
import type { SmtpDecl } from "./model.ts";
import type { ResolvedAction } from "./types.ts";

/** The SMTP port when none is given, by `security` (465 implicit TLS, 587 submission, 25 plain). */
export const SMTP_DEFAULT_PORT = { tls: 465, starttls: 587, none: 25 } as const;

export function smtpPort(smtp: SmtpDecl): number {
  return smtp.port ?? SMTP_DEFAULT_PORT[smtp.security ?? "starttls"];
}

/**
 * The destination of an action: the origin of an http url whose scheme, host and port are literal
 * (a template there, e.g. `{{ body.host }}`, leaves it unknown until delivery: undefined), the
 * SMTP server of an email action (its own, else serve.smtp), nothing for exec.
 */
export function destinationOf(action: Pick<ResolvedAction, "kind"> & { url?: string; smtp?: SmtpDecl }, serveSmtp: SmtpDecl | undefined): string | undefined {
  if (action.kind === "http") return literalOrigin(action.url ?? "");
  if (action.kind === "email") {
    const smtp = action.smtp ?? serveSmtp;
    return smtp ? `smtp://${smtp.host.toLowerCase()}:${smtpPort(smtp)}` : undefined;
  }
  return undefined;
}

function literalOrigin(url: string): string | undefined {
  const head = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(url)?.[0];
  if (!head || head.includes("{{")) return undefined;
  try {
    const origin = new URL(head).origin;
    return origin === "null" ? undefined : origin;
  } catch {
    return undefined;
  }
}

/**
 * A serve.rate_limits key in the form destinationOf gives (`HTTPS://CRM.example.com:443/` →
 * `https://crm.example.com`), or why it cannot be one.
 */
export function destinationKey(text: string): { key: string } | { error: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { error: `'${text}' is not a URL` };
  }
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash || url.username || url.password) {
    return { error: `'${text}' must be only scheme, host and port` };
  }
  if (url.protocol === "http:" || url.protocol === "https:") return { key: url.origin };
  if (url.protocol === "smtp:") {
    // The default port depends on the action's smtp.security, so the key must say which.
    if (!url.port) return { error: `'${text}' needs its port (465, 587 or 25 by smtp.security)` };
    return { key: `smtp://${url.hostname.toLowerCase()}:${url.port}` };
  }
  return { error: `'${text}' is neither an http(s) origin nor smtp://host:port` };
}
