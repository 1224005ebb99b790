// Validation of hooks.yaml against the TypeBox model (model.ts), with errors a person can act on.
// TypeBox decides validity (Value.Check); this walk over the same schema explains the failures:
// one error per mistake, the most relevant branch of a union, closest-name hints.
import { Kind, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { HooksFile, PATH_PATTERN, REFERENCED } from "./model.ts";
import type { ConfigPath } from "./source-map.ts";

export type SchemaIssue = { path: ConfigPath; part: "key" | "value"; message: string; hint?: string };

/**
 * TypeBox's Check pushes every schema with an $id it meets onto the references array it is given
 * (typebox 0.34 `Pushref`), so each call gets a copy: the shared REFERENCED must stay as declared.
 */
function refs(): TSchema[] {
  return [...REFERENCED];
}

/** Every schema mistake in `value` (the parsed hooks.yaml), or [] if it matches the model. */
export function schemaIssues(value: unknown): SchemaIssue[] {
  if (Value.Check(HooksFile, refs(), value)) return [];
  const out: SchemaIssue[] = [];
  explain(HooksFile, value, [], out);
  if (out.length === 0) {
    // The walk below must cover every keyword model.ts uses; if it ever misses one, still fail
    // with TypeBox's own words rather than accept an invalid file.
    const first = Value.Errors(HooksFile, refs(), value).First();
    const path = (first?.path ?? "").split("/").slice(1).map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
    out.push({ path, part: "value", message: first?.message ?? "does not match the hooks.yaml model" });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

type S = TSchema & Record<string, any>;

function deref(schema: S): S {
  if (schema[Kind] === "Ref" || schema[Kind] === "This") {
    const target = REFERENCED.find((r) => r.$id === schema.$ref);
    if (!target) throw new Error(`model.ts: no schema with $id ${schema.$ref} in REFERENCED`);
    return target as S;
  }
  return schema;
}

function explain(schema: S, value: unknown, path: (string | number)[], out: SchemaIssue[]): void {
  schema = deref(schema);
  switch (schema[Kind]) {
    case "Object":
      return explainObject(schema, value, path, out);
    case "Record":
      return explainRecord(schema, value, path, out);
    case "Array":
      return explainArray(schema, value, path, out);
    case "Union":
      return explainUnion(schema, value, path, out);
    case "String":
      return explainString(schema, value, path, out);
    case "Integer":
    case "Number":
      return explainNumber(schema, value, path, out);
    case "Boolean":
      if (typeof value !== "boolean") out.push(typeMismatch(schema, value, path));
      return;
    case "Literal":
      if (value !== schema.const) out.push({ path, part: "value", message: `expected ${show(schema.const)}, got ${show(value)}` });
      return;
    case "Unknown":
    case "Any":
      return;
    default: {
      // A kind model.ts does not use yet (a test keeps EXPLAINED_KINDS complete): TypeBox's words.
      const e = Value.Errors(schema, refs(), value).First();
      if (e) out.push({ path, part: "value", message: e.message });
    }
  }
}

/** The TypeBox kinds `explain` words itself; test/config checks the model uses no others. */
export const EXPLAINED_KINDS = ["Object", "Record", "Array", "Union", "String", "Integer", "Number", "Boolean", "Literal", "Unknown", "Any", "Ref", "This"] as const;

function isMapValue(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function explainObject(schema: S, value: unknown, path: (string | number)[], out: SchemaIssue[]): void {
  if (!isMapValue(value)) return void out.push(typeMismatch(schema, value, path));
  const known = Object.keys(schema.properties);
  const unknown = Object.keys(value).filter((k) => !known.includes(k));
  for (const key of (schema.required ?? []) as string[]) {
    // A misspelt required key is reported once, as the unknown key with its suggestion.
    if (value[key] === undefined && !unknown.some((u) => meantKey(u, known) === key)) {
      const description = deref(schema.properties[key]).description as string | undefined;
      out.push({ path, part: "key", message: `missing required key '${key}'`, hint: description ? `${key}: ${description}` : undefined });
    }
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      if (schema.additionalProperties === false) out.push({ path: [...path, key], part: "key", message: `unknown key '${key}'`, hint: allowedKeysHint(key, known) });
      continue;
    }
    if (value[key] !== undefined) explain(schema.properties[key], value[key], [...path, key], out);
  }
}

function explainRecord(schema: S, value: unknown, path: (string | number)[], out: SchemaIssue[]): void {
  if (!isMapValue(value)) return void out.push(typeMismatch(schema, value, path));
  const [pattern, inner] = Object.entries(schema.patternProperties as Record<string, S>)[0]!;
  const re = new RegExp(pattern);
  for (const [key, item] of Object.entries(value)) {
    if (!re.test(key)) {
      const said = patternText(pattern, key);
      out.push({ path: [...path, key], part: "key", message: `invalid name '${key}': ${said.message}`, hint: said.hint });
      continue;
    }
    explain(inner, item, [...path, key], out);
  }
}

function explainArray(schema: S, value: unknown, path: (string | number)[], out: SchemaIssue[]): void {
  if (!Array.isArray(value)) return void out.push(typeMismatch(schema, value, path));
  if (schema.minItems !== undefined && value.length < schema.minItems) {
    out.push({ path, part: "value", message: `must have at least ${schema.minItems} item${schema.minItems === 1 ? "" : "s"}` });
  }
  value.forEach((item, i) => explain(schema.items, item, [...path, i], out));
  if (schema.uniqueItems) {
    const seen = new Set<string>();
    value.forEach((item, i) => {
      const k = JSON.stringify(item);
      if (seen.has(k)) out.push({ path: [...path, i], part: "value", message: `duplicate item ${show(item)}`, hint: "each item may appear once" });
      seen.add(k);
    });
  }
}

function explainString(schema: S, value: unknown, path: (string | number)[], out: SchemaIssue[]): void {
  if (typeof value !== "string") return void out.push(typeMismatch(schema, value, path));
  if (schema.minLength !== undefined && value.length < schema.minLength) {
    return void out.push({ path, part: "value", message: "must not be empty" });
  }
  if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) {
    const said = patternText(schema.pattern, value);
    out.push({ path, part: "value", message: `invalid value ${show(value)}: ${said.message}`, hint: said.hint });
  }
}

function explainNumber(schema: S, value: unknown, path: (string | number)[], out: SchemaIssue[]): void {
  if (typeof value !== "number" || (schema[Kind] === "Integer" && !Number.isInteger(value))) return void out.push(typeMismatch(schema, value, path));
  if (schema.minimum !== undefined && value < schema.minimum) out.push({ path, part: "value", message: `must be at least ${schema.minimum}, got ${value}` });
  if (schema.maximum !== undefined && value > schema.maximum) out.push({ path, part: "value", message: `must be at most ${schema.maximum}, got ${value}` });
  if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) out.push({ path, part: "value", message: `must be greater than ${schema.exclusiveMinimum}, got ${value}` });
}

// Unions ---------------------------------------------------------------------------------------

/** Hints for object unions, keyed by the keys that tell their branches apart. */
const UNION_HINTS: Record<string, string> = {
  "email,exec,http": "an action is one of: { http: { url: ... } }, { email: { to: ..., subject: ... } }, { exec: { command: [...] } }",
  "all,any,field,not": "a condition is { field: <body field>, <one operator>: ... } or { all: [...] }, { any: [...] }, { not: {...} }",
  "allow,deny": "a rule is { when: <condition>, deny: { text: ... } } or { when: <condition>, allow: true }",
  "file_dir,inline": "kratos.body is { file_dir: /absolute/dir } or { inline: true }",
};

function explainUnion(schema: S, value: unknown, path: (string | number)[], out: SchemaIssue[]): void {
  if (Value.Check(schema, refs(), value)) return;
  const branches = (schema.anyOf as S[]).map(deref);
  if (branches.every((b) => b[Kind] === "Literal")) {
    const allowed = branches.map((b) => b.const);
    const near = typeof value === "string" ? closest(value, allowed.filter((a): a is string => typeof a === "string")) : undefined;
    return void out.push({
      path,
      part: "value",
      message: `expected one of ${allowed.map(show).join(", ")}, got ${typeof value === "string" ? show(value) : kindOf(value)}`,
      hint: near ? `did you mean '${near}'?` : undefined,
    });
  }
  const fitting = branches.filter((b) => accepts(b, value));
  if (fitting.length === 0) return void out.push(typeMismatch(schema, value, path));
  if (fitting.length === 1) return explain(fitting[0]!, value, path, out);
  if (!isMapValue(value)) return explain(fitting[0]!, value, path, out);
  explainObjectUnion(fitting, value, path, out);
}

function explainObjectUnion(branches: S[], value: Record<string, unknown>, path: (string | number)[], out: SchemaIssue[]): void {
  // A key that is a literal in every branch (auth `type`) names the branch.
  const discriminant = Object.keys(branches[0]!.properties ?? {}).find((k) => branches.every((b) => b.properties?.[k]?.[Kind] === "Literal"));
  if (discriminant) {
    const chosen = branches.find((b) => b.properties[discriminant].const === value[discriminant]);
    if (chosen) return explain(chosen, value, path, out);
    const allowed = branches.map((b) => b.properties[discriminant].const);
    if (value[discriminant] === undefined) return void out.push({ path, part: "key", message: `missing required key '${discriminant}' (one of ${allowed.map(show).join(", ")})` });
    const near = typeof value[discriminant] === "string" ? closest(value[discriminant] as string, allowed) : undefined;
    return void out.push({
      path: [...path, discriminant],
      part: "value",
      message: `expected one of ${allowed.map(show).join(", ")}, got ${show(value[discriminant])}`,
      hint: near ? `did you mean '${near}'?` : undefined,
    });
  }
  // Otherwise the required keys that only some branches have (http/email/exec, all/any/not, ...).
  const required = branches.map((b) => new Set<string>(b.required ?? []));
  const own = required.map((keys) => [...keys].filter((k) => !required.every((r) => r.has(k))));
  const allOwn = [...new Set(own.flat())].sort();
  const hint = UNION_HINTS[allOwn.join(",")];
  const present = Object.keys(value).filter((k) => allOwn.includes(k));
  const matching = branches.filter((_, i) => own[i]!.some((k) => k in value));
  if (matching.length === 1) return explain(matching[0]!, value, path, out);
  if (matching.length > 1) {
    return void out.push({
      path: [...path, present[1]!],
      part: "key",
      message: `'${present[0]}' and '${present[1]}' cannot be used together: use exactly one of ${allOwn.map((k) => `'${k}'`).join(", ")}`,
      hint,
    });
  }
  // No branch's own key is there: the branch that knows most of the keys given is the one meant
  // ({ ends_with: x } is a condition that lacks `field`).
  const overlap = branches.map((b) => Object.keys(value).filter((k) => k in (b.properties ?? {})).length);
  const best = Math.max(...overlap);
  if (best > 0 && overlap.filter((n) => n === best).length === 1) {
    const inner: SchemaIssue[] = [];
    explain(branches[overlap.indexOf(best)]!, value, path, inner);
    for (const issue of inner) out.push(hint && (issue.hint === undefined || issue.message.startsWith("missing required key")) ? { ...issue, hint } : issue);
    return;
  }
  const misspelt = Object.keys(value)
    .map((k) => ({ k, near: closest(k, allOwn) }))
    .find((x) => x.near);
  out.push({
    path: misspelt ? [...path, misspelt.k] : path,
    part: "key",
    message: misspelt ? `unknown key '${misspelt.k}'` : `needs one of ${allOwn.map((k) => `'${k}'`).join(", ")}`,
    hint: misspelt ? `did you mean '${misspelt.near}'? ${hint ?? ""}`.trim() : hint,
  });
}

/** Whether a value has the JSON type a (dereferenced) branch wants; details are checked later. */
function accepts(schema: S, value: unknown): boolean {
  schema = deref(schema);
  switch (schema[Kind]) {
    case "String":
      return typeof value === "string";
    case "Integer":
    case "Number":
      return typeof value === "number";
    case "Boolean":
      return typeof value === "boolean";
    case "Literal":
      return typeof value === typeof schema.const;
    case "Object":
    case "Record":
      return isMapValue(value);
    case "Array":
      return Array.isArray(value);
    case "Union":
      return (schema.anyOf as S[]).some((b) => accepts(b, value));
    default:
      return true;
  }
}

// Words ----------------------------------------------------------------------------------------

function typeMismatch(schema: S, value: unknown, path: (string | number)[]): SchemaIssue {
  const want = expected(schema);
  const quoteHint =
    want.includes("a string") && (typeof value === "number" || typeof value === "boolean")
      ? `YAML read ${String(value)} as a ${typeof value}; quote it: "${String(value)}"`
      : value === null
        ? "the value is empty; write one after the colon or remove the key"
        : want === "a list" && (typeof value === "string" || typeof value === "number")
          ? `write it as a list: [${String(value)}]`
          : want === "a list" && isMapValue(value)
            ? "start each item of the list with '- '"
            : undefined;
  return { path, part: "value", message: `expected ${want}, got ${kindOf(value)}`, hint: quoteHint };
}

function expected(schema: S): string {
  schema = deref(schema);
  switch (schema[Kind]) {
    case "String":
      return "a string";
    case "Integer":
      return "an integer";
    case "Number":
      return "a number";
    case "Boolean":
      return "a boolean (true or false)";
    case "Object":
    case "Record":
      return "a map";
    case "Array":
      return "a list";
    case "Literal":
      return show(schema.const);
    case "Union":
      return [...new Set((schema.anyOf as S[]).map(expected))].join(" or ");
    default:
      return "a value";
  }
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return "nothing (an empty value)";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a map";
  if (typeof value === "number") return Number.isInteger(value) ? `a number (${value})` : `a fractional number (${value})`;
  if (typeof value === "boolean") return `a boolean (${value})`;
  return `a string (${show(value)})`;
}

function show(value: unknown): string {
  if (typeof value === "string") return `'${value.length > 60 ? `${value.slice(0, 57)}...` : value}'`;
  const s = JSON.stringify(value);
  return s === undefined ? String(value) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const POINTS = ["registration", "login", "settings", "recovery", "verification"].flatMap((f) => [`${f}.before`, `${f}.after`]);

/** What each pattern in model.ts means, in words. */
function patternText(pattern: string, value: string): { message: string; hint?: string } {
  switch (pattern) {
    case "^[a-z][a-z0-9_-]{0,62}$":
      return { message: "use lower-case letters, digits, '-' and '_', starting with a letter (at most 63 characters)", hint: /[A-Z]/.test(value) ? `try '${value.toLowerCase()}'` : undefined };
    case "^[A-Za-z_][A-Za-z0-9_]{0,63}$":
      return { message: "a body field name is letters, digits and '_', not starting with a digit (at most 64 characters)", hint: /-/.test(value) ? `try '${value.replace(/-/g, "_")}'` : undefined };
    case "^[A-Za-z_][A-Za-z0-9_]*$":
      return { message: "an environment variable name is letters, digits and '_', not starting with a digit", hint: "name the variable that holds the secret, not the secret itself" };
    case "^[0-9]+(ms|s|m|h|d)$":
      return { message: "a duration is a number with a unit (ms, s, m, h, d), e.g. 500ms, 30s, 10m, 24h, 7d, or an integer number of milliseconds" };
    case "^[0-9]+(b|kb|mb)$":
      return { message: "a size is a number with a unit (b, kb, mb), e.g. 256kb, 1mb, or an integer number of bytes" };
    case "^(flow|identity|session|request_headers|request_method|request_url|request_cookies)(\\.[A-Za-z0-9_-]+)*$": {
      const hint = value.startsWith("ctx.") ? `drop the 'ctx.' prefix: '${value.slice(4)}'` : "e.g. identity.traits.email, flow.id, session.id, request_headers.User-Agent";
      return { message: "a ctx path starts with flow, identity, session, request_headers, request_method, request_url or request_cookies, followed by .key parts", hint };
    }
    case "^(registration|login|settings|recovery|verification)\\.(before|after)$": {
      const near = closest(value, POINTS);
      return { message: "a hook point is <flow>.<before|after> with flow one of registration, login, settings, recovery, verification", hint: near ? `did you mean '${near}'?` : undefined };
    }
    case "^[a-z_]+$":
      return { message: "use lower-case letters and '_' (a Kratos name such as password, oidc or session)" };
    case PATH_PATTERN:
      return { message: "a path starts with '/' and uses letters, digits, '/', '_', '.' and '-'", hint: value.startsWith("/") ? undefined : `try '/${value}'` };
    case "^(POST|PUT|PATCH|DELETE|GET)$":
      return {
        message: "Kratos can call a hook with POST, PUT, PATCH, DELETE or GET",
        hint: value.toUpperCase() === "TRACE" ? "TRACE carries no body, so Kratos would send nothing (docs/kratos.md#web-hook-config)" : value !== value.toUpperCase() ? `write it in upper case: '${value.toUpperCase()}'` : undefined,
      };
    case "^[A-Z]+$":
      return { message: "an HTTP method in upper case, e.g. POST", hint: `try '${value.toUpperCase()}'` };
    case "^[A-Za-z0-9-]+$":
      return { message: "a header name is letters, digits and '-'" };
    case "^(v?[0-9]+\\.[0-9]+\\.[0-9]+|HEAD)$":
      return { message: "a Kratos version is vMAJOR.MINOR.PATCH (e.g. v26.2.0) or HEAD" };
    case "^/":
      return { message: "must be an absolute path (start with '/'): Kratos reads it from its own file system" };
    case "^https?://[^\\s/]+(/[^\\s]*)?$":
      return { message: "must be an absolute http:// or https:// URL, e.g. http://127.0.0.1:4459" };
    case "^(registration|login|settings|recovery|verification)\\.(before|after)(\\.[a-z_]+)?$":
      return { message: "a Kratos hook list is <flow>.<before|after>[.<method>], e.g. registration.after.password" };
    default:
      return { message: `does not match ${pattern}` };
  }
}

/** The known key an unknown one most likely stands for: a typo, or a secret written inline instead of its *_env key. */
function meantKey(key: string, known: string[]): string | undefined {
  if (known.includes(`${key}_env`)) return `${key}_env`;
  if (["value", "secret", "token", "key", "api_key"].includes(key) && known.includes("secret_env")) return "secret_env";
  return closest(key, known);
}

function allowedKeysHint(key: string, known: string[]): string {
  const meant = meantKey(key, known);
  if (meant?.endsWith("_env") && !key.endsWith("_env")) {
    return `secrets never go in hooks.yaml: put the value in an environment variable and name the variable in '${meant}'`;
  }
  return `${meant ? `did you mean '${meant}'? ` : ""}allowed keys: ${known.join(", ")}`;
}

/** The candidate nearest to `word` by edit distance, if it is near enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.min(3, Math.floor(best.length / 3))) ? best : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost 1. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
