// The trust checks of hooks.yaml: a body never reads a credential (the Kratos session cookie or
// token), and a user-controlled value never lands where it could steer a delivery (a URL's scheme,
// host or port, a second email recipient, a shell script). Who controls which ctx path is Kratos
// knowledge (src/kratos/trust.ts); what a template does with a value, by where it lands, is
// src/template-context.ts. Called once per hook by semantics.ts.
import { readFileSync } from "node:fs";
import { basename, resolve as resolvePath } from "node:path";
import { ctxPathTrust, isCredentialCookie, isCredentialHeader, type TrustOptions, type TrustVerdict } from "../kratos/trust.ts";
import { compileString, templateRefs, type TemplateRef } from "../template.ts";
import { addressTextProblem, headerTextProblem, htmlRefSpots, htmlSpotProblem, inlineScript, isAddrSpec, programIndex, isDotSegment, splitMailbox, urlRefParts } from "../template-context.ts";
import type { FieldSpecDecl, HookDecl } from "./model.ts";
import type { ConfigPath } from "./source-map.ts";

export type TrustProblem = { level: "error" | "warn"; path: ConfigPath; part: "key" | "value"; message: string; hint: string };

const SECURITY_DOC = "docs/security.md";

/** What a `{{ body.x }}` ref carries: who controls it, and the field's declaration. */
type FieldTrust = TrustVerdict & { spec: FieldSpecDecl };

export function hookTrustProblems(name: string, hook: HookDecl, o: TrustOptions & { dir: string }): TrustProblem[] {
  const out: TrustProblem[] = [];
  const at: ConfigPath = ["hooks", name];
  const fields = new Map<string, FieldTrust>();
  for (const [field, raw] of Object.entries(hook.body ?? {})) {
    const spec: FieldSpecDecl = typeof raw === "string" ? { from: raw } : raw;
    const fromPath: ConfigPath = typeof raw === "string" ? [...at, "body", field] : [...at, "body", field, "from"];
    if (spec.from === undefined) {
      fields.set(field, { trust: "trusted", why: `${field} is a constant`, spec });
      continue;
    }
    const v = ctxPathTrust(spec.from.split("."), o);
    if (v.trust === "credential") {
      out.push({
        level: "error",
        path: fromPath,
        part: "value",
        message: `${spec.from} is a credential: ${v.why}, and a hook body may not read it`,
        hint: `read what you need instead (identity.id, session.id, a named cookie that is not Kratos's own); a body is stored in the outbox and sent on (${SECURITY_DOC}#credentials, docs/kratos.md#ctx-per-hook-point)`,
      });
    }
    // A hand-written body fills every field itself, from whatever it reads.
    fields.set(field, hook.jsonnet !== undefined ? { trust: "user", why: `${field} is filled by the hand-written jsonnet body`, spec } : { ...v, spec });
  }
  if (hook.jsonnet !== undefined) out.push(...jsonnetCredentialProblems(hook.jsonnet, [...at, "jsonnet"], o.dir, o));
  (hook.actions ?? []).forEach((action, i) => {
    const a: ConfigPath = [...at, "actions", i];
    if ("http" in action) {
      out.push(...urlProblems(action.http.url, [...a, "http", "url"], fields));
      for (const [header, value] of Object.entries(action.http.headers ?? {})) out.push(...headerProblems(header, value, [...a, "http", "headers", header], fields));
    } else if ("email" in action) {
      out.push(...mailboxProblems(action.email.to, [...a, "email", "to"]));
      if (action.email.from !== undefined) {
        out.push(...mailboxProblems(action.email.from, [...a, "email", "from"]));
        out.push(...senderProblems(action.email.from, [...a, "email", "from"], fields));
      }
      if (action.email.html !== undefined) out.push(...htmlProblems(action.email.html, [...a, "email", "html"], fields));
    } else {
      out.push(...programProblems(action.exec.command, [...a, "exec", "command"], fields));
      out.push(...inlineScriptProblems(action.exec.command, [...a, "exec", "command"], fields));
      for (const [name, value] of Object.entries(action.exec.env ?? {})) out.push(...execEnvProblems(name, value, [...a, "exec", "env", name], fields));
    }
  });
  return out;
}

/** Who controls the value of a ref: body fields as declared, env/hook/job by the operator. */
function refTrust(ref: TemplateRef, fields: Map<string, FieldTrust>): FieldTrust | undefined {
  if (ref.kind !== "body") return undefined;
  const f = fields.get(ref.path[0]!);
  if (!f || f.trust !== "trusted" || f.spec.from === undefined || ref.path.length === 1) return f;
  // A key inside a trusted object (session.authentication_methods.0.method) stays trusted.
  return { ...ctxPathTrust([...f.spec.from.split("."), ...ref.path.slice(1)], { version: undefined, headerAllowlist: [] }), spec: f.spec };
}

function userRef(ref: TemplateRef, fields: Map<string, FieldTrust>): FieldTrust | undefined {
  const t = refTrust(ref, fields);
  return t && t.trust !== "trusted" ? t : undefined;
}

/** Scheme, host and port never take a user-controlled value; a constant dot segment is refused here. */
function urlProblems(url: string, at: ConfigPath, fields: Map<string, FieldTrust>): TrustProblem[] {
  const out: TrustProblem[] = [];
  const parts = urlRefParts(url);
  const refs = compileString(url).pieces.filter((p): p is TemplateRef => typeof p !== "string");
  refs.forEach((ref, i) => {
    const user = userRef(ref, fields);
    if (parts[i] === "origin" && user) {
      out.push({
        level: "error",
        path: at,
        part: "value",
        message: `${ref.text} would set the URL's scheme, host or port, and ${user.why}`,
        hint: `a sign-up form must not choose where a delivery goes: write the origin as literal text or {{ env.X }}, and put body values in the path or query, where they are percent-encoded (${SECURITY_DOC}#url)`,
      });
    }
    const constant = ref.kind === "body" ? fields.get(ref.path[0]!)?.spec.value : undefined;
    if (parts[i] === "path" && ref.kind === "body" && ref.path.length === 1 && typeof constant === "string" && isDotSegment(encodeURIComponent(constant))) {
      out.push({ level: "error", path: at, part: "value", message: `${ref.text} is '${constant}', a dot segment in the URL's path`, hint: `a '.' or '..' segment walks up the path; use another value (${SECURITY_DOC}#url)` });
    }
  });
  const literal = compileString(url).pieces.filter((p): p is string => typeof p === "string").join("\u0000");
  const path = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*(\/[^?#]*)/i.exec(literal)?.[1];
  if (path && path.split("/").some((s) => isDotSegment(s))) {
    out.push({ level: "error", path: at, part: "value", message: "the URL's path has a '.' or '..' segment", hint: `write the path without dot segments (${SECURITY_DOC}#url)` });
  }
  return out;
}

/** A header name is a token; its literal text and constants Latin-1 without controls. User text is encoded at delivery (a warning says so). */
function headerProblems(header: string, value: string, at: ConfigPath, fields: Map<string, FieldTrust>): TrustProblem[] {
  const out: TrustProblem[] = [];
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(header)) {
    out.push({ level: "error", path: at, part: "key", message: `'${header}' is not a valid header name`, hint: "use letters, digits and !#$%&'*+-.^_`|~ only, no spaces or ':' (RFC 9110 token)" });
  }
  const { pieces } = compileString(value);
  for (const piece of pieces) {
    const text = typeof piece === "string" ? piece : piece.kind === "body" && typeof fields.get(piece.path[0]!)?.spec.value === "string" && piece.path.length === 1 ? (fields.get(piece.path[0]!)!.spec.value as string) : undefined;
    const problem = text !== undefined ? headerTextProblem(text) : undefined;
    if (problem) {
      out.push({ level: "error", path: at, part: "value", message: `header ${header} has ${problem}${typeof piece === "string" ? "" : ` (from ${piece.text})`}`, hint: `an HTTP header value is Latin-1 text on one line (${SECURITY_DOC}#header)` });
    }
  }
  if (ROUTING_HEADER.test(header)) {
    const user = pieces.filter((p): p is TemplateRef => typeof p !== "string").map((ref) => [ref, userRef(ref, fields)] as const).find(([, u]) => u);
    if (user) {
      return [...out, {
        level: "error",
        path: at,
        part: "value",
        message: `header ${header} takes ${user[0].text}, and ${user[1]!.why}; ${header} decides where the request goes or what it does, as the URL's host does`,
        hint: `a sign-up must not choose the virtual host, path or method a delivery reaches (fetch sends Host as given); write the value as text or {{ env.X }} (${SECURITY_DOC}#header)`,
      }];
    }
  }
  for (const piece of pieces) {
    if (typeof piece === "string") continue;
    const user = userRef(piece, fields);
    if (!user || !freeText(user.spec)) continue;
    out.push({
      level: "warn",
      path: at,
      part: "value",
      message: `header ${header} takes ${piece.text}, which is user-controlled text (${user.why})`,
      hint: `a value outside Latin-1 is sent RFC 8187-encoded (UTF-8''...), and one with a line break or control character fails the job; send it in the body instead if the destination cannot read that (${SECURITY_DOC}#header)`,
    });
  }
  return out;
}

/**
 * Headers that choose where a request goes or what it does, as the URL's origin and the method do:
 * the virtual host (fetch sends a Host header as given), the host, scheme, port or path a proxy or
 * framework reads instead of the request line's, and the method a framework takes instead.
 */
const ROUTING_HEADER = /^(host|forwarded|x-forwarded-(host|proto|port|prefix|server|uri)|x-original-(url|uri|host)|x-rewrite-url|x-host|x-http-(method-override|method|destinationurl)|x-method-override)$/i;

/** Whether a field may hold any text (not a number, boolean, uuid or timestamp). */
function freeText(spec: FieldSpecDecl): boolean {
  if (spec.type !== undefined && spec.type !== "string" && spec.type !== "any") return false;
  return spec.format !== "uuid" && spec.format !== "date-time";
}

/** `to`/`from` (and smtp.from) is one mailbox: an address template, optionally after a display name in front of <...>. */
export function mailboxProblems(template: string, at: ConfigPath): TrustProblem[] {
  const { address } = splitMailbox(template);
  const literal = compileString(address).pieces.filter((p): p is string => typeof p === "string").join("");
  const problem = addressTextProblem(literal);
  const hint = `an email action sends to exactly one address: '{{ body.email }}' or 'Name <{{ body.email }}>' (the name is text, never parsed); add an action per fixed recipient (${SECURITY_DOC}#email)`;
  if (problem) return [{ level: "error", path: at, part: "value", message: `'${template}' has ${problem} in its address`, hint }];
  if (templateRefs(address).length === 0 && !isAddrSpec(address)) return [{ level: "error", path: at, part: "value", message: `'${address}' is not an email address`, hint }];
  return [];
}

/** The sender's address is the operator's: a sign-up must not send mail as ceo@your-domain. Its display name may be text from the body. */
function senderProblems(template: string, at: ConfigPath, fields: Map<string, FieldTrust>): TrustProblem[] {
  const user = templateRefs(splitMailbox(template).address).map((ref) => [ref, userRef(ref, fields)] as const).find(([, u]) => u);
  if (!user) return [];
  return [{
    level: "error",
    path: at,
    part: "value",
    message: `the sender address takes ${user[0].text}, and ${user[1]!.why}`,
    hint: `a sign-up would choose who the mail claims to come from (any address at your domain); write the address as text or {{ env.X }}, and put body values in the display name: '{{ body.name }} via Example <noreply@example.org>' (${SECURITY_DOC}#email)`,
  }];
}

/** exec argv stays argv: a user-controlled value inside a `sh -c` script (or `python -c`, ...) is code injection. */
function inlineScriptProblems(argv: string[], at: ConfigPath, fields: Map<string, FieldTrust>): TrustProblem[] {
  const inline = inlineScript(argv);
  if (!inline) return [];
  const { program, flag, script } = inline;
  const out: TrustProblem[] = [];
  for (const ref of templateRefs(argv[script]!)) {
    const user = userRef(ref, fields);
    if (!user) continue;
    out.push({
      level: "error",
      path: [...at, script],
      part: "value",
      message: `${ref.text} is interpolated into a ${basename(argv[program]!)} script, and ${user.why}`,
      hint: `pass it as its own argument and use it as data ("$1" in sh: [${argv[program]}, ${argv[flag]}, 'cmd "$1"', sh, "${ref.text}"]), or read the body from stdin (${SECURITY_DOC}#exec)`,
    });
  }
  return out;
}

/** The program itself (argv[0]) never comes from a user: `[/opt/bin/{{ body.tool }}]` runs whatever a sign-up names. */
function programProblems(argv: string[], at: ConfigPath, fields: Map<string, FieldTrust>): TrustProblem[] {
  const out: TrustProblem[] = [];
  const program = programIndex(argv);
  // `env` first: its elements up to the program set variables (checked as `env:` is) or are options.
  for (let i = 0; i <= program && i < argv.length; i++) {
    const assignment = i > 0 && i < program ? /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(argv[i]!) : null;
    if (assignment) {
      out.push(...execEnvProblems(assignment[1]!, argv[i]!.slice(assignment[0].length), [...at, i], fields));
      continue;
    }
    const user = templateRefs(argv[i]!).map((ref) => [ref, userRef(ref, fields)] as const).find(([, u]) => u);
    if (!user) continue;
    const what = i === program ? "the program to run" : "an element of env before the program (an option, a variable or the program)";
    out.push({ level: "error", path: [...at, i], part: "value", message: `${what} takes ${user[0].text}, and ${user[1]!.why}`, hint: `name the program as literal text (or {{ env.X }}); pass body values as later arguments (${SECURITY_DOC}#exec-argv)` });
  }
  return out;
}

/**
 * Variables that steer what a program, its loader, shell, interpreter or libraries do: run code
 * (LD_PRELOAD, BASH_ENV, NODE_OPTIONS, JAVA_TOOL_OPTIONS, LUA_INIT, PYTHONWARNINGS, OPENSSL_CONF,
 * GLIBC_TUNABLES), load files (*PATH, *_HOME, *RC, XDG_*), or send the command's traffic through
 * a proxy (http_proxy, ALL_PROXY). Whole families by prefix and suffix, in any case (curl reads
 * http_proxy in lower case): no list of single names keeps up with every program.
 */
const CODE_ENV =
  /^(LD_.*|DYLD_.*|GLIBC_.*|MALLOC_.*|BASH_.*|ENV|SHELL|SHELLOPTS|BASHOPTS|PS[0-9]|PROMPT_COMMAND|IFS|ZDOTDIR|HOME|TMPDIR|LANG|LANGUAGE|LC_.*|TZ|NLSPATH|LOCPATH|HOSTALIASES|RES_OPTIONS|LOCALDOMAIN|BROWSER|EDITOR|VISUAL|PAGER|MANPAGER|LESS.*|TERM.*|XDG_.*|R_.*|(NODE|BUN|DENO|NPM|PYTHON|PERL|RUBY|GEM|BUNDLE|JAVA|_JAVA|JDK|CLASSPATH|LUA|PHP|TCL|GIT|SSH|OPENSSL|SSL|CURL|WGET|GNUPG|GPG|GCONV|ELECTRON)[A-Z0-9]*(_.*)?|.*PATH|.*_HOME|.*RC|.*_OPTIONS|.*_OPTS|.*_INIT|.*_CONF(IG)?(_.*)?|.*_PROXY|.*_PRELOAD|.*_LIBRARY.*)$/i;

/** A user-controlled value may be data in a command's env, never a variable that steers what code runs. */
function execEnvProblems(name: string, value: string, at: ConfigPath, fields: Map<string, FieldTrust>): TrustProblem[] {
  if (!CODE_ENV.test(name)) return [];
  const user = templateRefs(value).map((ref) => [ref, userRef(ref, fields)] as const).find(([, u]) => u);
  if (!user) return [];
  return [{ level: "error", path: at, part: "value", message: `${name} takes ${user[0].text}, and ${user[1]!.why}`, hint: `${name} decides what code the command (or its loader or interpreter) runs; pass the value in a variable of your own, e.g. USER_VALUE (${SECURITY_DOC}#what-exec-sees)` }];
}

/**
 * In html, a user-controlled value is text or the quoted value of an inert attribute (alt, title,
 * ...): escaping keeps it there. Anywhere else it would be a link target, code, style or markup.
 */
function htmlProblems(html: string, at: ConfigPath, fields: Map<string, FieldTrust>): TrustProblem[] {
  const out: TrustProblem[] = [];
  const spots = htmlRefSpots(html);
  compileString(html)
    .pieces.filter((p): p is TemplateRef => typeof p !== "string")
    .forEach((ref, i) => {
      const user = userRef(ref, fields);
      const problem = user ? htmlSpotProblem(spots[i]!) : undefined;
      if (!user || !problem) return;
      out.push({
        level: "error",
        path: at,
        part: "value",
        message: `${ref.text} ${problem}, and ${user.why}`,
        hint: `escaping makes a value text only between tags or inside a quoted alt, title or similar attribute; there a sign-up could still set a link (href="https://evil.test"), code, style or markup. Put the value in the text, or build the link from trusted fields such as {{ body.identity_id }} (${SECURITY_DOC}#html-text)`,
      });
    });
  return out;
}

/**
 * A hand-written body is checked for what it reads: the whole cookie map, a Kratos cookie by name,
 * a credential header. Best effort (Jsonnet can compute a key), but it catches what is written down.
 */
function jsonnetCredentialProblems(rel: string, at: ConfigPath, dir: string, o: TrustOptions): TrustProblem[] {
  const sessionCookie = o.sessionCookie;
  let text: string;
  try {
    text = readFileSync(resolvePath(dir, rel), "utf8");
  } catch {
    return []; // semantics.ts reports a missing file
  }
  const code = text.replace(/(^|[^:])(#|\/\/).*$/gm, "$1").replace(/\/\*[\s\S]*?\*\//g, "");
  const found = new Set<string>();
  const hint = `read what you need instead (identity.id, session.id, a named cookie that is not Kratos's own); a body is stored in the outbox and sent on (${SECURITY_DOC}#credentials)`;
  const out: TrustProblem[] = [];
  const add = (what: string) => {
    if (found.has(what)) return;
    found.add(what);
    out.push({ level: "error", path: at, part: "value", message: `${rel} reads ${what}, a credential a hook body may not read`, hint });
  };
  for (const m of code.matchAll(/request_cookies\b(\s*(?:\.\s*([A-Za-z0-9_]+)|\[\s*(["'])(.*?)\3\s*\]))?/g)) {
    const name = m[2] ?? m[4];
    if (name === undefined) {
      // std.objectHas(ctx.request_cookies, "x") / std.get(ctx.request_cookies, "x") only look one cookie up.
      const before = code.slice(0, m.index);
      if (!/std\s*\.\s*(objectHas|objectHasAll|get)\s*\(\s*ctx\s*\.\s*$/.test(before)) add("request_cookies (every cookie, the Kratos session cookie included)");
    } else if (isCredentialCookie(name, sessionCookie)) add(`cookie ${name}`);
  }
  for (const m of code.matchAll(/["']([^"'\s]+)["']/g)) if (isCredentialCookie(m[1]!, sessionCookie)) add(`cookie ${m[1]}`);
  for (const m of code.matchAll(/request_headers\s*(?:\.\s*([A-Za-z0-9_]+)|\[\s*["']([^"']+)["']\s*\])/g)) {
    const header = m[1] ?? m[2]!;
    if (isCredentialHeader(header)) add(`header ${header}`);
  }
  if (/\.\s*tokenized\b|\[\s*["']tokenized["']\s*\]/.test(code)) add("session.tokenized (the session as a token)");
  // Whole objects that hold a credential: ctx itself (its request_cookies holds the session cookie,
  // so `function(ctx) ctx` or `{ all: ctx }` sends it on), and every header where Kratos passes a
  // credential header. Read in the code without its strings.
  // Strings blanked in place (same offsets as `code`), so a word inside one is not code.
  const bare = code.replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g, (q) => `"${" ".repeat(q.length - 2)}"`);
  // The body is function(ctx) (semantics.ts refuses any other); a helper's own parameters are not ctx.
  const param = /\bfunction\s*\(\s*ctx\s*\)/.test(bare) ? "ctx" : undefined;
  if (param) {
    for (const m of bare.matchAll(new RegExp(`(?<![.\\w])${param}\\b(?!\\s*[.[])`, "g"))) {
      const before = bare.slice(0, m.index);
      // The parameter itself; std.objectHas(ctx, "session"), which only asks; std.get(ctx, "session"), one field by name.
      if (/function\s*\(\s*$/.test(before) || /std\s*\.\s*(objectHas|objectHasAll)\s*\(\s*$/.test(before)) continue;
      const key = /^\s*,\s*(["'])([A-Za-z0-9_]+)\1/.exec(code.slice(m.index! + param.length))?.[2];
      if (/std\s*\.\s*get\s*\(\s*$/.test(before) && key !== undefined && key !== "request_cookies" && !(key === "request_headers" && ctxPathTrust(["request_headers"], o).trust === "credential")) continue;
      add(`the whole ${param} (its request_cookies holds every cookie, the Kratos session cookie included)`);
    }
  }
  const headers = ctxPathTrust(["request_headers"], o);
  if (headers.trust === "credential") {
    for (const m of bare.matchAll(/request_headers\b(?!\s*[.[])/g)) {
      if (/std\s*\.\s*(objectHas|objectHasAll|get)\s*\(\s*[A-Za-z_][A-Za-z0-9_]*\s*\.\s*$/.test(bare.slice(0, m.index))) continue;
      add(`request_headers (${headers.why})`);
    }
  }
  return out;
}
