// Kratos's private-IP guard (docs/kratos.md#private-ip-guard): with
// clients.http.disallow_private_ip_ranges, Kratos's HTTP client refuses private addresses unless
// the request URL (query and fragment dropped) matches a glob of clients.http.private_ip_exception_urls.
// The globs are gobwas/glob compiled with '.' and '/' as separators (oryx/httpx/ssrf.go; CONTRACT
// §4.2 names the setting). We list exact hook URLs, which match under the glob reading and under
// older clients' exact-match reading alike.
import { UsageError } from "../errors.ts";
import type { ResolvedConfig } from "../config/types.ts";

const GLOB_CHARS = /[*?[\]{}\\]/;

/** The settings of the guard in a parsed kratos.yml. */
export function privateIpGuard(kratosConfig: unknown): { on: boolean; exceptions: string[] } {
  const http = (kratosConfig as { clients?: { http?: { disallow_private_ip_ranges?: unknown; private_ip_exception_urls?: unknown } } } | null)?.clients?.http;
  const list = Array.isArray(http?.private_ip_exception_urls) ? http.private_ip_exception_urls.filter((x): x is string => typeof x === "string") : [];
  return { on: http?.disallow_private_ip_ranges === true, exceptions: list };
}

/** Every URL Kratos calls for our hooks, each once, in hook order. */
export function hookUrls(config: ResolvedConfig): string[] {
  return [...new Set(config.hooks.map((h) => h.url))];
}

/** Exception entries to add so each hook URL is exempt: exact URLs; refuses one that holds glob syntax. */
export function missingExceptions(config: ResolvedConfig, exceptions: readonly string[], file: string): string[] {
  const matchers = exceptions.map(globMatcher);
  const out: string[] = [];
  for (const url of hookUrls(config)) {
    if (matchers.some((m) => m(url))) continue;
    if (GLOB_CHARS.test(url)) {
      throw new UsageError(
        `${file}: clients.http.disallow_private_ip_ranges is on and the hook URL ${url} holds glob syntax, so it cannot be listed exactly in clients.http.private_ip_exception_urls`,
        "change the hook's path or receiver.url, or add a glob for it yourself (docs/kratos.md#private-ip-guard)",
      );
    }
    out.push(url);
  }
  return out;
}

/** Hook URLs the exceptions do not cover (check --kratos-config reports each). */
export function uncoveredUrls(config: ResolvedConfig, exceptions: readonly string[]): string[] {
  const matchers = exceptions.map(globMatcher);
  return hookUrls(config).filter((url) => !matchers.some((m) => m(url)));
}

/**
 * A gobwas/glob pattern with separators '.' and '/' as a predicate: `*` any run without a separator,
 * `?` one non-separator character, `**` anything, `[...]`/`[!...]` classes, `{a,b}` alternatives,
 * `\` escapes. A pattern that does not compile matches nothing (Kratos errors on it).
 */
export function globMatcher(pattern: string): (url: string) => boolean {
  let re = "";
  let depth = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\" && i + 1 < pattern.length) re += escape(pattern[++i]!);
    else if (c === "*" && pattern[i + 1] === "*") {
      re += "[\\s\\S]*";
      i++;
    } else if (c === "*") re += "[^./]*";
    else if (c === "?") re += "[^./]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) return () => false;
      const body = pattern.slice(i + 1, end);
      re += body.startsWith("!") ? `[^${classBody(body.slice(1))}]` : `[${classBody(body)}]`;
      i = end;
    } else if (c === "{") {
      re += "(?:";
      depth++;
    } else if (c === "}" && depth > 0) {
      re += ")";
      depth--;
    } else if (c === "," && depth > 0) re += "|";
    else re += escape(c);
  }
  if (depth !== 0) return () => false;
  const compiled = new RegExp(`^${re}$`);
  return (url) => compiled.test(url);
}

const escape = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
const classBody = (b: string) => b.replace(/[\\\]^]/g, "\\$&");
