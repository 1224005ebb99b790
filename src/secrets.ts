// Every secret value serve knows, and one way to keep them out of text: each env var hooks.yaml
// names (auth secrets, SMTP passwords, {{ env.X }} in actions), and the store URL's password. Log
// lines, stored errors (last_error) and CLI output pass through redact() before anything cuts
// them short, so no prefix of a secret survives a truncation.
import { Buffer } from "node:buffer";
import type { ResolvedConfig } from "./config/types.ts";
import { templateRefs, type Env } from "./template.ts";

/** Shorter values are not redacted: "***" in place of every "a" would make text unreadable. */
export const MIN_SECRET_LENGTH = 3;
const MASK = "***";

export class Redactor {
  /** Longest first, so a secret that contains another is masked whole. */
  readonly #values: string[];
  /** Matches where any of them starts: one scan of the text, so text holding none (nearly every log line) costs one regex test, not a search per spelling. */
  readonly #any: RegExp | undefined;
  constructor(values: Iterable<string>) {
    const set = new Set<string>();
    for (const v of values) {
      if (v.length < MIN_SECRET_LENGTH) continue;
      for (const form of spellings(v)) set.add(form);
    }
    this.#values = [...set].sort((a, b) => b.length - a.length);
    this.#any = this.#values.length ? anyOf(this.#values) : undefined;
  }

  get size(): number {
    return this.#values.length;
  }

  /** The longest secret, for windows that must hold one whole. */
  get longest(): number {
    return this.#values[0]?.length ?? 0;
  }

  /** `text` with every secret replaced by `***`. */
  redact(text: string): string {
    if (this.#any === undefined || !this.#any.test(text)) return text;
    let out = text;
    for (const s of this.#values) if (out.includes(s)) out = out.split(s).join(MASK);
    return out;
  }

  /** A redactor that also knows `more` (values used by one delivery); itself when it knows them all already (the usual case). */
  with(more: Iterable<string>): Redactor {
    const extra = [...more].filter((v) => v.length >= MIN_SECRET_LENGTH && !this.#values.includes(v));
    return extra.length ? new Redactor([...this.#values, ...extra]) : this;
  }

  /**
   * Redacts a stream cut into chunks (exec stderr), where a secret may straddle two chunks: the
   * last `longest - 1` characters are held back until the next chunk or end() decides them.
   */
  stream(): { push(chunk: string): string; end(): string } {
    let held = "";
    const keep = Math.max(0, this.longest - 1);
    return {
      push: (chunk) => {
        const text = held + chunk;
        // Cut where no secret can start and still be incomplete, moved past any secret crossing the cut.
        let cut = Math.max(0, text.length - keep);
        for (let moved = true; moved; ) {
          moved = false;
          for (const s of this.#values) {
            for (let i = text.indexOf(s, Math.max(0, cut - s.length + 1)); i >= 0 && i < cut; i = text.indexOf(s, i + 1)) {
              if (i + s.length > cut) {
                cut = i + s.length;
                moved = true;
              }
            }
          }
        }
        held = text.slice(cut);
        return this.redact(text.slice(0, cut));
      },
      end: () => {
        const out = this.redact(held);
        held = "";
        return out;
      },
    };
  }
}

/** A regex that finds any of `values` (taken literally), or, if the engine refuses one that large, one that matches any text (every text is then searched value by value). */
function anyOf(values: string[]): RegExp {
  try {
    return new RegExp(values.map(escapeRegExp).join("|"));
  } catch {
    return /(?:)/;
  }
}

/** `s` as a regex source that matches it literally (code unit by code unit: no `u` flag, as `includes`). */
function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|\/-]/g, "\\$&");
}

/**
 * The ways a secret is spelt in the text serve writes or reads back: as it is; inside a JSON string
 * (a log line, a stored payload); and percent-encoded as a URL carries it (a url shown in an error
 * is the parsed one, and a destination's error page may echo the path or query it got):
 * encodeURIComponent, encodeURI, the URL parser's path encoding, and form encoding (`+` for space).
 */
function spellings(v: string): Set<string> {
  const forms = new Set([v, JSON.stringify(v).slice(1, -1)]);
  for (const encode of [encodeURIComponent, encodeURI, urlPathEncoded, (x: string) => new URLSearchParams({ k: x }).toString().slice(2)]) {
    try {
      forms.add(encode(v));
    } catch {
      // A lone surrogate: no URL spells it.
    }
  }
  for (const form of base64Cores(v)) forms.add(form);
  return forms;
}

/** A secret shorter than this (in UTF-8 bytes) is not looked for inside base64 text: its cores would be too short to mean anything. */
const MIN_BASE64_BYTES = 6;

/**
 * The secret as it reads inside base64 text, wherever it sits there: SMTP AUTH PLAIN sends
 * base64("\0user\0password"), Basic auth base64("user:password"), and a server may echo either.
 * Base64 groups 3 bytes, so each of the 3 alignments gives a core of characters fixed by the secret
 * alone (the partial characters at both ends dropped); standard and URL-safe alphabets.
 */
function base64Cores(v: string): string[] {
  const bytes = Buffer.from(v, "utf8");
  if (bytes.length < MIN_BASE64_BYTES) return [];
  const out: string[] = [];
  for (let k = 0; k < 3; k++) {
    const b64 = Buffer.concat([Buffer.alloc(k), bytes]).toString("base64");
    const core = b64.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + bytes.length)) / 6));
    out.push(core, core.replace(/\+/g, "-").replace(/\//g, "_"));
  }
  return out;
}

/** The WHATWG URL path percent-encode set (C0 controls, space, " # < > ? ` { } and non-ASCII); `/` stays. */
function urlPathEncoded(v: string): string {
  let out = "";
  for (const ch of v) out += /^[\x21\x24-\x3b\x3d\x40-\x5f\x61-\x7a\x7c\x7e]$/.test(ch) ? ch : encodeURIComponent(ch);
  return out;
}

export const NO_SECRETS = new Redactor([]);

/** The names of every env var hooks.yaml names: auth secrets, SMTP passwords, {{ env.X }} refs of actions, the /metrics and admin tokens. */
export function secretEnvNames(config: ResolvedConfig): string[] {
  const names = new Set<string>();
  if (config.serve.smtp?.password_env) names.add(config.serve.smtp.password_env);
  if (config.serve.metricsTokenEnv) names.add(config.serve.metricsTokenEnv.name);
  if (config.serve.admin) names.add(config.serve.admin.tokenEnv);
  for (const hook of config.hooks) {
    if (hook.auth?.type === "api_key") names.add(hook.auth.secret_env);
    if (hook.auth?.type === "basic_auth") names.add(hook.auth.password_env);
    for (const a of hook.actions) {
      if (a.kind === "email" && a.smtp?.password_env) names.add(a.smtp.password_env);
      const templates = a.kind === "http" ? [a.url, a.headers, a.body] : a.kind === "email" ? [a.to, a.from, a.subject, a.text, a.html] : [a.command, a.env];
      for (const ref of templateRefs(templates)) if (ref.kind === "env") names.add(ref.name);
    }
  }
  return [...names];
}

/** The password of a postgres:// store URL, if any. */
export function storePassword(url: string): string | undefined {
  const m = /^postgres(?:ql)?:\/\/[^:@/]*:([^@/]*)@/.exec(url);
  if (!m || !m[1]) return undefined;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return m[1];
  }
}

/** Every secret value serve knows for this config and environment. */
export function knownSecrets(config: ResolvedConfig, env: Env): Redactor {
  const values: string[] = [];
  for (const name of secretEnvNames(config)) {
    const v = env[name];
    if (v) values.push(v);
  }
  const pw = storePassword(config.serve.store);
  if (pw) values.push(pw, encodeURIComponent(pw));
  return new Redactor(values);
}
