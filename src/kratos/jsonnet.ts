// The Jsonnet body of a hook, derived from its declared body fields. CONTRACT §3: Kratos calls the
// template with `ctx` as a top-level argument (so `function(ctx) ...`, never std.extVar), with
// imports disabled, and skips the call when evaluation fails with `error "cancel"` (§3.5).
// Absent ctx keys are runtime errors (§3.2), so every optional field is guarded with std.objectHas.
// Only std functions that go-jsonnet v0.19 (Kratos v1.0.0) already has are used (§3.1, §8.11):
// objectHas, isObject, isString, startsWith, endsWith, split, length, asciiLower, substr.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import type { PredicateDecl } from "../config/model.ts";
import type { ResolvedConfig, ResolvedField, ResolvedHook } from "../config/types.ts";
import { ctxPresence } from "./hook-points.ts";
import type { Version } from "./versions.ts";

const KEYWORDS = new Set([
  "assert", "else", "error", "false", "for", "function", "if", "import", "importstr", "importbin", "in", "local", "null", "tailstrict", "then", "self", "super", "true",
]);
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A Jsonnet string literal (JSON strings are valid Jsonnet). */
const str = (s: string) => JSON.stringify(s);
const fieldKey = (name: string) => (IDENT.test(name) && !KEYWORDS.has(name) ? name : str(name));
const member = (expr: string, key: string) => (IDENT.test(key) && !KEYWORDS.has(key) ? `${expr}.${key}` : `${expr}[${str(key)}]`);

/** JSON literal for a constant; JSON is a subset of Jsonnet. */
function literal(v: unknown): string {
  return JSON.stringify(v ?? null);
}

/**
 * ctx paths Kratos always fills with an object when their parent is present (CONTRACT §3.2), so a
 * guard below them needs only std.objectHas. Anything else may be missing or null.
 */
const ALWAYS_OBJECT = new Set(["", "flow", "identity", "identity.traits", "session", "session.identity", "request_headers", "request_cookies"]);
/** Keys Kratos always sets once their parent object exists (CONTRACT §3.2). */
const ALWAYS_PRESENT = new Set([
  "flow", "request_headers", "request_method", "request_url", "request_cookies",
  "flow.id", "flow.type", "flow.expires_at", "flow.issued_at", "flow.request_url", "flow.ui", "flow.state",
  "identity.id", "identity.schema_id", "identity.state", "identity.traits", "identity.created_at", "identity.updated_at",
  "session.id", "session.active", "session.expires_at", "session.authenticated_at", "session.authenticator_assurance_level", "session.authentication_methods", "session.issued_at", "session.identity",
]);

/** The std.objectHas chain that proves `from` is present, or "" when Kratos always sets it. */
function presenceGuard(from: string[], hook: ResolvedHook, version: Version): string {
  const presence = ctxPresence(hook.point, hook.mode !== "notify", version);
  const conds: string[] = [];
  let expr = "ctx";
  for (let i = 0; i < from.length; i++) {
    const parent = from.slice(0, i).join(".");
    const here = from.slice(0, i + 1).join(".");
    const key = from[i]!;
    const known =
      (here === "identity" && presence.identity) || (here === "session" && presence.session) || (here !== "identity" && here !== "session" && ALWAYS_PRESENT.has(here));
    if (!known) conds.push(ALWAYS_OBJECT.has(parent) ? `std.objectHas(${expr}, ${str(key)})` : `std.isObject(${expr}) && std.objectHas(${expr}, ${str(key)})`);
    expr = member(expr, key);
  }
  return conds.join(" && ");
}

function fieldLine(f: ResolvedField, hook: ResolvedHook, version: Version): string {
  if (!f.from) return `${fieldKey(f.name)}: ${literal(f.value)},`;
  const access = f.from.reduce(member, "ctx");
  const guard = f.optional ? presenceGuard(f.from, hook, version) : "";
  // A field name that evaluates to null is left out, and its value is never evaluated.
  return guard ? `[if ${guard} then ${str(f.name)}]: ${access},` : `${fieldKey(f.name)}: ${access},`;
}

type PredicateCtx = { hook: ResolvedHook; config: ResolvedConfig; fields: Map<string, ResolvedField>; uses: { domain: boolean; lower: boolean }; path: string };

/** What std.asciiLower does: A-Z only. */
const asciiLower = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

function readListFile(file: string, ctx: PredicateCtx): string[] {
  const abs = resolve(ctx.config.dir, file);
  let text: string;
  try {
    text = readFileSync(abs, "utf8");
  } catch {
    throw new ConfigError(`cannot read ${file}`, ctx.hook.loc, ctx.path, "the path is relative to hooks.yaml");
  }
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

const anyOf = (x: string, values: readonly unknown[]) => (values.length === 0 ? "false" : values.map((v) => `${x} == ${literal(v)}`).join(" || "));

/** Compiles a skip_if predicate over the body fields into a Jsonnet boolean expression. */
function compilePredicate(p: PredicateDecl, ctx: PredicateCtx): string {
  if ("all" in p) return `(${p.all.map((q, i) => compilePredicate(q, { ...ctx, path: `${ctx.path}.all[${i}]` })).join(" && ")})`;
  if ("any" in p) return `(${p.any.map((q, i) => compilePredicate(q, { ...ctx, path: `${ctx.path}.any[${i}]` })).join(" || ")})`;
  if ("not" in p) return `!(${compilePredicate(p.not, { ...ctx, path: `${ctx.path}.not` })})`;
  const field = ctx.fields.get(p.field);
  if (!field) throw new ConfigError(`skip_if names '${p.field}', which is not a body field`, ctx.hook.loc, `${ctx.path}.field`, `declare it under hooks.${ctx.hook.name}.body`);
  const x = member("body", p.field);
  const has = `std.objectHas(body, ${str(p.field)})`;
  const ops: string[] = [];
  if (p.matches !== undefined) throw new ConfigError("skip_if cannot use 'matches': Jsonnet has no regular expressions", ctx.hook.loc, `${ctx.path}.matches`, "use starts_with/ends_with/in, or a rule (rules run in the receiver)");
  // Strings compare lower-cased, as the receiver's rules do (src/server/compare-text.ts); Jsonnet
  // has std.asciiLower only, so skip_if folds ASCII letters and leaves other text as sent.
  const lx = `lower(${x})`;
  const oneOf = (values: readonly unknown[]) => {
    ctx.uses.lower ||= values.some((v) => typeof v === "string");
    return values.length === 0 ? "false" : values.map((v) => (typeof v === "string" ? `${lx} == ${str(asciiLower(v))}` : `${x} == ${literal(v)}`)).join(" || ");
  };
  if (p.equals !== undefined) ops.push(oneOf([p.equals]));
  if (p.in !== undefined) ops.push(`(${oneOf(p.in)})`);
  if (p.in_file !== undefined) ops.push(`(${oneOf(readListFile(p.in_file, { ...ctx, path: `${ctx.path}.in_file` }))})`);
  if (p.starts_with !== undefined) {
    ctx.uses.lower = true;
    ops.push(`std.isString(${x}) && std.startsWith(${lx}, ${str(asciiLower(p.starts_with))})`);
  }
  if (p.ends_with !== undefined) {
    ctx.uses.lower = true;
    ops.push(`std.isString(${x}) && std.endsWith(${lx}, ${str(asciiLower(p.ends_with))})`);
  }
  const domains = [...(p.domain_in ?? []), ...(p.domain_in_file !== undefined ? readListFile(p.domain_in_file, { ...ctx, path: `${ctx.path}.domain_in_file` }) : [])];
  if (p.domain_in !== undefined || p.domain_in_file !== undefined) {
    ctx.uses.domain = true;
    ops.push(`std.isString(${x}) && (${anyOf(`email_domain(${x})`, [...new Set(domains.map((d) => asciiLower(d).replace(/\.$/, "")))])})`);
  }
  if (p.exists !== undefined) {
    if (ops.length === 0) return p.exists ? has : `!${has}`;
    ops.push(p.exists ? has : `!${has}`);
  }
  if (ops.length === 0) throw new ConfigError("skip_if condition has no operator", ctx.hook.loc, ctx.path);
  // An absent field satisfies no operator; a field Kratos always sends needs no guard.
  const body = ops.length === 1 ? ops[0]! : ops.map((o) => `(${o})`).join(" && ");
  return field.optional && p.exists === undefined ? `(${has} && ${body})` : `(${body})`;
}

export type BodyOptions = {
  config: ResolvedConfig;
  hook: ResolvedHook;
  /** How the header names a file (generate passes the path relative to the working directory). */
  rel: (absPath: string) => string;
};

/** The Jsonnet text of a hook's body. Deterministic: same config, same bytes. */
export function emitBody({ config, hook, rel }: BodyOptions): string {
  const version = config.kratos.version;
  if (hook.jsonnetFile) return copyHandWritten(hook, rel(hook.jsonnetFile));
  const source = rel(config.file);
  const header = [
    `// Generated by kratos-hooks from ${source} (hook ${hook.name}). Do not edit.`,
    "// Kratos calls this with ctx as a top-level argument (docs/kratos.md#jsonnet-bodies); error \"cancel\" skips the call (docs/kratos.md#cancel).",
  ];
  const fields = hook.fields.map((f) => `    ${fieldLine(f, hook, version)}`);
  if (!hook.skipIf) {
    const obj = fields.length === 0 ? ["function(ctx) {}"] : ["function(ctx) {", ...fields.map((l) => l.slice(2)), "}"];
    return [...header, ...obj, ""].join("\n");
  }
  const pctx: PredicateCtx = { hook, config, fields: new Map(hook.fields.map((f) => [f.name, f])), uses: { domain: false, lower: false }, path: `hooks.${hook.name}.skip_if` };
  const cond = stripParens(compilePredicate(hook.skipIf, pctx));
  return [
    ...header,
    "function(ctx)",
    ...(pctx.uses.lower ? ["  // Text compares with ASCII letters lower-cased, as Kratos compares identifiers.", "  local lower(s) = if std.isString(s) then std.asciiLower(s) else s;"] : []),
    ...(pctx.uses.domain
      ? [
          "  // The part after the last @, lower-cased, without a trailing root dot; \"\" without an @.",
          '  local email_domain(s) = local parts = std.split(s, "@"); local d = if std.length(parts) < 2 then "" else std.asciiLower(parts[std.length(parts) - 1]); if std.endsWith(d, ".") then std.substr(d, 0, std.length(d) - 1) else d;',
        ]
      : []),
    ...(fields.length === 0 ? ["  local body = {};"] : ["  local body = {", ...fields, "  };"]),
    `  if ${cond} then error "cancel" else body`,
    "",
  ].join("\n");
}

function stripParens(s: string): string {
  if (!s.startsWith("(") || !s.endsWith(")")) return s;
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') {
      // skip a string literal
      for (i++; i < s.length && s[i] !== '"'; i++) if (s[i] === "\\") i++;
      continue;
    }
    if (c === "(") depth++;
    else if (c === ")" && --depth === 0 && i < s.length - 1) return s;
  }
  return s.slice(1, -1);
}

/** Matches `import`, `importstr`, `importbin` and std.extVar outside comments and strings, roughly. */
const FORBIDDEN = /\b(importstr|importbin|import)\b|std\.extVar\b/;

/** The escape hatch: a hand-written body, copied with a header so the file_dir layout holds. */
function copyHandWritten(hook: ResolvedHook, source: string): string {
  const file = hook.jsonnetFile!;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new ConfigError(`cannot read the Jsonnet body ${file}`, hook.loc, `hooks.${hook.name}.jsonnet`);
  }
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(\/\/|#).*$/gm, "").replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  const bad = FORBIDDEN.exec(code);
  if (bad) {
    throw new ConfigError(
      `the Jsonnet body uses ${bad[0]}, which Kratos does not allow`,
      hook.loc,
      `hooks.${hook.name}.jsonnet`,
      "Kratos evaluates bodies with imports disabled and ctx as a top-level argument: write `function(ctx) ...` in one file (docs/kratos.md#jsonnet-bodies)",
    );
  }
  return `// Copied by kratos-hooks from ${source} (hook ${hook.name}, jsonnet: escape hatch). Do not edit this copy.\n${text.endsWith("\n") ? text : `${text}\n`}`;
}
