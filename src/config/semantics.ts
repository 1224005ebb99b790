// Checks hooks.yaml against what Kratos can actually do at the target version. Every rule asks
// src/kratos/ (hook lists, ctx presence, version gates) instead of re-encoding it, and every error
// names the CONTRACT section it comes from. Runs after the model check, so shapes are valid here.
import { existsSync, readFileSync, statSync } from "node:fs";
import { resolve as resolvePath } from "node:path";
import { ConfigError } from "../errors.ts";
import { ctxFixedType, ctxListPrefix, ctxPathAvailable, ctxPathMayBeMissing, headerAllowlistAt, isHeaderToken, requestHeaderKey, transientPayloadPossible } from "../kratos/ctx.ts";
import {
  allowedHooks,
  ctxPresence,
  flowLevelIgnoresBlocking,
  hasMethodLists,
  listExists,
  listKey,
  methodsAt,
  persistsIdentityChanges,
  SESSION_HOOK,
  splitPoint,
  type Point,
} from "../kratos/hook-points.ts";
import { MESSAGE_ID_MAX, MESSAGE_ID_MIN, RECEIVER_MESSAGE_ID_MIN } from "../kratos/responses.ts";
import { compareVersions, FEATURE_MIN_VERSION, hookListsAt, isKnownRelease, KNOWN_RELEASES, KNOWN_TAGS, parseVersion, rulesTag, supports, type Version } from "../kratos/versions.ts";
import { compileLinearRegex } from "../linear-regex.ts";
import { missingStdFunction } from "../kratos/jsonnet-stdlib.ts";
import { headerValueProblem, outgoingHeaderProblem } from "../kratos/outgoing-headers.ts";
import { templateRefs, type TemplateRef } from "../template.ts";
import { PATH_PATTERN, PREDICATE_OPERATORS, type FieldSpecDecl, type HookDecl, type HooksFile, type PredicateDecl } from "./model.ts";
import { destinationKey, destinationOf } from "./destination.ts";
import { checkEffects } from "./effects.ts";
import { addedFields, dedupePlan } from "./dedupe-plan.ts";
import { DEFAULTS, ENV_OVERRIDES, hookUrl, isReservedPath, parseListen, resolveField, sameRoute, resolveStore, RESERVED_PATHS, type Env } from "./resolve.ts";
import { checkKratosSafety } from "./kratos-safety.ts";
import { closest } from "./schema-errors.ts";
import { hookTrustProblems, mailboxProblems } from "./trust.ts";
import { enrichPatchRefProblem } from "../template-context.ts";
import type { ConfigPath, SourceMap } from "./source-map.ts";

export type SemanticsContext = { dir: string; env: Env; cwd: string };
export type SemanticsResult = { errors: ConfigError[]; warnings: ConfigError[] };

/** Private message id range for deny messages, clear of Kratos's own 1xxxxxx/4xxxxxx ids (CONTRACT §8.14). */
export const MESSAGE_ID_RANGE = { min: MESSAGE_ID_MIN, max: MESSAGE_ID_MAX, receiverMin: RECEIVER_MESSAGE_ID_MIN } as const;

/** Operators skip_if cannot use: it compiles to Jsonnet, which has no regex and no file access (CONTRACT §3.1). */
const NOT_IN_JSONNET = ["matches", "in_file", "domain_in_file"] as const;

class Report {
  readonly errors: ConfigError[] = [];
  readonly warnings: ConfigError[] = [];
  constructor(readonly map: SourceMap) {}
  error(path: ConfigPath, part: "key" | "value", message: string, hint?: string): void {
    this.errors.push(this.map.error(path, part, message, hint));
  }
  warn(path: ConfigPath, part: "key" | "value", message: string, hint?: string): void {
    this.warnings.push(this.map.error(path, part, message, hint));
  }
  /** An error about the environment, not the file. */
  envError(name: string, message: string, hint?: string): void {
    this.errors.push(new ConfigError(message, undefined, `env ${name}`, hint));
  }
}

export function checkSemantics(raw: HooksFile, map: SourceMap, c: SemanticsContext): SemanticsResult {
  const r = new Report(map);
  const v = checkVersion(raw, r);
  if (v) checkKratosKeys(raw, v, r);
  checkReceiverAndServe(raw, c, r);
  checkEffects(raw, v, r);
  checkKratosSafety(raw, v, c.env, c.dir, r);
  checkMessageIds(raw, r);
  const paths = new Map<string, string>();
  for (const [name, hook] of Object.entries(raw.hooks)) {
    checkHook(name, hook, raw, v, c, r);
    const path = servedPath(raw.receiver.url, hook.path ?? `/hooks/${name}`);
    const at: ConfigPath = hook.path !== undefined ? ["hooks", name, "path"] : ["hooks", name];
    const part = hook.path !== undefined ? "value" : "key";
    const other = paths.get(sameRoute(path));
    if (hook.path !== undefined && /(?:^|\/)\.\.?(?:\/|$)/.test(hook.path)) {
      // serve answers 400 to a request path with a dot segment (src/server/raw-path.ts).
      r.error(at, part, `path ${hook.path} has a '.' or '..' segment`, "write the path without them: serve refuses request paths that hold one, so that a proxy's prefix rule cannot be walked past");
    } else if (isReservedPath(path)) {
      r.error(at, part, `endpoint path ${path} is reserved by the receiver`, `pick another path (hooks are served at receiver.url's path + path); ${RESERVED_PATHS.join(", ")} are built in`);
    } else if (other !== undefined) {
      r.error(at, part, `endpoint path ${path} is already used by hook '${other}'`, "give each hook its own path");
    } else paths.set(sameRoute(path), name);
  }
  return { errors: r.errors, warnings: r.warnings };
}

/**
 * One message id, one text: UIs show and translate Kratos's form messages by id (Ory's own UIs
 * look the id up in their translations), so two texts under one id show as the same message.
 */
function checkMessageIds(raw: HooksFile, r: Report): void {
  const seen = new Map<number, { text: string; where: string }>();
  for (const [name, hook] of Object.entries(raw.hooks)) {
    (hook.rules ?? []).forEach((rule, i) => {
      if (!("deny" in rule) || rule.deny.id === undefined) return;
      const first = seen.get(rule.deny.id);
      const where = `hooks.${name}.rules[${i}]`;
      if (!first) seen.set(rule.deny.id, { text: rule.deny.text, where });
      else if (first.text !== rule.deny.text) {
        r.warn(["hooks", name, "rules", i, "deny", "id"], "value", `message id ${rule.deny.id} already stands for "${first.text}" (${first.where})`, "give each distinct text its own id: UIs show and translate form messages by id (docs/kratos.md#messages)");
      }
    });
  }
}

/** The path serve answers on (see hookUrl); the bare path when receiver.url is invalid (reported by checkReceiverAndServe). */
function servedPath(receiverUrl: string, path: string): string {
  try {
    const url = new URL(receiverUrl);
    return url.search || url.hash ? path : hookUrl(receiverUrl, path).routePath;
  } catch {
    return path;
  }
}

// kratos: -------------------------------------------------------------------------------------

function checkVersion(raw: HooksFile, r: Report): Version | undefined {
  const v = parseVersion(raw.kratos.version);
  const releases = KNOWN_TAGS.filter((t) => t !== "HEAD");
  if (!v || !rulesTag(v)) {
    r.error(["kratos", "version"], "value", `Kratos ${raw.kratos.version} is not supported`, `kratos-hooks knows ${releases.join(", ")} and HEAD; use v1.0.0 or later (docs/kratos.md#hook-points-by-version)`);
    return undefined;
  }
  const newest = parseVersion(releases[releases.length - 1]!)!;
  if (!v.head && compareVersions(v, newest) <= 0 && !isKnownRelease(v)) {
    r.error(["kratos", "version"], "value", `Kratos ${v.text} is not a Kratos release`, `known releases: ${KNOWN_RELEASES.join(", ")}, and HEAD; a version newer than ${newest.text} is accepted with a warning (docs/kratos.md#version-differences)`);
    return undefined;
  }
  if (!v.head && compareVersions(v, newest) > 0) {
    r.warn(["kratos", "version"], "value", `Kratos ${v.text} is newer than ${newest.text}, the newest release kratos-hooks was checked against`, `the rules of ${rulesTag(v)} apply; check the hook lists of ${v.text} (docs/kratos.md#version-differences)`);
  }
  return v;
}

function checkKratosKeys(raw: HooksFile, v: Version, r: Report): void {
  const k = raw.kratos;
  if (k.emit_analytics_event !== undefined && !supports(v, "emit_analytics_event")) {
    r.error(["kratos", "emit_analytics_event"], "key", `emit_analytics_event needs Kratos ${FEATURE_MIN_VERSION.emit_analytics_event} or later (target ${v.text})`, "remove it: older Kratos rejects the key (docs/kratos.md#web-hook-config)");
  }
  if (k.header_allowlist !== undefined && !supports(v, "header_allowlist")) {
    r.error(["kratos", "header_allowlist"], "key", `header_allowlist needs Kratos ${FEATURE_MIN_VERSION.header_allowlist} or later (target ${v.text})`, "Kratos v1.3.x filters request headers with a fixed list; v1.0-v1.2 does not filter (docs/kratos.md#header-allowlist)");
  }
  for (const [key, items] of Object.entries(k.builtin_hooks ?? {})) {
    const at: ConfigPath = ["kratos", "builtin_hooks", key];
    if (!listExists(key, v)) {
      const point = key.split(".").slice(0, 2).join(".");
      const lists = Object.keys(hookListsAt(v)).filter((l) => l === point || l.startsWith(`${point}.`)).sort();
      const since = KNOWN_TAGS.find((t) => listExists(key, parseVersion(t)!));
      const near = since ? undefined : closest(key, lists);
      const why = since ? `it was added in Kratos ${since}; ` : near ? `did you mean '${near}'? ` : "";
      r.error(at, "key", `Kratos ${v.text} has no hook list selfservice.flows.${key}.hooks`, `${why}lists at ${point}: ${lists.join(", ")} (docs/kratos.md#hook-points-by-version)`);
      continue;
    }
    const allowed = allowedHooks(key, v).filter((h) => h !== "web_hook");
    const seen = new Set<string>();
    items.forEach((item, i) => {
      const name = typeof item === "string" ? item : item.hook;
      const itemPath: ConfigPath = typeof item === "string" ? [...at, i] : [...at, i, "hook"];
      const text = JSON.stringify(item);
      if (seen.has(text)) r.error([...at, i], "value", `'${name}' appears twice in ${key}`, "Kratos rejects identical items in one hook list (uniqueItems, docs/kratos.md#hook-points-by-version)");
      seen.add(text);
      if (name === "web_hook") {
        r.error(itemPath, "value", "web_hook does not belong in builtin_hooks", "declare it under hooks: instead; kratos-hooks generates the web_hook items (docs/kratos.md#web-hook-config)");
      } else if (name === SESSION_HOOK && !(key.startsWith("registration.after.") && allowed.includes(SESSION_HOOK))) {
        r.error(itemPath, "value", `'session' is not allowed in ${key}`, "Kratos allows session only in registration per-method lists, e.g. registration.after.password (docs/kratos.md#hook-points-by-version)");
      } else if (!allowed.includes(name)) {
        r.error(itemPath, "value", `Kratos ${v.text} does not allow hook '${name}' in ${key}`, `allowed: ${allowed.join(", ") || "none besides web_hook"} (docs/kratos.md#hook-points-by-version)`);
      }
    });
  }
}

// receiver:, serve: ---------------------------------------------------------------------------

function checkReceiverAndServe(raw: HooksFile, c: SemanticsContext, r: Report): void {
  try {
    const url = new URL(raw.receiver.url);
    // Hook URLs are receiver.url + path, so anything after the path would end up in the middle.
    if (url.search || url.hash) r.error(["receiver", "url"], "value", "receiver.url must not have a query or fragment", "hook URLs are receiver.url followed by each hook's path");
    // serve routes each hook on this path + its path, and Elysia reads ':' and '*' in a route as a
    // parameter or wildcard: hold this path to what a hook path may hold (strictly: no %-escapes).
    const pathOk = new RegExp(PATH_PATTERN);
    if (!pathOk.test(url.pathname)) {
      const bad = [...new Set(url.pathname)].filter((ch) => !pathOk.test(`/${ch}`)).map((ch) => `'${ch}'`);
      r.error(["receiver", "url"], "value", `receiver.url's path ${url.pathname} has ${bad.join(", ")}, which serve cannot route on`, "use only letters, digits, '/', '_', '.' and '-' in its path, as in a hook path (percent-encoded and non-ASCII text count as '%')");
    }
  } catch {
    r.error(["receiver", "url"], "value", `'${raw.receiver.url}' is not a valid URL`, "e.g. http://127.0.0.1:4459");
  }
  const listenEnv = c.env[ENV_OVERRIDES.listen];
  if (listenEnv) {
    if (!parseListen(listenEnv)) r.envError(ENV_OVERRIDES.listen, `'${listenEnv}' is not host:port`, "e.g. 127.0.0.1:4459, [::1]:4459 or :4459");
  } else if (raw.serve?.listen !== undefined && !parseListen(raw.serve.listen)) {
    r.error(["serve", "listen"], "value", `'${raw.serve.listen}' is not host:port`, "e.g. 127.0.0.1:4459, [::1]:4459 or :4459 (all interfaces)");
  }
  const storeHint = "sqlite:<path> (relative to the current directory), sqlite::memory: or postgres://user@host/db";
  const storeEnv = c.env[ENV_OVERRIDES.store];
  if (storeEnv) {
    if (!resolveStore(storeEnv, c.cwd)) r.envError(ENV_OVERRIDES.store, `'${storeEnv}' is not a store URL`, storeHint);
  } else if (raw.serve?.store !== undefined && !resolveStore(raw.serve.store, c.cwd)) {
    r.error(["serve", "store"], "value", `'${raw.serve.store}' is not a store URL`, storeHint);
  } else if (raw.serve?.store === "sqlite::memory:") {
    // serve answers Kratos 2xx once a job is committed, and Kratos never resends an acked call.
    r.warn(["serve", "store"], "value", "an in-memory store loses every job not yet delivered when serve stops, though Kratos was told it arrived and will not send it again", "use sqlite:<file> or postgres://... outside tests (docs/durability.md)");
  }
  const admin = raw.serve?.admin;
  if (admin && admin.listen !== "off") {
    const at = parseListen(admin.listen);
    const receiver = parseListen(raw.serve?.listen ?? DEFAULTS.listen);
    if (!at) r.error(["serve", "admin", "listen"], "value", `'${admin.listen}' is not host:port or off`, "e.g. 127.0.0.1:4460 (keep the admin page on a private address), or off");
    else if (receiver && at.port !== 0 && at.port === receiver.port && at.host === receiver.host) {
      r.error(["serve", "admin", "listen"], "value", `the admin page needs its own address, not serve.listen's ${admin.listen}`, "e.g. 127.0.0.1:4460");
    }
  }
  checkRateLimits(raw, r);
  if (raw.serve?.smtp?.from !== undefined) for (const p of mailboxProblems(raw.serve.smtp.from, ["serve", "smtp", "from"])) r.error(p.path, p.part, p.message, p.hint);
}

/** serve.rate_limits: each key a destination (destination.ts) that some action delivers to. */
function checkRateLimits(raw: HooksFile, r: Report): void {
  const limits = raw.serve?.rate_limits;
  if (!limits) return;
  const used = new Set<string>();
  for (const hook of Object.values(raw.hooks)) {
    for (const a of hook.actions ?? []) {
      const d = "http" in a ? destinationOf({ kind: "http", url: a.http.url }, raw.serve?.smtp) : "email" in a ? destinationOf({ kind: "email", smtp: a.email.smtp }, raw.serve?.smtp) : undefined;
      if (d !== undefined) used.add(d);
    }
  }
  for (const text of Object.keys(limits)) {
    const d = destinationKey(text);
    if ("error" in d) {
      r.error(["serve", "rate_limits", text], "key", d.error, "e.g. https://crm.example.com, http://127.0.0.1:4460 or smtp://smtp.example.com:587");
    } else if (!used.has(d.key)) {
      r.warn(["serve", "rate_limits", text], "key", `no action delivers to ${d.key}, so this limit applies to nothing`, "match an http action's url origin (a url whose host is a template cannot be matched) or an email action's smtp://host:port");
    }
  }
}

// hooks: --------------------------------------------------------------------------------------

type HookCtx = {
  name: string;
  hook: HookDecl;
  at: ConfigPath;
  point: Point;
  /** interrupt/enrich: Kratos waits and parses the answer; at registration/settings after this runs pre-persist. */
  blocking: boolean;
  fields: string[];
  v: Version | undefined;
  /** Request headers Kratos passes to webhooks, or undefined when it passes all (CONTRACT §3.4). */
  headerAllowlist: readonly string[] | undefined;
  /** kratos.session_cookie: a renamed Kratos session cookie (trust.ts). */
  sessionCookie: string | undefined;
  c: SemanticsContext;
  r: Report;
};

function checkHook(name: string, hook: HookDecl, raw: HooksFile, v: Version | undefined, c: SemanticsContext, r: Report): void {
  const mode = hook.mode ?? "notify";
  const h: HookCtx = {
    name,
    hook,
    at: ["hooks", name],
    point: hook.on as Point,
    blocking: mode !== "notify",
    // The fields generate adds for the dedupe key are in the body too (dedupe-plan.ts, docs/config.md#dedupe-key).
    fields: [...Object.keys(hook.body ?? {}), ...(v ? addedFields(dedupePlan(hook, v, raw.kratos.emit_analytics_event)).map((f) => f.name) : [])],
    v,
    headerAllowlist: v ? headerAllowlistAt(v, raw.kratos.header_allowlist) : undefined,
    sessionCookie: raw.kratos.session_cookie,
    c,
    r,
  };
  checkMethods(h);
  checkMode(h, mode);
  checkHeaders(h);
  checkBody(h);
  checkJsonnet(h);
  checkAuth(h);
  if (hook.skip_if && hook.jsonnet !== undefined) {
    // skip_if is compiled into the generated body; a hand-written body replaces it.
    r.error([...h.at, "skip_if"], "key", "skip_if has no effect with a hand-written jsonnet body", 'write the condition in the Jsonnet file: if <cond> then error "cancel" else {...} (docs/kratos.md#cancel)');
  } else if (hook.skip_if) checkPredicate(h, hook.skip_if, [...h.at, "skip_if"], true);
  for (const [i, key] of (hook.dedupe?.key ?? []).entries()) checkFieldRef(h, key, [...h.at, "dedupe", "key", i], "dedupe.key");
  checkDedupeKeyVaries(h);
  checkRules(h, mode);
  checkEnrich(h, mode);
  checkActions(h);
  checkTrust(h);
}

/**
 * A dedupe.key made only of constants is the same for every event: the receiver would run the
 * actions for the first one in each window and answer every later one as a retry of it.
 */
function checkDedupeKeyVaries(h: HookCtx): void {
  const key = h.hook.dedupe?.key;
  if (!key?.length) return;
  const constant = (f: string) => {
    const spec = h.hook.body?.[f];
    return spec !== undefined && typeof spec !== "string" && spec.from === undefined && spec.value !== undefined;
  };
  if (!key.every(constant)) return;
  h.r.error([...h.at, "dedupe", "key"], "value", `dedupe.key ${key.join(", ")} is a constant, the same for every event: all but the first event in each dedupe window would be dropped as retries`, "key on what tells events apart, e.g. identity_id (once per identity) or flow_id, or remove dedupe.key to dedupe Kratos's retries only (docs/kratos.md#retries)");
}

/** Credentials never read, user-controlled values never where they steer a delivery (trust.ts). */
function checkTrust(h: HookCtx): void {
  for (const p of hookTrustProblems(h.name, h.hook, { version: h.v, headerAllowlist: h.headerAllowlist, sessionCookie: h.sessionCookie, dir: h.c.dir })) {
    if (p.level === "error") h.r.error(p.path, p.part, p.message, p.hint);
    else h.r.warn(p.path, p.part, p.message, p.hint);
  }
}

function checkMethods(h: HookCtx): void {
  const { hook, point, v, r } = h;
  if (hook.methods === undefined) return;
  if (!hasMethodLists(point)) {
    r.error([...h.at, "methods"], "key", `${point} has no per-method lists`, `remove methods: Kratos reads ${point} hooks from selfservice.flows.${point}.hooks only (docs/kratos.md#hook-points-by-version)`);
    return;
  }
  if (!v) return;
  const available = methodsAt(point, v);
  hook.methods.forEach((m, i) => {
    if (listExists(listKey(point, m), v)) return;
    const since = KNOWN_TAGS.find((t) => listExists(listKey(point, m), parseVersion(t)!));
    const why = since ? `it was added in Kratos ${since}` : `Kratos has no ${point}.${m} list in any version`;
    const near = since ? undefined : closest(m, available);
    r.error([...h.at, "methods", i], "value", `Kratos ${v.text} has no '${m}' method list at ${point}`, `${near ? `did you mean '${near}'? ` : ""}${why}; available: ${available.join(", ")} (docs/kratos.md#hook-points-by-version)`);
  });
}

function checkMode(h: HookCtx, mode: string): void {
  const { hook, point, r } = h;
  const { phase } = splitPoint(point);
  if (hook.wait === true && mode !== "notify") {
    r.error([...h.at, "wait"], "key", `wait applies only to notify hooks, this one is ${mode}`, "Kratos always waits for interrupt and enrich hooks; remove wait (docs/kratos.md#outcomes)");
  }
  if (mode === "enrich" && !persistsIdentityChanges(point)) {
    const why = phase === "before" ? "there is no identity yet at before hooks" : `Kratos applies identity changes at ${point} to a copy and drops them`;
    r.error([...h.at, "mode"], "value", `enrich has no effect at ${point}: ${why}`, "enrich works at registration.after and settings.after; use interrupt to block the flow (docs/kratos.md#behaviour-per-hook-point)");
  }
  if (h.blocking && flowLevelIgnoresBlocking(point) && hook.methods === undefined) {
    const available = h.v ? methodsAt(point, h.v) : [];
    r.error([...h.at, "mode"], "value", `an ${mode} hook at ${point} needs methods`, `Kratos runs blocking ${point} webhooks only from per-method lists and never calls them from the flow-level list; add methods: [...] from ${available.join(", ")} (docs/kratos.md#how-kratos-picks-a-list)`);
  }
  if (hook.wait === true && mode === "notify" && point === "registration.after") {
    r.warn([...h.at, "wait"], "key", "wait: true at registration.after: when the receiver is unreachable the user gets an error page although the account was created", "leave wait off (Kratos then does not wait), or make sure the receiver is up (docs/kratos.md#outcomes)");
  }
  if (mode === "interrupt" && phase === "before") {
    r.warn([...h.at, "mode"], "value", `interrupt at ${point}: the flow does not exist yet, so messages may show as an error page instead of form messages`, "docs/kratos.md#behaviour-per-hook-point [inferred]");
  }
  if (mode === "enrich" && !hook.enrich?.length && !hook.rules?.length) {
    r.warn([...h.at, "mode"], "value", "an enrich hook without enrich steps changes nothing", "add enrich: [...] or use mode notify");
  }
}

function checkHeaders(h: HookCtx): void {
  const { hook, v, r } = h;
  if (!hook.headers) return;
  if (v && !supports(v, "headers")) {
    r.error([...h.at, "headers"], "key", `headers need Kratos ${FEATURE_MIN_VERSION.headers} or later (target ${v.text})`, "Kratos v1.0/v1.1 reject the key; put the secret in auth instead (docs/kratos.md#web-hook-config)");
  }
  for (const [name, value] of Object.entries(hook.headers)) {
    const problem = outgoingHeaderProblem(name);
    if (problem) r.error([...h.at, "headers", name], "key", `header ${name} cannot be set here: ${problem.why}`, problem.hint);
    const valueProblem = headerValueProblem(value);
    if (valueProblem) r.error([...h.at, "headers", name], "value", `the value of header ${name} cannot be sent: ${valueProblem.why}`, valueProblem.hint);
    if (name.toLowerCase() === "content-type" && value !== "application/json") {
      r.error([...h.at, "headers", name], "value", `Content-Type must be exactly application/json, got '${value}'`, "Kratos fails the call for any other value (even with '; charset=') and the receiver reads JSON; remove the header (docs/kratos.md#content-type)");
    }
  }
}

function checkBody(h: HookCtx): void {
  const { hook, point, blocking, v, r } = h;
  for (const [field, raw] of Object.entries(hook.body ?? {})) {
    const spec: FieldSpecDecl = typeof raw === "string" ? { from: raw } : raw;
    const fieldPath: ConfigPath = [...h.at, "body", field];
    const fromPath: ConfigPath = typeof raw === "string" ? fieldPath : [...fieldPath, "from"];
    if (spec.from !== undefined && spec.value !== undefined) {
      r.error([...fieldPath, "value"], "key", "a body field has either 'from' (a ctx path) or 'value' (a constant), not both", "remove one of them");
      continue;
    }
    if (spec.from === undefined && spec.value === undefined) {
      // A hand-written body computes its fields itself: there `body` only types them (model.ts).
      if (hook.jsonnet === undefined) r.error(fieldPath, "key", `body field '${field}' has neither 'from' nor 'value'`, "add from: <ctx path>, e.g. identity.traits.email, or value: <constant>; only with a hand-written jsonnet body may a field just declare its type");
      continue;
    }
    if (spec.from === undefined) continue;
    const path = spec.from.split(".");
    // A declared type or format Kratos's value never has: the receiver refuses every body (a 400
    // Kratos does not retry: a notify event is lost, a blocking hook fails the flow).
    const fixed = ctxFixedType(path);
    const typePath: ConfigPath = [...fieldPath, typeof raw === "string" ? "from" : "type"];
    if (fixed && spec.type !== undefined && spec.type !== "any" && spec.type !== fixed.type && !(spec.type === "number" && fixed.type === "integer")) {
      r.error(typePath, "value", `${spec.from} is ${fixed.type === "array" || fixed.type === "object" || fixed.type === "integer" ? "an" : "a"} ${fixed.type} in every ctx Kratos sends, but the field declares type ${spec.type}: the receiver would refuse every body`, `remove type: (it defaults to the ctx's type) or write type: ${fixed.type} (docs/kratos.md#ctx-per-hook-point)`);
      continue;
    }
    if (fixed?.format === "uuid" && spec.max_length !== undefined && spec.max_length < 36) {
      r.error([...fieldPath, "max_length"], "value", `${spec.from} is a uuid, 36 characters long, but max_length is ${spec.max_length}: the receiver would refuse every body`, "remove max_length: Kratos fixes the length of a uuid (docs/kratos.md#ctx-per-hook-point)");
      continue;
    }
    if (fixed?.format && spec.format !== undefined && spec.format !== fixed.format) {
      r.error([...fieldPath, "format"], "value", `${spec.from} is a ${fixed.format} string, but the field declares format ${spec.format}: the receiver would refuse every body`, `remove format: (it defaults to ${fixed.format}) (docs/kratos.md#ctx-per-hook-point)`);
      continue;
    }
    const list = ctxListPrefix(path);
    if (list) {
      r.error(fromPath, "value", `${spec.from} reads into the list ${list.join(".")}, which Kratos's Jsonnet cannot index by name`, `every call would fail ("attempted index an array with string"); send the whole list instead: from: ${list.join(".")}, type: array (docs/kratos.md#ctx-per-hook-point)`);
      continue;
    }
    if (v) {
      const available = ctxPathAvailable(path, point, blocking, v);
      if (!available.ok) {
        r.error(fromPath, "value", `${spec.from} is never set here: ${available.reason}`, `${available.hint ?? ctxHint(point, blocking, v)} (docs/kratos.md#ctx-per-hook-point)`);
        continue;
      }
      if (path[0] === "identity" && path[1] === "id" && path.length === 2 && ctxPresence(point, blocking, v).identityIdIsNil) {
        r.error(fromPath, "value", `identity.id is the all-zero UUID at ${point} for ${hook.mode} hooks: the identity is not stored yet`, "key on identity.traits (e.g. the email) or flow.id instead (docs/kratos.md#pre-persist-identity)");
        continue;
      }
    }
    // A hand-written body reads ctx itself: its `body` only types the fields.
    const missing = spec.optional === true || hook.jsonnet !== undefined ? undefined : ctxPathMayBeMissing(path, point);
    if (missing) {
      (missing.level === "error" ? r.error : r.warn).call(r, fromPath, "value", `${spec.from} is missing ${missing.when}, and a body field without optional then fails the body and the flow`, "add optional: true: the body then leaves the field out (docs/kratos.md#ctx-per-hook-point)");
    }
    if (path[0] === "flow" && path[1] === "transient_payload" && v && !transientPayloadPossible(point, v)) {
      const before = splitPoint(point).phase === "before";
      r.warn(
        fromPath,
        "value",
        before ? `flow.transient_payload is never present at ${point}: before hooks run when the flow is created` : `Kratos ${v.text} sends flow.transient_payload only in registration flows, not at ${point}`,
        before ? "read it at the after hook instead (docs/kratos.md#ctx-per-hook-point [inferred])" : "every flow carries it since Kratos v1.2.0 (docs/kratos.md#ctx-per-hook-point)",
      );
    }
    if (path[0] === "request_headers" && path.length >= 2) checkRequestHeader(h, path[1]!, spec, fromPath);
  }
}

function ctxHint(point: Point, blocking: boolean, v: Version): string {
  const p = ctxPresence(point, blocking, v);
  const roots = ["flow", "request_headers", "request_method", "request_url", "request_cookies", ...(p.identity ? ["identity"] : []), ...(p.session ? ["session"] : [])];
  return `ctx at ${point}${splitPoint(point).phase === "after" && (point.startsWith("registration") || point.startsWith("settings")) ? (blocking ? " (pre-persist)" : " (post-persist)") : ""} in ${v.text} has: ${roots.join(", ")}`;
}

function checkRequestHeader(h: HookCtx, header: string, spec: FieldSpecDecl, at: ConfigPath): void {
  const { v, r } = h;
  if (v && h.headerAllowlist && !h.headerAllowlist.some((x) => x.toLowerCase() === header.toLowerCase())) {
    const hint = supports(v, "header_allowlist")
      ? "add it to kratos.header_allowlist, which replaces Kratos's default list (docs/kratos.md#header-allowlist)"
      : `Kratos ${v.text} filters request headers with a fixed list: ${h.headerAllowlist.join(", ")} (docs/kratos.md#header-allowlist)`;
    r.error(at, "value", `Kratos ${v.text} never passes request header '${header}' to webhooks: it is not in the header allowlist`, hint);
    return;
  }
  if (v) {
    const key = requestHeaderKey(header, v, h.headerAllowlist);
    if (key !== header) {
      r.error(at, "value", `Kratos ${v.text} puts this header in ctx as request_headers.${key}, so request_headers.${header} is never set`, `write request_headers.${key} (header keys in ctx are case-sensitive; docs/kratos.md#ctx-per-hook-point)`);
      return;
    }
  }
  if (spec.optional !== true) {
    r.warn(at, "value", `request header '${header}' may be missing from a request; the body then fails to build and the flow fails`, "add optional: true (docs/kratos.md#ctx-per-hook-point)");
  }
}

/** A body field named by a predicate, dedupe.key, deny.field or lookup.field must exist in body. */
function checkFieldRef(h: HookCtx, field: string, at: ConfigPath, what: string): void {
  if (h.fields.includes(field)) return;
  const near = closest(field, h.fields);
  h.r.error(at, "value", `${what} names '${field}', which is not a body field of this hook`, h.fields.length ? `${near ? `did you mean '${near}'? ` : ""}body fields: ${h.fields.join(", ")}` : "declare it under body: first");
}

function checkJsonnet(h: HookCtx): void {
  const { hook, r } = h;
  if (hook.jsonnet === undefined) return;
  const at: ConfigPath = [...h.at, "jsonnet"];
  const file = resolvePath(h.c.dir, hook.jsonnet);
  const text = readTextFile(file);
  if (text === undefined) {
    r.error(at, "value", `Jsonnet file ${hook.jsonnet} does not exist`, `looked at ${file}: paths in hooks.yaml are relative to its directory`);
    return;
  }
  for (const problem of jsonnetProblems(text, h.v)) {
    r.error(at, "value", `${hook.jsonnet}:${problem.line}: ${problem.message}`, problem.hint);
  }
  if (h.v) {
    for (const problem of jsonnetCtxProblems(text, h.point, h.blocking, h.v)) r.error(at, "value", `${hook.jsonnet}:${problem.line}: ${problem.message}`, problem.hint);
  }
}

/**
 * A hand-written body that reads a ctx key Kratos leaves out, without a guard: `ctx.identity` or
 * `ctx.session` where the presence matrix has none (CONTRACT §3.2), and `ctx.flow.transient_payload`,
 * which is there only when the client sent one. Reading it fails the body, and the flow, on every
 * such call. A guard is std.objectHas / `in` / std.get on the key anywhere in the file.
 */
export function jsonnetCtxProblems(text: string, point: Point, blocking: boolean, v: Version): Array<{ line: number; message: string; hint: string }> {
  const out: Array<{ line: number; message: string; hint: string }> = [];
  const code = blankStringsAndComments(text);
  const lineOf = (i: number) => text.slice(0, i).split("\n").length;
  const presence = ctxPresence(point, blocking, v);
  const guarded = (parent: string, key: string) =>
    new RegExp(`objectHas(All)?\\s*\\(\\s*${parent}\\s*,\\s*["']${key}["']|["']${key}["']\\s+in\\s+${parent}\\b|std\\s*\\.\\s*get\\s*\\(\\s*${parent}\\s*,\\s*["']${key}["']`).test(text);
  const reads = (parent: string, key: string) => new RegExp(`\\b${parent}\\s*(\\.\\s*${key}\\b|\\[\\s*["']${key}["'])`).exec(code);
  for (const [key, present] of [["identity", presence.identity], ["session", presence.session]] as const) {
    const m = reads("ctx", key);
    if (!present && m && !guarded("ctx", key)) {
      out.push({ line: lineOf(m.index), message: `reads ctx.${key}, which Kratos ${v.text} never sends at ${point}${blocking ? " to interrupt/enrich hooks" : ""}`, hint: `every call would fail with "field does not exist"; ${ctxHint(point, blocking, v)}; guard it with std.objectHas(ctx, "${key}") if the body serves several points (docs/kratos.md#ctx-per-hook-point)` });
    }
  }
  const tp = reads("ctx\\s*\\.\\s*flow", "transient_payload");
  if (tp && !guarded("ctx\\s*\\.\\s*flow", "transient_payload")) {
    out.push({ line: lineOf(tp.index), message: "reads ctx.flow.transient_payload without a guard, and Kratos sends it only when the client sent one", hint: 'every call without one would fail with "field does not exist"; write std.get(ctx.flow, "transient_payload", {}) or guard with std.objectHas(ctx.flow, "transient_payload") (docs/kratos.md#ctx-per-hook-point)' });
  }
  return out;
}

function readTextFile(file: string): string | undefined {
  try {
    return statSync(file).isFile() ? readFileSync(file, "utf8") : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What Kratos's Jsonnet VM refuses: `std.extVar` (ctx is a top-level argument, never an ext var)
 * and imports (disabled in the worker). CONTRACT §3.1. Strings and comments are skipped.
 */
export function jsonnetProblems(text: string, v?: Version): Array<{ line: number; message: string; hint: string }> {
  const out: Array<{ line: number; message: string; hint: string }> = [];
  const code = blankStringsAndComments(text);
  const lineOf = (i: number) => text.slice(0, i).split("\n").length;
  for (const m of code.matchAll(/\bstd\s*\.\s*extVar\b/g)) {
    out.push({ line: lineOf(m.index), message: "uses std.extVar, which Kratos does not provide", hint: "Kratos passes ctx as a top-level argument: write function(ctx) ... and read ctx.<path> (docs/kratos.md#jsonnet-bodies)" });
  }
  for (const m of code.matchAll(/\b(import|importstr|importbin)\b/g)) {
    out.push({ line: lineOf(m.index), message: `uses ${m[1]}, which Kratos disables`, hint: "inline what you import: Kratos evaluates bodies with imports turned off (docs/kratos.md#jsonnet-bodies)" });
  }
  // Kratos strips these from every identity in ctx (CONTRACT §0.4, §3.2): reading one is a runtime error.
  for (const m of code.matchAll(/\.\s*(metadata_admin|credentials)\b/g)) {
    out.push({ line: lineOf(m.index), message: `reads .${m[1]}, which Kratos removes from the identity it passes to webhooks`, hint: `the body fails with "field does not exist" and so does every flow with this hook; ${m[1] === "metadata_admin" ? "keep what the receiver needs in metadata_public or traits" : "read identity.id, traits or verifiable_addresses instead"} (docs/kratos.md#ctx-per-hook-point)` });
  }
  // Kratos's go-jsonnet lacks the std functions added after it (CONTRACT §3.1): "field does not exist".
  if (v) {
    for (const m of code.matchAll(/\bstd\s*\.\s*([A-Za-z0-9_]+)\b/g)) {
      const missing = missingStdFunction(m[1]!, v);
      if (!missing) continue;
      out.push({
        line: lineOf(m.index),
        message: `uses std.${m[1]}, which Kratos ${v.text}'s Jsonnet (go-jsonnet ${missing.engine}) does not have`,
        hint: `it came with go-jsonnet ${missing.addedIn} (Kratos ${missing.kratosSince}); every call of this body would fail with "field does not exist": write it with older std functions, or target Kratos ${missing.kratosSince} or later (docs/kratos.md#jsonnet-bodies)`,
      });
    }
  }
  if (!/\bfunction\s*\(\s*ctx\s*\)/.test(code)) {
    out.push({ line: 1, message: "is not function(ctx) ...", hint: "Kratos passes ctx as a top-level argument named ctx; the body must be function(ctx) { ... } (docs/kratos.md#jsonnet-bodies)" });
  }
  return out;
}

/** Replaces the contents of strings and comments with spaces, keeping offsets, so keyword scans see code only. */
function blankStringsAndComments(text: string): string {
  const out = text.split("");
  const blank = (from: number, to: number) => {
    for (let k = from; k < to && k < out.length; k++) if (out[k] !== "\n") out[k] = " ";
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === "#" || text.startsWith("//", i)) {
      const end = text.indexOf("\n", i);
      blank(i, end < 0 ? text.length : end);
      i = end < 0 ? text.length : end;
    } else if (text.startsWith("/*", i)) {
      const end = text.indexOf("*/", i + 2);
      blank(i, end < 0 ? text.length : end + 2);
      i = end < 0 ? text.length : end + 2;
    } else if (text.startsWith("|||", i)) {
      const end = text.indexOf("|||", i + 3);
      blank(i, end < 0 ? text.length : end + 3);
      i = end < 0 ? text.length : end + 3;
    } else if (ch === '"' || ch === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== ch) j += text[j] === "\\" ? 2 : 1;
      blank(i, j + 1);
      i = j + 1;
    } else i++;
  }
  return out.join("");
}

/** The api_key name becomes a header (or cookie) name, so it must be an RFC 9110 token. */
function checkAuth(h: HookCtx): void {
  const auth = h.hook.auth;
  if (!auth) {
    h.r.warn(h.at, "key", `hook '${h.name}' has no auth: the receiver accepts calls from anyone who can reach it`, "add auth: { type: api_key, in: header, name: X-Kratos-Hooks-Key, secret_env: KRATOS_HOOKS_SECRET } (docs/kratos.md#auth)");
    return;
  }
  if (auth.type !== "api_key") return;
  // In a cookie Go drops such bytes instead (the receiver does the same: src/server/auth.ts).
  const prefixProblem = auth.in === "header" && auth.value_prefix !== undefined ? headerValueProblem(auth.value_prefix) : undefined;
  if (prefixProblem) h.r.error([...h.at, "auth", "value_prefix"], "value", `value_prefix cannot be sent: ${prefixProblem.why}`, prefixProblem.hint);
  if (!isHeaderToken(auth.name)) {
    h.r.error([...h.at, "auth", "name"], "value", `'${auth.name}' is not a valid ${auth.in} name`, "use letters, digits and !#$%&'*+-.^_`|~ only, no spaces or ':' (RFC 9110 token; docs/kratos.md#auth)");
    return;
  }
  // Kratos applies auth after Content-Type and before it encodes the body, which reads Content-Type (CONTRACT §2.3, §3.7).
  const problem = auth.in !== "header" ? undefined : auth.name.toLowerCase() === "content-type" ? { why: "Kratos then reads the secret as the body's content type and fails every call", hint: "name the header e.g. X-Kratos-Hooks-Key (docs/kratos.md#auth)" } : outgoingHeaderProblem(auth.name);
  if (problem) {
    h.r.error([...h.at, "auth", "name"], "value", `'${auth.name}' cannot carry the api key: ${problem.why}`, problem.hint);
    return;
  }
  const clash = auth.in === "header" ? Object.keys(h.hook.headers ?? {}).find((k) => k.toLowerCase() === auth.name.toLowerCase()) : undefined;
  if (clash !== undefined) {
    h.r.warn([...h.at, "headers", clash], "key", `header ${clash} is replaced by the api_key auth header of the same name`, "Kratos sets the auth header after the configured headers; remove one of them (docs/kratos.md#auth)");
  }
}

function checkPredicate(h: HookCtx, p: PredicateDecl, at: ConfigPath, inSkipIf: boolean): void {
  if ("all" in p) return p.all.forEach((q, i) => checkPredicate(h, q, [...at, "all", i], inSkipIf));
  if ("any" in p) return p.any.forEach((q, i) => checkPredicate(h, q, [...at, "any", i], inSkipIf));
  if ("not" in p) return checkPredicate(h, p.not, [...at, "not"], inSkipIf);
  const ops = Object.keys(p).filter((k) => (PREDICATE_OPERATORS as readonly string[]).includes(k));
  const list = PREDICATE_OPERATORS.join(", ");
  if (ops.length === 0) {
    h.r.error(at, "key", "a condition needs exactly one operator", `add one of: ${list}`);
  } else if (ops.length > 1) {
    h.r.error([...at, ops[1]!], "key", `'${ops[0]}' and '${ops[1]}' in one condition: use exactly one operator`, `combine several with all: [...] or any: [...]; operators: ${list}`);
  }
  checkFieldRef(h, p.field, [...at, "field"], "the condition");
  checkFieldEverPresent(h, p.field, [...at, "field"]);
  checkTextOperators(h, p.field, ops, at, p);
  for (const op of ops) {
    if (inSkipIf && (NOT_IN_JSONNET as readonly string[]).includes(op)) {
      h.r.error([...at, op], "key", `skip_if cannot use '${op}'`, `skip_if runs inside Kratos as Jsonnet, which has no ${op === "matches" ? "regular expressions" : "file access"}; use it in rules (checked by the receiver) or use ${op === "matches" ? "starts_with / ends_with / in" : "in / domain_in"} (docs/kratos.md#jsonnet-bodies)`);
      continue;
    }
    if (op === "in_file" || op === "domain_in_file") checkListedFile(h, op === "in_file" ? p.in_file! : p.domain_in_file!, [...at, op]);
    if (op === "matches") {
      const re = compileLinearRegex(p.matches!);
      if (!re.ok) h.r.error([...at, op], "value", `'${p.matches}' cannot be used as a rule pattern: ${re.reason}`, "rules match with RE2, in time linear in the input: no backreferences or lookaround (docs/receiver.md#rules)");
    }
  }
}

/** Operators that compare text: on a value of another JSON type they are never true (src/server/rules.ts). */
const TEXT_OPERATORS = ["starts_with", "ends_with", "matches", "domain_in", "domain_in_file", "in_file"];
/** in_file also reads a number or boolean as its text; only a list or an object never matches. */
const SCALAR_TEXT_OPERATORS = ["in_file"];

/**
 * A text operator on a field whose type is not a string never matches: a deny rule that never
 * fires, a skip_if that never skips. The usual trap is a request header, which Kratos passes as a
 * list of strings (CONTRACT §3.2).
 */
function checkTextOperators(h: HookCtx, name: string, ops: string[], at: ConfigPath, p: PredicateDecl): void {
  const spec = h.hook.body?.[name];
  if (spec === undefined) return;
  const field = resolveField(name, spec);
  if (field.type === "any") return;
  // equals / in compare exactly, except text with text (src/server/rules.ts): another JSON type never matches.
  const kind = (x: unknown) => (x === null ? "null" : Array.isArray(x) ? "array" : typeof x === "number" ? "number" : typeof x);
  const fieldKind = field.type === "integer" ? "number" : field.type;
  for (const op of ops.filter((o) => o === "equals" || o === "in")) {
    const values: unknown[] = op === "equals" ? [(p as { equals?: unknown }).equals] : ((p as { in?: unknown[] }).in ?? []);
    if (values.length === 0 || values.some((x) => kind(x) === fieldKind || kind(x) === "null")) continue;
    const shown = values.map((x) => JSON.stringify(x)).join(", ");
    h.r.error([...at, op], "value", `'${name}' is ${field.type === "array" || field.type === "object" || field.type === "integer" ? `an ${field.type}` : `a ${field.type}`}${field.from ? ` (${field.from.join(".")})` : ""}, and ${op} ${shown} is ${values.length === 1 ? `a ${kind(values[0])}` : "of other types"}: the condition is never true`, `write the value as the field's type${field.type === "boolean" ? " (true or false, unquoted)" : field.type === "string" ? ' (quoted, e.g. "18")' : ""}, or declare the field's type (docs/receiver.md#rules)`);
  }
  if (field.type === "string") return;
  const scalar = field.type === "number" || field.type === "integer" || field.type === "boolean";
  for (const op of ops.filter((o) => TEXT_OPERATORS.includes(o) && !(scalar && SCALAR_TEXT_OPERATORS.includes(o)))) {
    const header = field.from?.[0] === "request_headers" ? "; Kratos passes each request header as a list of strings (one per occurrence), so a text operator never sees the text" : "";
    h.r.error([...at, op], "key", `'${op}' compares text, but '${name}' is ${field.type === "array" || field.type === "object" ? `an ${field.type}` : `a ${field.type}`}${field.from ? ` (${field.from.join(".")})` : ""}: the condition is never true`, `use equals: or in: for non-text values${header} (docs/receiver.md#rules)`);
  }
}

/**
 * A condition on a field Kratos never sends at this point and version is decided before any
 * sign-up: a deny rule on its absence refuses every flow, one on its value never fires.
 */
function checkFieldEverPresent(h: HookCtx, field: string, at: ConfigPath): void {
  const raw = h.hook.body?.[field];
  const from = typeof raw === "string" ? raw : raw?.from;
  if (!from || !h.v || h.hook.jsonnet !== undefined) return;
  const path = from.split(".");
  if (path[0] === "flow" && path[1] === "transient_payload" && !transientPayloadPossible(h.point, h.v)) {
    h.r.error(at, "value", `the condition reads '${field}' (${from}), which Kratos ${h.v.text} never sends at ${h.point}: the condition has the same outcome for every flow`, "read it where Kratos sends flow.transient_payload (after hooks; outside registration only from v1.2.0), or drop the condition (docs/kratos.md#ctx-per-hook-point)");
  }
}

function checkListedFile(h: HookCtx, rel: string, at: ConfigPath): boolean {
  const file = resolvePath(h.c.dir, rel);
  if (existsSync(file) && statSync(file).isFile()) return true;
  h.r.error(at, "value", `file ${rel} does not exist`, `looked at ${file}: paths in hooks.yaml are relative to its directory`);
  return false;
}

function checkRules(h: HookCtx, mode: string): void {
  const rules = h.hook.rules;
  if (!rules) return;
  if (mode === "notify") {
    h.r.error([...h.at, "rules"], "key", "rules need mode interrupt (or enrich): a notify hook cannot block the flow", "set mode: interrupt (docs/kratos.md#messages)");
  }
  rules.forEach((rule, i) => {
    const at: ConfigPath = [...h.at, "rules", i];
    checkPredicate(h, rule.when, [...at, "when"], false);
    if (!("deny" in rule)) return;
    const { id, field } = rule.deny;
    if (id !== undefined && (id < MESSAGE_ID_RANGE.min || id > MESSAGE_ID_RANGE.max)) {
      h.r.error([...at, "deny", "id"], "value", `message id ${id} is outside ${MESSAGE_ID_RANGE.min}-${MESSAGE_ID_RANGE.max}`, "Kratos's own messages use 1xxxxxx and 4xxxxxx ids; keep yours in the private range (docs/kratos.md#messages)");
    } else if (id !== undefined && id >= MESSAGE_ID_RANGE.receiverMin) {
      h.r.error([...at, "deny", "id"], "value", `message id ${id} is one of the receiver's own (${MESSAGE_ID_RANGE.receiverMin}-${MESSAGE_ID_RANGE.max})`, `pick an id in ${MESSAGE_ID_RANGE.min}-${MESSAGE_ID_RANGE.receiverMin - 1}; the receiver uses the top ids for its own form messages`);
    }
    if (field !== undefined) checkFieldRef(h, field, [...at, "deny", "field"], "deny.field");
  });
}

function checkEnrich(h: HookCtx, mode: string): void {
  const steps = h.hook.enrich;
  if (!steps) return;
  if (mode !== "enrich") {
    h.r.error([...h.at, "enrich"], "key", `enrich steps need mode enrich, this hook is ${mode}`, "set mode: enrich (docs/kratos.md#identity-updates)");
  }
  let setsPublic = false;
  steps.forEach((step, i) => {
    const at: ConfigPath = [...h.at, "enrich", i];
    if (step.when) checkPredicate(h, step.when, [...at, "when"], false);
    if (!step.metadata_public && !step.metadata_admin && !step.lookup) {
      h.r.error(at, "key", "this enrich step sets nothing", "add metadata_public, metadata_admin or lookup");
    }
    if (step.metadata_public || step.lookup?.into === "metadata_public") setsPublic = true;
    const setsAdmin = step.metadata_admin !== undefined || step.lookup?.into === "metadata_admin";
    if (setsAdmin && h.v && !supports(h.v, "parse_metadata_admin")) {
      const key: ConfigPath = step.metadata_admin !== undefined ? [...at, "metadata_admin"] : [...at, "lookup", "into"];
      h.r.error(key, step.metadata_admin !== undefined ? "key" : "value", `Kratos ${h.v.text} ignores metadata_admin in webhook answers`, `fixed in Kratos ${FEATURE_MIN_VERSION.parse_metadata_admin} (docs/kratos.md#identity-updates)`);
    }
    for (const which of ["metadata_public", "metadata_admin"] as const) {
      if (step[which]) checkTemplates(h, step[which], [...at, which], enrichPatchRefProblem);
    }
    if (step.lookup) {
      const l = step.lookup;
      checkFieldRef(h, l.field, [...at, "lookup", "field"], "lookup.field");
      if ((l.table === undefined) === (l.file === undefined)) {
        h.r.error([...at, "lookup"], "key", "a lookup needs exactly one of 'table' or 'file'", "table: { key: { ... } } inline, or file: <json file relative to hooks.yaml>");
      } else if (l.file !== undefined && checkListedFile(h, l.file, [...at, "lookup", "file"])) {
        checkLookupFile(h, l.file, [...at, "lookup", "file"]);
      }
    }
  });
  // Kratos replaces metadata_public wholesale with what a parse answer carries, so setting one key
  // at settings.after erases the others unless the receiver knows the current object. CONTRACT §5.1.
  if (setsPublic && h.point === "settings.after") {
    const hasCurrent = Object.values(h.hook.body ?? {}).some((f) => (typeof f === "string" ? f : f.from) === "identity.metadata_public");
    if (!hasCurrent && !(h.hook.replaces ?? []).includes("metadata_public")) {
      h.r.error([...h.at, "enrich"], "key", "enriching metadata_public at settings.after needs the current metadata_public in the body", "Kratos replaces metadata_public wholesale; add a body field such as metadata_public: identity.metadata_public so the receiver can merge, or state replaces: [metadata_public] if this hook owns it (docs/kratos.md#identity-updates)");
    }
  }
}

function checkLookupFile(h: HookCtx, rel: string, at: ConfigPath): void {
  const file = resolvePath(h.c.dir, rel);
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    h.r.error(at, "value", `${rel} is not valid JSON`, `a lookup file is a JSON object of key → object: ${(err as Error).message}`);
    return;
  }
  const ok = typeof data === "object" && data !== null && !Array.isArray(data) && Object.values(data).every((x) => typeof x === "object" && x !== null && !Array.isArray(x));
  if (!ok) h.r.error(at, "value", `${rel} must be a JSON object of key → object`, 'e.g. { "example.com": { "plan": "staff" } }');
}

function checkActions(h: HookCtx): void {
  const names = new Map<string, number>();
  (h.hook.actions ?? []).forEach((action, i) => {
    const at: ConfigPath = [...h.at, "actions", i];
    if (action.name !== undefined) {
      if (names.has(action.name)) h.r.error([...at, "name"], "value", `action name '${action.name}' is already used by actions[${names.get(action.name)}]`, "action ids (<hook>.<name>) must be unique");
      names.set(action.name, i);
    }
    const kind = "http" in action ? "http" : "email" in action ? "email" : "exec";
    checkTemplates(h, (action as Record<string, unknown>)[kind], [...at, kind]);
  });
}

/**
 * Every `{{ ... }}` must parse, and `{{ body.x }}` must name a body field. Syntax: src/template.ts.
 * `refProblem` is a rule of the place (enrich patches: no env refs), shared with serve.
 */
function checkTemplates(h: HookCtx, value: unknown, at: ConfigPath, refProblem?: (ref: TemplateRef) => { message: string; hint: string } | undefined): void {
  if (typeof value === "string") {
    for (const ref of templateRefs(value)) {
      const placed = refProblem?.(ref);
      if (placed) {
        h.r.error(at, "value", placed.message, placed.hint);
      } else if (ref.kind === "invalid") {
        h.r.error(at, "value", `invalid template ${ref.text}: ${ref.reason}`, "templates are {{ body.<field> }}, {{ env.<NAME> }}, {{ hook }} or {{ job.id }}");
      } else if (ref.kind === "body" && !h.fields.includes(ref.path[0]!)) {
        const near = closest(ref.path[0]!, h.fields);
        h.r.error(at, "value", `template ${ref.text} names '${ref.path[0]}', which is not a body field of this hook`, h.fields.length ? `${near ? `did you mean '${near}'? ` : ""}body fields: ${h.fields.join(", ")}` : "declare the field under body: first");
      }
    }
  } else if (Array.isArray(value)) {
    value.forEach((x, i) => checkTemplates(h, x, [...at, i], refProblem));
  } else if (value && typeof value === "object") {
    for (const [k, x] of Object.entries(value)) checkTemplates(h, x, [...at, k], refProblem);
  }
}
