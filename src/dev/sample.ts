// `serve --dev`: where the config's actions deliver on this machine (so the sink can listen there),
// and one Kratos-shaped sample webhook per notify hook, so a first run shows deliveries at once.
// The sample is what Kratos would send: the body built from the hook's declaration over a realistic
// ctx for its hook point and version, the hook's auth, a fresh Ory-Webhook-Trigger-Id.
import { randomUUID } from "node:crypto";
import type { ResolvedAction, ResolvedConfig, ResolvedHook } from "../config/types.ts";
import { exampleCtx } from "../kratos/ctx.ts";
import { supports } from "../kratos/versions.ts";
import type { Addr } from "./sink.ts";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

/** Where the sink catches an action's deliveries: a loopback http or smtp destination; else undefined. */
function caughtAt(action: ResolvedAction): { kind: "http" | "smtp"; addr: Addr } | undefined {
  if (!action.destination) return undefined;
  let u: URL;
  try {
    u = new URL(action.destination);
  } catch {
    return undefined;
  }
  if (!LOOPBACK.has(u.hostname)) return undefined;
  const host = u.hostname === "localhost" ? "127.0.0.1" : u.hostname.replace(/^\[|\]$/g, "");
  if (u.protocol === "smtp:") return { kind: "smtp", addr: { host, port: Number(u.port || 25) } };
  if (u.protocol === "http:") return { kind: "http", addr: { host, port: Number(u.port || 80) } };
  return undefined;
}

/** Loopback addresses the config's http and email actions deliver to: the sink listens there. */
export function sinkAddresses(config: ResolvedConfig): { http: Addr[]; smtp: Addr[] } {
  const found = { http: new Map<string, Addr>(), smtp: new Map<string, Addr>() };
  for (const a of config.hooks.flatMap((h) => h.actions)) {
    const at = caughtAt(a);
    if (at) found[at.kind].set(`${at.addr.host}:${at.addr.port}`, at.addr);
  }
  return { http: [...found.http.values()], smtp: [...found.smtp.values()] };
}

/** Why a hook gets no sample: an action whose effect the sink would not catch (a real destination, a command). */
function notCaught(hook: ResolvedHook): string | undefined {
  for (const a of hook.actions) {
    if (a.kind === "exec") return `action ${a.id} runs a command`;
    if (!caughtAt(a)) return `action ${a.id} delivers to ${a.destination ?? "a destination"} outside the sink`;
  }
  return undefined;
}

/** The body Kratos would send for `hook` with `ctx`, field by field as the generated Jsonnet builds it; undefined if a required field is missing. */
export function sampleBody(hook: ResolvedHook, ctx: Record<string, unknown>): Record<string, unknown> | undefined {
  const body: Record<string, unknown> = {};
  for (const f of hook.fields) {
    if (!f.from) {
      body[f.name] = f.value;
      continue;
    }
    let v: unknown = ctx;
    for (const seg of f.from) v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[seg] : undefined;
    if (v === undefined) {
      if (f.optional) continue;
      return undefined;
    }
    body[f.name] = v;
  }
  return body;
}

/** Request headers carrying the hook's credentials, as Kratos sends them. */
function authHeaders(hook: ResolvedHook, env: Record<string, string | undefined>): Record<string, string> {
  const auth = hook.auth;
  if (!auth) return {};
  if (auth.type === "basic_auth") return { authorization: `Basic ${Buffer.from(`${auth.user}:${env[auth.password_env] ?? ""}`).toString("base64")}` };
  const value = (auth.value_prefix ?? "") + (env[auth.secret_env] ?? "");
  return auth.in === "cookie" ? { cookie: `${auth.name}=${value}` } : { [auth.name]: value };
}

export type SampleResult = { hook: string; path: string; status?: number; skipped?: string };

/**
 * Sends one sample webhook to each notify hook with actions, at `base` (serve's own address); only
 * to hooks whose every action the sink catches, so a dev run never emails, calls or runs anything real.
 */
export async function sendSamples(config: ResolvedConfig, base: string, env: Record<string, string | undefined>): Promise<SampleResult[]> {
  const results: SampleResult[] = [];
  for (const hook of config.hooks) {
    if (hook.mode !== "notify" || hook.actions.length === 0) continue;
    const outside = notCaught(hook);
    if (outside) {
      results.push({ hook: hook.name, path: hook.routePath, skipped: `${outside}` });
      continue;
    }
    const ctx = exampleCtx(hook.point, false, config.kratos.version, { traits: { email: "ada@example.org", name: "Ada" } });
    // Fresh ids each run, so a declared dedupe key (identity_id, ...) never hides the sample.
    const identity = ctx.identity as Record<string, unknown> | undefined;
    if (identity) identity.id = randomUUID();
    const session = ctx.session as Record<string, unknown> | undefined;
    if (session) {
      session.id = randomUUID();
      if (session.identity && identity) (session.identity as Record<string, unknown>).id = identity.id;
    }
    (ctx.flow as Record<string, unknown>).id = randomUUID();
    const body = sampleBody(hook, ctx);
    if (!body) {
      results.push({ hook: hook.name, path: hook.routePath, skipped: "a required body field has no value in the sample ctx" });
      continue;
    }
    const headers: Record<string, string> = { "content-type": "application/json", ...hook.headers, ...authHeaders(hook, env) };
    if (supports(config.kratos.version, "request_id_header")) headers["ory-webhook-request-id"] = randomUUID();
    if (supports(config.kratos.version, "trigger_id_header")) headers["ory-webhook-trigger-id"] = randomUUID();
    const res = await fetch(`${base}${hook.routePath}`, { method: hook.method, headers, body: JSON.stringify(body, null, 3) + "\n" });
    await res.arrayBuffer();
    results.push({ hook: hook.name, path: hook.routePath, status: res.status });
  }
  return results;
}
