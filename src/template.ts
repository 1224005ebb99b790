// The one templating syntax of hooks.yaml, used by actions (url, headers, body, email fields, exec
// argv/env) and enrich metadata patches:
//
//   {{ body.<field>[.<key>...] }}   a body field, or a key/index inside it
//   {{ env.<NAME> }}                an environment variable, read at delivery only
//   {{ hook }}                      the hook's name
//   {{ job.id }}                    the job id (also the Idempotency-Key)
//
// Whitespace inside the braces is allowed. In a JSON template a string that is exactly one ref
// keeps the value's JSON type; anything else is string interpolation. A missing value renders as
// "" (interpolation) or null (exact ref).
//
// Rendering is two-phase so that the database never holds a secret:
//   1. renderPhase1 (at acceptance): body/hook/job refs are substituted; every string that still
//      needs env values is listed in `deferred` as literal parts + env names. The env refs stay
//      visible in `value` as `{{ env.X }}` text, for `outbox show`.
//   2. resolveDeferred (at delivery): the deferred strings are assembled from their parts with the
//      env values. Only the parts recorded in phase 1 are read, never text that came from the
//      body, so a body value of "{{ env.SECRET }}" is delivered as that literal text.

import { memo } from "./bounded-memo.ts";

export type TemplateRef =
  | { kind: "body"; path: string[]; text: string }
  | { kind: "env"; name: string; text: string }
  | { kind: "hook"; text: string }
  | { kind: "job"; key: "id"; text: string }
  | { kind: "invalid"; text: string; reason: string };

const REF = /\{\{\s*([^{}]*?)\s*\}\}/g;
const EXACT = /^\{\{\s*([^{}]*?)\s*\}\}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const KEY = /^[A-Za-z0-9_-]+$/;

export class TemplateError extends Error {
  override readonly name = "TemplateError";
}

/** Parses the inside of one `{{ ... }}`. */
export function parseRef(expr: string, text = `{{ ${expr} }}`): TemplateRef {
  const e = expr.trim();
  if (e === "hook") return { kind: "hook", text };
  if (e === "job.id") return { kind: "job", key: "id", text };
  const dot = e.indexOf(".");
  const head = dot < 0 ? e : e.slice(0, dot);
  const rest = dot < 0 ? "" : e.slice(dot + 1);
  if (head === "env") {
    if (!ENV_NAME.test(rest)) return { kind: "invalid", text, reason: `'${e}' is not env.<NAME> (letters, digits, _)` };
    return { kind: "env", name: rest, text };
  }
  if (head === "body") {
    const path = rest.split(".");
    if (!rest || path.some((k) => !KEY.test(k))) return { kind: "invalid", text, reason: `'${e}' is not body.<field>[.<key>...]` };
    return { kind: "body", path, text };
  }
  if (head === "job") return { kind: "invalid", text, reason: `'${e}': only job.id is available` };
  return { kind: "invalid", text, reason: `'${e}' is not one of body.<field>, env.<NAME>, hook, job.id` };
}

/**
 * Every ref in a template: a string, or any JSON value whose strings are templates (object keys
 * are not templated). For the config checker: body refs must name declared fields, env refs name
 * variables that must be set at serve time, invalid refs are errors.
 */
export function templateRefs(template: unknown): TemplateRef[] {
  const out: TemplateRef[] = [];
  walkStrings(template, (s) => {
    for (const m of s.matchAll(REF)) out.push(parseRef(m[1]!, m[0]));
  });
  return out;
}

function walkStrings(v: unknown, f: (s: string) => void): void {
  if (typeof v === "string") f(v);
  else if (Array.isArray(v)) for (const x of v) walkStrings(x, f);
  else if (v && typeof v === "object") for (const x of Object.values(v)) walkStrings(x, f);
}

/** What phase 1 fills in. The body is the validated webhook body the receiver accepted. */
export type Phase1Context = { body: unknown; hook: string; jobId: string };

/** A string to assemble at delivery: literal text and env names, in order. */
export type DeferredPart = string | { env: string };
export type Deferred = { path: (string | number)[]; parts: DeferredPart[] };
export type Phase1Result<T = unknown> = { value: T; deferred: Deferred[] };

export type Phase1Options = {
  /**
   * Encodes values that come from body/hook/job before they are interpolated (not env values,
   * not exact refs), for the context the template renders into (src/template-context.ts): the
   * http url percent-encodes them, a header value keeps them to Latin-1, html escapes them.
   * `index` counts the refs of the template from 0. May throw a TemplateError that says why a
   * value cannot go there.
   */
  encode?: (s: string, ref: TemplateRef, index: number) => string;
};

function lookupBody(body: unknown, path: string[]): unknown {
  let v: unknown = body;
  for (const k of path) {
    if (Array.isArray(v) && /^[0-9]+$/.test(k)) v = v[Number(k)];
    else if (v && typeof v === "object" && !Array.isArray(v) && Object.hasOwn(v, k)) v = (v as Record<string, unknown>)[k];
    else return undefined;
  }
  return v;
}

function valueOf(ref: TemplateRef, ctx: Phase1Context): unknown {
  switch (ref.kind) {
    case "body":
      return lookupBody(ctx.body, ref.path);
    case "hook":
      return ctx.hook;
    case "job":
      return ctx.jobId;
    default:
      throw new TemplateError(`template ref ${ref.text} cannot be rendered in phase 1`);
  }
}

/** How a value reads inside interpolated text. */
export function interpolationText(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

/**
 * A string template split once into literal text and refs (`exact`: the whole string is one ref).
 * Templates come from hooks.yaml, so there are few of them, and the worker renders each of them
 * at every delivery: parsing them once saves the regex scans and ref parsing of every render.
 */
export type CompiledString = { exact: TemplateRef | undefined; pieces: (string | TemplateRef)[]; hasEnv: boolean };
const compiled = new Map<string, CompiledString>();
/** Bound on the cache, in case templates ever came from elsewhere than the config. */
const MAX_COMPILED = 4096;

/** A string template as literal text and refs, in order (cached). */
export function compileString(s: string): CompiledString {
  return memo(compiled, MAX_COMPILED, s, compile);
}

function compile(s: string): CompiledString {
  const exact = EXACT.exec(s);
  const pieces: (string | TemplateRef)[] = [];
  let last = 0;
  for (const m of s.matchAll(REF)) {
    if (m.index! > last) pieces.push(s.slice(last, m.index));
    pieces.push(parseRef(m[1]!, m[0]));
    last = m.index! + m[0].length;
  }
  if (last < s.length) pieces.push(s.slice(last));
  return { exact: exact ? parseRef(exact[1]!, s) : undefined, pieces, hasEnv: pieces.some((p) => typeof p !== "string" && p.kind === "env") };
}

/**
 * Phase 1 of one string template. `json` = the string sits in a JSON template, where an exact
 * ref keeps the value's type.
 */
function renderString(s: string, ctx: Phase1Context, path: (string | number)[], deferred: Deferred[], json: boolean, opts: Phase1Options): unknown {
  const { exact, pieces, hasEnv } = compileString(s);
  if (json && exact) {
    if (exact.kind === "invalid") throw new TemplateError(`invalid template ref ${exact.text}: ${exact.reason}`);
    if (exact.kind !== "env") {
      const v = valueOf(exact, ctx);
      return v === undefined ? null : v;
    }
  }
  // The parts phase 2 renders at delivery are kept only for a template with env refs: the worker
  // renders every template at every delivery, and most have none.
  const parts: DeferredPart[] | undefined = hasEnv ? [] : undefined;
  let shown = "";
  let index = 0;
  for (const piece of pieces) {
    if (typeof piece === "string") {
      if (parts) appendText(parts, piece);
      shown += piece;
      continue;
    }
    if (piece.kind === "invalid") throw new TemplateError(`invalid template ref ${piece.text}: ${piece.reason}`);
    const i = index++;
    if (piece.kind === "env") {
      parts!.push({ env: piece.name });
      shown += `{{ env.${piece.name} }}`;
      continue;
    }
    let t = interpolationText(valueOf(piece, ctx));
    if (opts.encode) t = opts.encode(t, piece, i);
    if (parts) appendText(parts, t);
    shown += t;
  }
  // The path is the caller's, which renderPhase1 goes on changing: the deferred string keeps a copy.
  if (parts) deferred.push({ path: path.slice(), parts });
  return shown;
}

/** Appends literal text to deferred parts, joined to a text part before it. */
function appendText(parts: DeferredPart[], t: string): void {
  if (!t) return;
  if (typeof parts[parts.length - 1] === "string") parts[parts.length - 1] += t;
  else parts.push(t);
}

/**
 * Phase 1 of a JSON template (any JSON value; strings are templates, exact refs keep their type).
 * The result is safe to store: env refs are not resolved.
 */
export function renderPhase1<T = unknown>(template: T, ctx: Phase1Context, opts: Phase1Options = {}): Phase1Result<unknown> {
  const deferred: Deferred[] = [];
  // One path, pushed and popped on the way down (renderString copies it for a deferred string),
  // rather than a new array per node.
  const path: (string | number)[] = [];
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return renderString(v, ctx, path, deferred, true, opts);
    if (Array.isArray(v)) {
      const a = new Array<unknown>(v.length);
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        a[i] = walk(v[i]);
        path.pop();
      }
      return a;
    }
    if (v && typeof v === "object") {
      const o: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        path.push(k);
        o[k] = walk((v as Record<string, unknown>)[k]);
        path.pop();
      }
      return o;
    }
    return v;
  };
  return { value: walk(template), deferred };
}

/** Phase 1 of a plain text template (url, header, subject, argv...): always a string. */
export function renderTextPhase1(template: string, ctx: Phase1Context, opts: Phase1Options = {}): Phase1Result<string> {
  const deferred: Deferred[] = [];
  const value = renderString(template, ctx, [], deferred, false, opts) as string;
  return { value, deferred };
}

/**
 * What renderStringNow needs beside the template: the env, the env values used so far (`secrets`,
 * each once, in first use order; an array, made on the first: usually one value, not worth a Set), and the first env variable found unset (`missing`; no value is read or
 * collected after it, as resolveDeferred stops at it).
 */
export type RenderNowState = { env: Env; secrets?: string[]; missing?: string };

/**
 * Phase 1 and phase 2 of one string template in a single pass, for a delivery that renders the
 * accepted webhook (src/actions/index.ts): the same text as renderPhase1 (or renderTextPhase1)
 * followed by resolveDeferred, without the deferred list, its paths and the copies phase 2 makes of
 * phase 1's result. Env values go in as they are (never encoded, as in phase 2), and only from the
 * template's own refs, never from text a body value brought. A TemplateError is thrown as phase 1
 * throws it; an unset variable is not thrown but left in `st.missing` for the caller to throw once
 * the whole request is rendered, so a TemplateError anywhere still wins over it, as when phase 1
 * ran before phase 2. `json`: an exact ref keeps its value's type (an env one is text).
 */
export function renderStringNow(s: string, ctx: Phase1Context, json: boolean, encode: Phase1Options["encode"], st: RenderNowState): unknown {
  const { exact, pieces } = compileString(s);
  if (json && exact) {
    if (exact.kind === "invalid") throw new TemplateError(`invalid template ref ${exact.text}: ${exact.reason}`);
    if (exact.kind !== "env") {
      const v = valueOf(exact, ctx);
      return v === undefined ? null : v;
    }
  }
  let out = "";
  let index = 0;
  for (const piece of pieces) {
    if (typeof piece === "string") {
      out += piece;
      continue;
    }
    if (piece.kind === "invalid") throw new TemplateError(`invalid template ref ${piece.text}: ${piece.reason}`);
    const i = index++;
    if (piece.kind === "env") {
      if (st.missing !== undefined) continue;
      const v = st.env[piece.name];
      if (v === undefined) st.missing = piece.name;
      else {
        if (v && !st.secrets?.includes(v)) (st.secrets ??= []).push(v);
        out += v;
      }
      continue;
    }
    let t = interpolationText(valueOf(piece, ctx));
    if (encode) t = encode(t, piece, i);
    out += t;
  }
  return out;
}

/** renderStringNow over a JSON template (any JSON value; strings are templates, exact refs keep their type), as renderPhase1 walks it. */
export function renderJsonNow(template: unknown, ctx: Phase1Context, st: RenderNowState): unknown {
  if (typeof template === "string") return renderStringNow(template, ctx, true, undefined, st);
  if (Array.isArray(template)) {
    const a = new Array<unknown>(template.length);
    for (let i = 0; i < template.length; i++) a[i] = renderJsonNow(template[i], ctx, st);
    return a;
  }
  if (template && typeof template === "object") {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(template)) o[k] = renderJsonNow((template as Record<string, unknown>)[k], ctx, st);
    return o;
  }
  return template;
}

/** Environment at delivery; process.env by default. */
export type Env = Record<string, string | undefined>;

/** A deferred string names an env variable that is not set. The message names the variable, never a value. */
export class MissingEnvError extends Error {
  override readonly name = "MissingEnvError";
  constructor(readonly variable: string) {
    super(`environment variable ${variable} is not set`);
  }
}

/**
 * Phase 2: returns `value` with every deferred string assembled from its parts and the env.
 * `value` itself is not modified: only the objects and arrays on the way to a deferred string are
 * copied (shallowly), the rest is shared with `value`. (A deep copy of the whole input per
 * delivery was the largest cost of a delivery after fetch itself.) `secrets` collects the env
 * values used, so callers can scrub them from error text.
 */
export function resolveDeferred<T>(value: T, deferred: Deferred[] | undefined, env: Env, secrets?: Set<string>): T {
  if (!deferred || deferred.length === 0) return value;
  let root: unknown = value;
  // Containers copied by this call: written to in place from then on.
  let copied: Set<unknown> | undefined;
  const own = (v: unknown, at: string | number): Record<string | number, unknown> => {
    if (v === null || typeof v !== "object") throw new TypeError(`deferred path goes through a ${v === null ? "null" : typeof v} at '${at}'`);
    if (copied?.has(v)) return v as Record<string | number, unknown>;
    const c = Array.isArray(v) ? v.slice() : { ...(v as object) };
    (copied ??= new Set()).add(c);
    return c as Record<string | number, unknown>;
  };
  for (const d of deferred) {
    let s = "";
    for (const p of d.parts) {
      if (typeof p === "string") s += p;
      else {
        const v = env[p.env];
        if (v === undefined) throw new MissingEnvError(p.env);
        if (v && secrets) secrets.add(v);
        s += v;
      }
    }
    const n = d.path.length;
    if (n === 0) {
      root = s;
      continue;
    }
    let o = (root = own(root, "(root)"));
    for (let i = 0; i < n - 1; i++) {
      const k = d.path[i]!;
      o = o[k] = own(o[k], k);
    }
    o[d.path[n - 1]!] = s;
  }
  return root as T;
}

/**
 * Renders a template in one go with env available (no storage in between): the enrich step's
 * metadata patches, and `render`/tests. Same rules as phase 1 + phase 2.
 */
export function renderNow(template: unknown, ctx: Phase1Context, env: Env = process.env): unknown {
  const r = renderPhase1(template, ctx);
  return resolveDeferred(r.value, r.deferred, env);
}
