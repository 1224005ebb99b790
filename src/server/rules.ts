// Evaluates a hook's conditions and decisions in JavaScript, on the validated body:
//   - Predicate (skip_if, rules[].when, enrich[].when): one operator on a body field, or all/any/not;
//   - rules (interrupt): in order, the first rule whose `when` matches decides (deny or allow);
//   - enrich steps: every matching step applies, in order, giving metadata_public / metadata_admin
//     patches; like rules, the first matching step decides each key (a later step only adds keys
//     not set yet), so "specific case first, default last" reads as it does in `rules`.
// Files (in_file, domain_in_file, lookup.file) are read once, when the hook is compiled at startup.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import type { EnrichStepDecl, PredicateDecl, RuleDecl } from "../config/model.ts";
import type { ResolvedField, SourceLoc } from "../config/types.ts";
import { instancePtrFor, MESSAGE_ID_MIN, messagesBody, type MessageEntry } from "../kratos/responses.ts";
import { compileLinearRegex, type LinearRegex } from "../linear-regex.ts";
import { renderNow, templateRefs } from "../template.ts";
import { comparable, emailDomain } from "./compare-text.ts";

export { emailDomain } from "./compare-text.ts";
import { enrichPatchRefProblem } from "../template-context.ts";

export type Body = Record<string, unknown>;
export type Predicate = (body: Body) => boolean;

/** Where a compiled item came from, for startup errors. */
export type CompileContext = { dir: string; hook: string; loc?: SourceLoc; files: FileCache };

/** Reads each file once per process, whoever names it. */
export class FileCache {
  private readonly lines = new Map<string, Set<string>>();
  private readonly json = new Map<string, unknown>();

  /** The file's values, one a line, in the form `form` gives ("as-is", or as a rule compares them). */
  valueSet(path: string, where: string, c: CompileContext, form: "as-is" | Comparison = "as-is"): Set<string> {
    const key = `${form}:${path}`;
    let set = this.lines.get(key);
    if (!set) {
      const text = readText(path, where, c);
      const f = form === "as-is" ? (l: string) => l : COMPARE[form];
      set = new Set(
        text
          .split(/\r?\n/)
          .map((l) => l.replace(/#.*$/, "").trim())
          .filter((l) => l !== "")
          .map(f),
      );
      this.lines.set(key, set);
    }
    return set;
  }

  jsonObject(path: string, where: string, c: CompileContext): Record<string, unknown> {
    let value = this.json.get(path);
    if (value === undefined) {
      const text = readText(path, where, c);
      try {
        value = JSON.parse(text);
      } catch (err) {
        throw new ConfigError(`${path} is not valid JSON: ${(err as Error).message}`, c.loc, where, "a lookup file is a JSON object of key → object");
      }
      if (!isPlainObject(value)) throw new ConfigError(`${path} must hold a JSON object (key → object)`, c.loc, where);
      this.json.set(path, value);
    }
    return value as Record<string, unknown>;
  }
}

function readText(path: string, where: string, c: CompileContext): string {
  try {
    return readFileSync(resolve(c.dir, path), "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, c.loc, where, "paths are relative to hooks.yaml");
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ak = Object.keys(a);
  const bo = b as Record<string, unknown>;
  return ak.length === Object.keys(bo).length && ak.every((k) => Object.hasOwn(bo, k) && deepEqual((a as Record<string, unknown>)[k], bo[k]));
}

/** `matches`: RE2 semantics, linear time (src/linear-regex.ts). check refuses what RE2 cannot run. */
function compileRegExp(source: string, where: string, c: CompileContext): LinearRegex {
  const r = compileLinearRegex(source);
  if (!r.ok) throw new ConfigError(`'${source}' cannot be used as a rule pattern: ${r.reason}`, c.loc, where, "`matches` runs on RE2, which matches in linear time: no backreferences or lookaround (docs/receiver.md#rules)");
  return r.regex;
}

/**
 * How the text operators (equals, in, in_file, starts_with, ends_with) compare a string:
 * - loose: NFKC and lower case on both sides (compare-text.ts), so `ｍallory@Example.org` meets
 *   `mallory@example.org`, as a mail system maps a domain;
 * - strict: lower case only, as Kratos tells identifiers apart: `ｂoss@x.org` is another identity
 *   than `boss@x.org`.
 * A rule that refuses (deny) matches loosely and one that lets through (allow) strictly, and `not`
 * swaps them: a look-alike is refused by a deny list and never admitted by an allow list.
 */
export type Comparison = "loose" | "strict";
const COMPARE: Record<Comparison, (s: string) => string> = { loose: comparable, strict: (s) => s.toLowerCase() };
const other = (m: Comparison): Comparison => (m === "loose" ? "strict" : "loose");

/** equals / in: a string compares as `mode` says, anything else exactly. */
function sameValueAs(want: unknown, mode: Comparison): (v: unknown) => boolean {
  if (typeof want !== "string") return (v) => deepEqual(v, want);
  const norm = COMPARE[mode];
  const w = norm(want);
  return (v) => typeof v === "string" && norm(v) === w;
}

const scalarText = (v: unknown): string | undefined => (typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : undefined);

export function compilePredicate(p: PredicateDecl, where: string, c: CompileContext, mode: Comparison = "loose"): Predicate {
  if ("all" in p) {
    const parts = p.all.map((q, i) => compilePredicate(q, `${where}.all[${i}]`, c, mode));
    return (b) => parts.every((f) => f(b));
  }
  if ("any" in p) {
    const parts = p.any.map((q, i) => compilePredicate(q, `${where}.any[${i}]`, c, mode));
    return (b) => parts.some((f) => f(b));
  }
  if ("not" in p) {
    const inner = compilePredicate(p.not, `${where}.not`, c, other(mode));
    return (b) => !inner(b);
  }
  const field = p.field;
  const norm = COMPARE[mode];
  const tests: Array<(v: unknown) => boolean> = [];
  if ("equals" in p) {
    tests.push(sameValueAs(p.equals, mode));
  }
  if (p.in !== undefined) {
    const strings = new Set(p.in.filter((x) => typeof x === "string").map(norm));
    const others = p.in.filter((x) => typeof x !== "string").map((x) => sameValueAs(x, mode));
    tests.push((v) => (typeof v === "string" && strings.has(norm(v))) || others.some((t) => t(v)));
  }
  if (p.in_file !== undefined) {
    const set = c.files.valueSet(p.in_file, `${where}.in_file`, c, mode);
    tests.push((v) => {
      const s = scalarText(v);
      return s !== undefined && set.has(norm(s));
    });
  }
  if (p.starts_with !== undefined) {
    const s = norm(p.starts_with);
    tests.push((v) => typeof v === "string" && norm(v).startsWith(s));
  }
  if (p.ends_with !== undefined) {
    const s = norm(p.ends_with);
    tests.push((v) => typeof v === "string" && norm(v).endsWith(s));
  }
  if (p.matches !== undefined) {
    const re = compileRegExp(p.matches, `${where}.matches`, c);
    tests.push((v) => typeof v === "string" && re.test(v));
  }
  if (p.exists !== undefined) {
    const want = p.exists;
    tests.push((v) => (v !== undefined && v !== null) === want);
  }
  if (p.domain_in !== undefined) {
    const set = new Set(p.domain_in.map((d) => emailDomain(`@${d}`) ?? comparable(d)));
    tests.push((v) => {
      const d = emailDomain(v);
      return d !== undefined && set.has(d);
    });
  }
  if (p.domain_in_file !== undefined) {
    const set = new Set([...c.files.valueSet(p.domain_in_file, `${where}.domain_in_file`, c, "loose")].map((d) => emailDomain(`@${d}`) ?? d));
    tests.push((v) => {
      const d = emailDomain(v);
      return d !== undefined && set.has(d);
    });
  }
  // A leaf with no operator asks whether the field is there.
  if (tests.length === 0) return (b) => b[field] !== undefined && b[field] !== null;
  if (tests.length === 1) {
    const t = tests[0]!;
    return (b) => t(b[field]);
  }
  return (b) => {
    const v = b[field];
    return tests.every((t) => t(v));
  };
}

/** The outcome of an interrupt hook's rules: allow (answer 204) or deny with Kratos messages. */
export type RuleDecision = { kind: "allow"; rule?: string } | { kind: "deny"; rule: string; entry: MessageEntry; /** messagesBody([entry]), built once. */ body: string };

export type CompiledRules = (body: Body) => RuleDecision;

export function compileRules(rules: readonly RuleDecl[], fields: readonly ResolvedField[], c: CompileContext): CompiledRules {
  const byName = new Map(fields.map((f) => [f.name, f]));
  const compiled = rules.map((r, i) => {
    const where = `hooks.${c.hook}.rules[${i}]`;
    // An allow rule lets a look-alike through only if Kratos would take it for the same text.
    const when = compilePredicate(r.when, `${where}.when`, c, "allow" in r ? "strict" : "loose");
    const name = r.name ?? `rules[${i}]`;
    if ("allow" in r) return { when, decision: { kind: "allow", rule: name } as RuleDecision };
    const d = r.deny;
    if (d.field !== undefined && !byName.has(d.field)) {
      throw new ConfigError(`deny.field '${d.field}' is not a field of the hook's body`, c.loc, `${where}.deny.field`, `declare it under hooks.${c.hook}.body`);
    }
    const entry: MessageEntry = {
      instancePtr: instancePtrFor(d.field !== undefined ? byName.get(d.field)?.from : undefined),
      // Without an id, rule i gets MESSAGE_ID_MIN + i: distinct per rule, inside the private range.
      messages: [{ id: d.id ?? MESSAGE_ID_MIN + i, text: d.text, type: "error", ...(d.context !== undefined ? { context: d.context } : {}) }],
    };
    return { when, decision: { kind: "deny", rule: name, entry, body: messagesBody([entry]) } as RuleDecision };
  });
  const allow: RuleDecision = { kind: "allow" };
  return (body) => {
    for (const r of compiled) if (r.when(body)) return r.decision;
    return allow;
  };
}

export type MetadataPatch = { metadata_public?: Record<string, unknown>; metadata_admin?: Record<string, unknown> };
type MetadataKey = keyof MetadataPatch;

/**
 * A patch object with its missing values left out, at every depth: a key whose value is null or
 * undefined (a missing or null body field, or a literal null), or an object whose keys were all
 * left out, is dropped, so no key of the patch is `null` (Kratos would store it, CONTRACT §5.1).
 * An object that was empty to begin with is data and stays. Array elements are data too and stay
 * in place (a null element, or a missing exact ref inside an array, stays null); only the keys of
 * objects inside are pruned.
 */
function withoutMissing(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === null || v === undefined) continue;
    if (isPlainObject(v)) {
      const p = withoutMissing(v);
      if (Object.keys(p).length > 0 || Object.keys(v).length === 0) out[k] = p;
    } else out[k] = Array.isArray(v) ? v.map(arrayElementWithoutMissing) : v;
  }
  return out;
}

function arrayElementWithoutMissing(v: unknown): unknown {
  if (isPlainObject(v)) return withoutMissing(v);
  return Array.isArray(v) ? v.map(arrayElementWithoutMissing) : v;
}

/**
 * The enrich steps as one function: the merged metadata patches of every matching step (a key
 * keeps the value of the first step that set it), or an empty object when none matched or every
 * value was missing. Patch strings are templates ({{body.x}}; an exact ref keeps the value's
 * type). A missing value leaves its key out at any depth (withoutMissing), so a later step may
 * still set that key. Env refs are refused: the result is stored in Kratos, and metadata_public
 * is shown to the user.
 */
export function compileEnrich(steps: readonly EnrichStepDecl[], hook: string, c: CompileContext): (body: Body) => MetadataPatch {
  const compiled = steps.map((s, i) => {
    const where = `hooks.${hook}.enrich[${i}]`;
    for (const key of ["metadata_public", "metadata_admin"] as const) {
      const patch = s[key];
      if (!patch) continue;
      for (const ref of templateRefs(patch)) {
        if (ref.kind === "invalid") throw new ConfigError(`invalid template ${ref.text}: ${ref.reason}`, c.loc, `${where}.${key}`);
        const problem = enrichPatchRefProblem(ref);
        if (problem) throw new ConfigError(problem.message, c.loc, `${where}.${key}`, problem.hint);
      }
    }
    const lookup = s.lookup;
    const given = lookup ? (lookup.file !== undefined ? c.files.jsonObject(lookup.file, `${where}.lookup.file`, c) : (lookup.table ?? {})) : undefined;
    // emailDomain gives comparable text (compare-text.ts): a table keyed "Example.com" still matches.
    const table = given && lookup?.key === "email_domain" ? Object.fromEntries(Object.entries(given).map(([k, v]) => [emailDomain(`@${k}`) ?? k, v])) : given;
    return { when: s.when ? compilePredicate(s.when, `${where}.when`, c) : undefined, step: s, table };
  });
  return (body) => {
    const out: MetadataPatch = {};
    const apply = (key: MetadataKey, patch: Record<string, unknown>) => {
      for (const [k, v] of Object.entries(withoutMissing(patch))) {
        const target = (out[key] ??= {});
        if (!Object.hasOwn(target, k)) target[k] = v;
      }
    };
    for (const { when, step, table } of compiled) {
      if (when && !when(body)) continue;
      for (const key of ["metadata_public", "metadata_admin"] as const) {
        const patch = step[key];
        if (patch) apply(key, renderNow(patch, { body, hook, jobId: "" }, {}) as Record<string, unknown>);
      }
      if (step.lookup && table) {
        const v = body[step.lookup.field];
        const k = step.lookup.key === "email_domain" ? emailDomain(v) : scalarText(v);
        const hit = k !== undefined && Object.hasOwn(table, k) ? table[k] : undefined;
        if (isPlainObject(hit)) apply(step.lookup.into, hit);
      }
    }
    return out;
  };
}
