// hooks.yaml (already valid: model + semantics) → ResolvedConfig: every default filled in,
// durations in ms, paths absolute, ids assigned. Nothing here can fail on user input; the checks
// live in semantics.ts so that all errors come out of one pass with their locations.
import { isAbsolute, resolve as resolvePath } from "node:path";
import { ctxFieldType, ctxPathAlwaysOptional } from "../kratos/ctx.ts";
import { parseVersion, type Version } from "../kratos/versions.ts";
import { addedFields, dedupePlan, describeDedupe } from "./dedupe-plan.ts";
import type { Point } from "../kratos/hook-points.ts";
import type { ActionDecl, SmtpDecl, EnrichStepDecl, FieldSpecDecl, HookDecl, HooksFile, PredicateDecl, RetryPolicyDecl, RuleDecl } from "./model.ts";
import { destinationKey, destinationOf } from "./destination.ts";
import type { SourceMap } from "./source-map.ts";
import type { JsonType, ResolvedAction, ResolvedConfig, ResolvedField, ResolvedHook, ResolvedRetry } from "./types.ts";
import { byteSize, durationMs } from "./units.ts";

export const DEFAULTS = {
  mode: "notify",
  method: "POST",
  kratosBodyDir: "/etc/config/kratos/hooks",
  retry: { attempts: 10, base: "1s", cap: "10m" },
  concurrency: 16,
  httpTimeout: "10s",
  // Under the default lease's delivery budget (30s less 1s, src/outbox/lease.ts).
  execTimeout: "25s",
  listen: "127.0.0.1:4459",
  /** Relative sqlite paths resolve against the current working directory (like every CLI path), not hooks.yaml's directory. */
  store: "sqlite:./var/kratos-hooks.db",
  synchronous: "full",
  groupCommitWait: "2ms",
  bodyLimit: "256kb",
  dedupeWindow: "24h",
  lease: "30s",
  poll: "200ms",
  shutdownTimeout: "10s",
  /** Finished jobs hold the accepted webhook (traits, email addresses): kept long enough to look into, not forever. */
  retention: { done: "7d", dead: "30d" },
} as const;

/** Environment variables that win over hooks.yaml (deployment-specific settings). */
export const ENV_OVERRIDES = { store: "KRATOS_HOOKS_STORE", listen: "KRATOS_HOOKS_LISTEN" } as const;

export type Env = Record<string, string | undefined>;

/** `host:port`, `[v6]:port` or `:port` (all interfaces). */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]*)):([0-9]{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

/**
 * `sqlite:<path>` (relative to `cwd`; `sqlite://<path>` is read the same way, as the store does),
 * `sqlite::memory:`, or a postgres:// URL; undefined if none of these.
 */
export function resolveStore(text: string, cwd: string): string | undefined {
  if (/^postgres(ql)?:\/\/\S+$/.test(text)) return text;
  if (text === "sqlite::memory:") return text;
  const m = /^sqlite:(?:\/\/)?(.+)$/.exec(text);
  if (!m) return undefined;
  return `sqlite:${resolvePath(cwd, m[1]!)}`;
}

/**
 * The URL generate gives Kratos (receiver.url, trailing slashes dropped, + the hook's path) and
 * the path serve answers it on: that URL's pathname, so `http://host:4459/kh` serves
 * `/kh/hooks/<name>`. The built-in /health/* and /metrics stay at the root.
 */
export function hookUrl(receiverUrl: string, path: string): { url: string; routePath: string } {
  const url = receiverUrl.replace(/\/+$/, "") + path;
  return { url, routePath: new URL(url).pathname };
}

/** The receiver's built-in endpoints, at the root whatever receiver.url's path is (src/server/app.ts). */
export const RESERVED_PATHS = ["/health/live", "/health/ready", "/metrics"] as const;

/**
 * Whether a hook served at `routePath` would take a built-in endpoint's place. Trailing slashes
 * are ignored: Elysia (strictPath off) also answers /metrics on a route added as /metrics/.
 */
/** A retention setting in ms; null keeps jobs forever. */
function retentionMs(v: number | string): number | null {
  return v === "forever" ? null : durationMs(v);
}

export function isReservedPath(routePath: string): boolean {
  return (RESERVED_PATHS as readonly string[]).includes(sameRoute(routePath));
}

/** The router answers a path with and without a trailing `/` alike: one key for both. */
export function sameRoute(routePath: string): string {
  return routePath.replace(/\/+$/, "") || "/";
}

export function resolveConfig(raw: HooksFile, file: string, map: SourceMap, env: Env, cwd: string): ResolvedConfig {
  const absFile = resolvePath(cwd, file);
  const dir = resolvePath(absFile, "..");
  const receiverUrl = raw.receiver.url.replace(/\/+$/, "");
  const serve = raw.serve ?? {};
  const dedupeWindowMs = durationMs(serve.dedupe_window ?? DEFAULTS.dedupeWindow);
  const body = raw.kratos.body;
  const builtin = raw.kratos.builtin_hooks ?? {};
  return {
    file: absFile,
    dir,
    kratos: {
      version: parseVersion(raw.kratos.version)!,
      body: body && "inline" in body ? { kind: "inline" } : { kind: "file", dir: body?.file_dir ?? DEFAULTS.kratosBodyDir },
      ...(raw.kratos.emit_analytics_event !== undefined ? { emitAnalyticsEvent: raw.kratos.emit_analytics_event } : {}),
      ...(raw.kratos.header_allowlist !== undefined ? { headerAllowlist: raw.kratos.header_allowlist } : {}),
      builtinHooks: Object.fromEntries(
        Object.entries(builtin).map(([list, items]) => [list, items.map((item) => (typeof item === "string" ? { hook: item } : item))]),
      ),
    },
    receiverUrl,
    serve: {
      listen: parseListen(env[ENV_OVERRIDES.listen] || serve.listen || DEFAULTS.listen)!,
      store: resolveStore(env[ENV_OVERRIDES.store] || serve.store || DEFAULTS.store, cwd)!,
      synchronous: serve.synchronous ?? DEFAULTS.synchronous,
      groupCommitWaitMs: durationMs(serve.group_commit_wait ?? DEFAULTS.groupCommitWait),
      bodyLimitBytes: byteSize(serve.body_limit ?? DEFAULTS.bodyLimit),
      dedupeWindowMs,
      ...(serve.smtp ? { smtp: serve.smtp } : {}),
      leaseMs: durationMs(serve.lease ?? DEFAULTS.lease),
      pollMs: durationMs(serve.poll ?? DEFAULTS.poll),
      shutdownTimeoutMs: durationMs(serve.shutdown_timeout ?? DEFAULTS.shutdownTimeout),
      retention: {
        doneMs: retentionMs(serve.retention?.done ?? DEFAULTS.retention.done),
        deadMs: retentionMs(serve.retention?.dead ?? DEFAULTS.retention.dead),
      },
      ...(serve.admin && serve.admin.listen !== "off" ? { admin: { listen: serve.admin.listen, tokenEnv: serve.admin.token_env } } : {}),
      ...(serve.metrics ? { metricsTokenEnv: { name: serve.metrics.token_env, loc: map.at(["serve", "metrics", "token_env"]) } } : {}),
      // Keys as destinationOf writes them (a key that is not one is reported by checkSemantics).
      rateLimits: Object.fromEntries(Object.entries(serve.rate_limits ?? {}).map(([k, v]) => { const d = destinationKey(k); return ["key" in d ? d.key : k, v]; })),
    },
    hooks: Object.entries(raw.hooks).map(([name, hook]) => resolveHook(name, hook, { receiverUrl, dir, dedupeWindowMs, map, smtp: serve.smtp, version: parseVersion(raw.kratos.version)!, emit: raw.kratos.emit_analytics_event })),
  };
}

function resolveHook(name: string, hook: HookDecl, c: { receiverUrl: string; dir: string; dedupeWindowMs: number; map: SourceMap; smtp: SmtpDecl | undefined; version: Version; emit: boolean | undefined }): ResolvedHook {
  const path = hook.path ?? `/hooks/${name}`;
  const file = (p: string) => resolvePath(c.dir, p);
  const plan = dedupePlan(hook, c.version, c.emit);
  return {
    name,
    point: hook.on as Point,
    methods: hook.methods ?? [],
    mode: hook.mode ?? DEFAULTS.mode,
    wait: hook.wait ?? false,
    path,
    ...hookUrl(c.receiverUrl, path),
    method: hook.method ?? DEFAULTS.method,
    headers: hook.headers ?? {},
    fields: [...Object.entries(hook.body ?? {}).map(([field, spec]) => resolveField(field, spec)), ...addedFields(plan)],
    ...(hook.jsonnet !== undefined ? { jsonnetFile: file(hook.jsonnet) } : {}),
    ...(hook.auth ? { auth: hook.auth } : {}),
    ...(hook.skip_if ? { skipIf: withAbsoluteFiles(hook.skip_if, file) } : {}),
    dedupe: { ...(hook.dedupe?.key ? { key: hook.dedupe.key } : {}), windowMs: hook.dedupe?.window !== undefined ? durationMs(hook.dedupe.window) : c.dedupeWindowMs, source: plan.kind, description: describeDedupe(plan) },
    rules: (hook.rules ?? []).map((r): RuleDecl => ({ ...r, when: withAbsoluteFiles(r.when, file) })),
    enrich: (hook.enrich ?? []).map((step) => resolveEnrichStep(step, file)),
    actions: (hook.actions ?? []).map((a, i) => withDestination(resolveAction(name, a, i, c.dir), c.smtp)),
    loc: c.map.at(["hooks", name], "key"),
  };
}

/** Body shorthand `email: identity.traits.email` and the full spec both become a ResolvedField. */
export function resolveField(name: string, spec: string | FieldSpecDecl): ResolvedField {
  const s: FieldSpecDecl = typeof spec === "string" ? { from: spec } : spec;
  const from = s.from?.split(".");
  const fromCtx = from ? ctxFieldType(from) : undefined;
  // model.ts builds these unions with .map, so their static type is plain string; the schema has checked them.
  const type = (s.type as JsonType | undefined) ?? fromCtx?.type ?? constantType(s.value);
  // The ctx's own format (identity.id is a uuid) applies unless the field declares its own type.
  const format = (s.format as ResolvedField["format"]) ?? (s.type === undefined ? fromCtx?.format : undefined);
  return {
    name,
    ...(from ? { from } : { value: s.value }),
    type,
    ...(format ? { format } : {}),
    optional: s.optional === true || (from !== undefined && ctxPathAlwaysOptional(from)),
    ...(s.max_length !== undefined ? { maxLength: s.max_length } : {}),
  };
}

function constantType(value: unknown): JsonType {
  if (typeof value === "string") return "string";
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  if (Array.isArray(value)) return "array";
  if (value && typeof value === "object") return "object";
  return "any";
}

/** in_file / domain_in_file name files relative to hooks.yaml; downstream gets absolute paths. */
function withAbsoluteFiles(p: PredicateDecl, file: (p: string) => string): PredicateDecl {
  if ("all" in p) return { all: p.all.map((q) => withAbsoluteFiles(q, file)) };
  if ("any" in p) return { any: p.any.map((q) => withAbsoluteFiles(q, file)) };
  if ("not" in p) return { not: withAbsoluteFiles(p.not, file) };
  return {
    ...p,
    ...(p.in_file !== undefined ? { in_file: file(p.in_file) } : {}),
    ...(p.domain_in_file !== undefined ? { domain_in_file: file(p.domain_in_file) } : {}),
  };
}

function resolveEnrichStep(step: EnrichStepDecl, file: (p: string) => string): EnrichStepDecl {
  return {
    ...step,
    ...(step.when ? { when: withAbsoluteFiles(step.when, file) } : {}),
    ...(step.lookup ? { lookup: { ...step.lookup, key: step.lookup.key ?? "value", ...(step.lookup.file !== undefined ? { file: file(step.lookup.file) } : {}) } } : {}),
  };
}

function resolveRetry(r: RetryPolicyDecl | undefined): ResolvedRetry {
  return {
    attempts: r?.attempts ?? DEFAULTS.retry.attempts,
    baseMs: durationMs(r?.base ?? DEFAULTS.retry.base),
    capMs: durationMs(r?.cap ?? DEFAULTS.retry.cap),
  };
}

function withDestination(a: ResolvedAction, serveSmtp: SmtpDecl | undefined): ResolvedAction {
  const destination = destinationOf(a, serveSmtp);
  return destination === undefined ? a : { ...a, destination };
}

function resolveAction(hook: string, a: ActionDecl, index: number, dir: string): ResolvedAction {
  const base = {
    id: `${hook}.${a.name ?? index}`,
    hook,
    retry: resolveRetry(a.retry),
    concurrency: a.concurrency ?? DEFAULTS.concurrency,
    ...(a.rate_limit !== undefined ? { rateLimit: a.rate_limit } : {}),
  };
  if ("http" in a) {
    const h = a.http;
    return {
      ...base,
      kind: "http",
      method: h.method ?? DEFAULTS.method,
      url: h.url,
      headers: h.headers ?? {},
      ...(h.body !== undefined ? { body: h.body } : {}),
      timeoutMs: durationMs(h.timeout ?? DEFAULTS.httpTimeout),
      retry4xx: h.retry_4xx ?? false,
    };
  }
  if ("email" in a) {
    const e = a.email;
    return {
      ...base,
      kind: "email",
      to: e.to,
      ...(e.from !== undefined ? { from: e.from } : {}),
      subject: e.subject,
      ...(e.text !== undefined ? { text: e.text } : {}),
      ...(e.html !== undefined ? { html: e.html } : {}),
      ...(e.smtp ? { smtp: e.smtp } : {}),
    };
  }
  const x = a.exec;
  return {
    ...base,
    kind: "exec",
    command: x.command,
    timeoutMs: durationMs(x.timeout ?? DEFAULTS.execTimeout),
    // A relative cwd is relative to hooks.yaml, like every other path inside it.
    ...(x.cwd !== undefined ? { cwd: isAbsolute(x.cwd) ? x.cwd : resolvePath(dir, x.cwd) } : {}),
    env: x.env ?? {},
  };
}
