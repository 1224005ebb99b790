// One hook's endpoint: the request pipeline from Kratos's call to the committed answer.
//
//   method (TRACE → 405) → auth (401) → content type (415) → body limit (413) → JSON (400)
//   → body schema (400) → skip_if (204) → dedupe key → a retry this process answered lately gets
//   that answer (recent-answers.ts) → rules / enrich → accept (store: dedupe record + jobs in one
//   commit; 503 when the store fails) → answer (the first answer on a repeat).
//
// Every method but TRACE carries the body (CONTRACT §0.19, §8.16); Kratos always uses the configured
// method, so any other method is accepted rather than refused.
import { acceptedWebhook } from "../actions/index.ts";
import { HttpError } from "../errors.ts";
import type { ResolvedConfig, ResolvedField, ResolvedHook } from "../config/types.ts";
import type { Acceptance, AcceptResult, NewJob, StoredResponse } from "../outbox/store.ts";
import { DENY_STATUS, identityUpdateBody, instancePtrFor, INVALID_VALUE_MESSAGE_ID, mayAnswerIdentity, messagesBody, type IdentityUpdate } from "../kratos/responses.ts";
import { compileAuth, type AuthCheck } from "./auth.ts";
import { isoTime } from "./iso-time.ts";
import { readBodyLimited, tooLarge } from "./body-limit.ts";
import { compileBodyValidator, type BodyValidator, type InvalidBodyError } from "./body-schema.ts";
import { dedupeKey, REQUEST_ID_HEADER, TRIGGER_ID_HEADER } from "./dedupe-key.ts";
import { parseJsonBody } from "./json-body.ts";
import { parseTraceparent, traceIdOf, TRACEPARENT_HEADER } from "../trace-context.ts";
import type { RecentRequests, RequestOutcome } from "../admin/recent-requests.ts";
import { RecentAnswers } from "./recent-answers.ts";
import type { Logger } from "./log.ts";
import { capLogValue, type LogBudget } from "./log-budget.ts";
import type { Metrics } from "./metrics.ts";
import { compileEnrich, compilePredicate, compileRules, deepEqual, type Body, type CompiledRules, type FileCache, type MetadataPatch, type Predicate } from "./rules.ts";

/** Commits an acceptance (the GroupCommitter in `serve`). Rejects when the store is unavailable. */
export type Accept = (acceptance: Acceptance) => Promise<AcceptResult>;
export type Clock = { now(): number };
export type Env = Record<string, string | undefined>;

export type RouteDeps = {
  config: Pick<ResolvedConfig, "dir" | "serve">;
  accept: Accept;
  clock: Clock;
  metrics: Metrics;
  log: Logger;
  /** Lines about requests refused before authentication go through this budget (log-budget.ts). */
  refusedLog: LogBudget;
  env: Env;
  files: FileCache;
  newJobId: () => string;
  /** True while `serve` shuts down: new deliveries get 503 so Kratos retries them elsewhere or later. */
  draining: () => boolean;
  /** Called after a commit that enqueued jobs (serve wakes the outbox worker). */
  onEnqueued?: () => void;
  /** The admin page's recent requests (src/admin/recent-requests.ts), when it is on. */
  recent?: RecentRequests;
  /** Told of each commit's outcome (readiness.ts): a new acceptance committed, or the commit's error. */
  commits?: { succeeded(): void; failed(err: unknown): void };
};

const JSON_TYPE = "application/json";
const NO_CONTENT: StoredResponse = { status: 204, body: null };

export function jsonResponse(status: number, body: string, extra?: Record<string, string>): Response {
  return new Response(body, { status, headers: { "content-type": JSON_TYPE, ...extra } });
}

export function errorResponse(e: HttpError, headers?: Record<string, string>): Response {
  const extra: Record<string, string> | undefined =
    // Kratos honours Retry-After on 503 without a cap (CONTRACT §4.2). Its own backoff waits 1 s then
    // 2 s; "2" makes that 2 s and 2 s, so its three attempts span a 4 s store outage instead of 3 s,
    // while staying small (§8.13: no large Retry-After; a blocking flow waits through it).
    e.status === 503 ? { "retry-after": "2" } : e.status === 405 ? { allow: "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" } : undefined;
  return jsonResponse(e.status, e.bodyText ?? JSON.stringify(e.body()), headers ? { ...extra, ...headers } : extra);
}

/**
 * One 204 for every webhook answered so: a Response without a body or headers is only read by the
 * server that sends it (Bun.serve, Deno.serve and listen.ts's node:http bridge copy status and
 * headers out of it; none marks it used), and making one per request cost ~0.7 µs of event loop
 * (bench/results/ack.md, eighth session). Nothing may add headers to it: an answer that needs
 * some is a Response of its own.
 */
const NO_CONTENT_RESPONSE = new Response(null, { status: 204 });

function toResponse(r: StoredResponse): Response {
  if (r.body === null) return r.status === 204 ? NO_CONTENT_RESPONSE : new Response(null, { status: r.status });
  return new Response(r.body, { status: r.status, headers: { "content-type": r.contentType ?? JSON_TYPE } });
}

/** What the rules/enrich decided, before the commit. */
type Decision = { response: StoredResponse; enqueue: boolean; outcome: "accepted" | "denied" | "enriched"; rule?: string };

function checkContentType(headers: Headers): void {
  const ct = headers.get("content-type");
  // A missing content type is accepted when the body parses as JSON.
  if (ct !== null && ct !== "") {
    const semi = ct.indexOf(";");
    const base = (semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase();
    if (base !== JSON_TYPE) throw new HttpError(415, "unsupported_media_type", `content type ${JSON.stringify(base)} is not supported; Kratos sends application/json`);
  }
  const ce = headers.get("content-encoding");
  if (ce !== null && ce !== "" && ce.toLowerCase() !== "identity") throw new HttpError(415, "unsupported_media_type", `content encoding ${JSON.stringify(ce)} is not supported`);
}

/** The body field whose ctx path is exactly `identity.<key>`: the identity's current value of that object, if the body carries it. */
function currentValueField(hook: ResolvedHook, key: "metadata_public" | "metadata_admin"): string | undefined {
  return hook.fields.find((f) => f.from?.length === 2 && f.from[0] === "identity" && f.from[1] === key)?.name;
}

/**
 * The identity update of an enrich hook: only the metadata objects that change. Kratos replaces a
 * metadata object wholesale (CONTRACT §5.1), so a patch is merged over the current value when the
 * body carries it (a field `from: identity.metadata_public`); otherwise the patch is the new object.
 */
function compileIdentityUpdate(hook: ResolvedHook, enrich: (b: Body) => MetadataPatch): (b: Body) => string | undefined {
  const current = { metadata_public: currentValueField(hook, "metadata_public"), metadata_admin: currentValueField(hook, "metadata_admin") };
  return (body) => {
    const patch = enrich(body);
    const update: IdentityUpdate = {};
    for (const key of ["metadata_public", "metadata_admin"] as const) {
      const p = patch[key];
      if (!p) continue;
      const field = current[key];
      if (field === undefined) {
        if (Object.keys(p).length > 0) update[key] = p;
        continue;
      }
      const raw = body[field];
      const base = raw === null || raw === undefined ? {} : (raw as Record<string, unknown>);
      const merged = { ...base, ...p };
      if (!deepEqual(merged, base)) update[key] = merged;
    }
    return identityUpdateBody(update);
  };
}

/** A body field whose value the person in the flow entered: a trait, or what the client sent as `flow.transient_payload` (CONTRACT §3.2). */
function isUserInput(field: ResolvedField): boolean {
  const from = field.from;
  if (!from || from.length < 3) return false;
  return (from[0] === "identity" && from[1] === "traits") || (from[0] === "flow" && from[1] === "transient_payload");
}

/**
 * A blocking hook's body that fails its declaration because of what the user entered (a trait
 * longer than `max_length`, an optional trait left empty that the hook requires) is the user's
 * mistake: it is answered as a form error Kratos shows at that field, 422 with Kratos's messages
 * (CONTRACT §5.2), instead of a 400 that Kratos turns into a generic error page ("got no
 * validation errors", §4.3). Any other mismatch is a misconfiguration and stays a 400.
 */
function asFormMessage(e: InvalidBodyError): HttpError {
  if (!e.declared || !e.userText || !isUserInput(e.declared)) return e;
  const body = messagesBody([{ instancePtr: instancePtrFor(e.declared.from), messages: [{ id: INVALID_VALUE_MESSAGE_ID, text: e.userText, type: "error", context: { reason: e.message } }] }]);
  return new HttpError(DENY_STATUS, "invalid_value", e.message, e.field, body);
}

export type HookRoute = { hook: ResolvedHook; handle(request: Request): Promise<Response> };

/**
 * The outcome the admin page's Webhooks view shows. A repeat answered from RecentAnswers ran no
 * rules, so its outcome is read off the first answer it was given: 422 a deny, 200 an enrich
 * answer, 204 accepted.
 */
function recordedOutcome(outcome: string | undefined, status: number, errorCode: string | undefined, duplicate: boolean): RequestOutcome {
  if (outcome !== undefined) return outcome as RequestOutcome;
  if (errorCode !== undefined) return status === DENY_STATUS ? "denied" : "error";
  if (duplicate) return status === DENY_STATUS ? "denied" : status === 200 ? "enriched" : "accepted";
  return "error";
}

export function compileHookRoute(hook: ResolvedHook, d: RouteDeps): HookRoute {
  const c = { dir: d.config.dir, hook: hook.name, loc: hook.loc, files: d.files };
  const auth: AuthCheck = compileAuth(hook.name, hook.auth, d.env, hook.loc);
  const validate: BodyValidator = compileBodyValidator(hook);
  const skipIf: Predicate | undefined = hook.skipIf ? compilePredicate(hook.skipIf, `hooks.${hook.name}.skip_if`, c) : undefined;
  const blocking = hook.mode !== "notify";
  const rules: CompiledRules | undefined = blocking && hook.rules.length > 0 ? compileRules(hook.rules, hook.fields, c) : undefined;
  const identityUpdate =
    hook.mode === "enrich" && hook.enrich.length > 0 && mayAnswerIdentity(hook.point) ? compileIdentityUpdate(hook, compileEnrich(hook.enrich, hook.name, c)) : undefined;
  const limit = d.config.serve.bodyLimitBytes;
  const windowMs = hook.dedupe.windowMs;
  const keyFields = hook.dedupe.key;
  const name = hook.name;
  const accepted: Decision = { response: NO_CONTENT, enqueue: true, outcome: "accepted" };
  // The body field carrying ctx identity.id, if the hook declares one: jobs are searchable by it.
  const identityField = hook.fields.find((f) => f.from?.length === 2 && f.from[0] === "identity" && f.from[1] === "id")?.name;
  const recent = new RecentAnswers();

  const decide = (body: Body): Decision => {
    if (rules) {
      const r = rules(body);
      if (r.kind === "deny") return { response: { status: DENY_STATUS, body: r.body, contentType: JSON_TYPE }, enqueue: false, outcome: "denied", rule: r.rule };
    }
    if (identityUpdate) {
      const text = identityUpdate(body);
      // Nothing changed → 204, never an empty 200 (CONTRACT §8.15).
      if (text !== undefined) return { response: { status: 200, body: text, contentType: JSON_TYPE }, enqueue: true, outcome: "enriched" };
    }
    return accepted;
  };

  const makeJobs = (body: Body, triggerId: string | null, requestId: string | null, traceparent: string | null, now: number): NewJob[] => {
    if (hook.actions.length === 0) return [];
    const payload = acceptedWebhook(body, name, triggerId, requestId, isoTime(now));
    const id = identityField !== undefined ? body[identityField] : undefined;
    const identityId = typeof id === "string" ? id : null;
    return hook.actions.map((a) => ({ id: d.newJobId(), hook: name, action: a.id, payload, maxAttempts: a.retry.attempts, runAt: now, triggerId, identityId, traceparent }));
  };

  const handle = async (request: Request): Promise<Response> => {
    const started = performance.now();
    const headers = request.headers;
    const requestId = headers.get(REQUEST_ID_HEADER);
    const triggerId = headers.get(TRIGGER_ID_HEADER);
    const traceparent = parseTraceparent(headers.get(TRACEPARENT_HEADER));
    let status = 500;
    let duplicate = false;
    let outcome: string | undefined;
    let rule: string | undefined;
    let errorCode: string | undefined;
    let errorField: string | undefined;
    let identityId: string | null = null;
    let jobIds: string[] = [];
    let authenticated = false;
    let response: Response;
    try {
      if (request.method === "TRACE") throw new HttpError(405, "method_not_allowed", "TRACE carries no body; Kratos calls a hook with its configured method");
      if (d.draining()) throw new HttpError(503, "shutting_down", "the receiver is shutting down; retry");
      if (!auth(headers)) throw new HttpError(401, "unauthorized", "missing or wrong credentials");
      authenticated = true;
      checkContentType(headers);
      const bytes = await readBodyLimited(request, limit);
      if (bytes.byteLength > limit) throw tooLarge(limit);
      const parsed = parseJsonBody(bytes);
      // The validator, rules, dedupe keys and lookups read fields as body[name], and a field may be
      // named like an Object method (constructor, toString): without a prototype, an absent field
      // is undefined.
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) Object.setPrototypeOf(parsed, null);
      const invalid = validate(parsed);
      if (invalid) throw blocking ? asFormMessage(invalid) : invalid;
      const body = parsed as Body;
      if (identityField !== undefined && typeof body[identityField] === "string") identityId = body[identityField] as string;
      if (skipIf?.(body)) {
        outcome = "skipped";
        status = 204;
        response = NO_CONTENT_RESPONSE;
      } else {
        const now = d.clock.now();
        const key = dedupeKey(name, keyFields, triggerId, body).key;
        let answer: StoredResponse;
        const known = recent.get(key, now);
        if (known) {
          // A retry this process answered: the first answer, without running the rules again.
          duplicate = true;
          answer = known;
          d.metrics.dedupeHit(name);
        } else {
          const decision = decide(body);
          outcome = decision.outcome;
          rule = decision.rule;
          const jobs = decision.enqueue ? makeJobs(body, triggerId, requestId, traceparent, now) : [];
          const acceptance: Acceptance = { hook: name, key, response: decision.response, expiresAt: now + windowMs, jobs, now };
          let result: AcceptResult;
          try {
            result = await d.accept(acceptance);
          } catch (err) {
            d.commits?.failed(err);
            d.metrics.storeError(name);
            d.log.error("store unavailable", { hook: name, request_id: capLogValue(requestId), error: (err as Error)?.message ?? String(err) });
            throw new HttpError(503, "store_unavailable", "the outbox store is unavailable; retry");
          }
          answer = decision.response;
          if (result.duplicate) {
            duplicate = true;
            answer = result.response;
            d.metrics.dedupeHit(name);
          } else {
            // A duplicate commits nothing, so it says nothing about writes.
            d.commits?.succeeded();
            recent.set(key, answer, acceptance.expiresAt);
            if (jobs.length > 0) {
              if (d.recent) jobIds = jobs.map((j) => j.id);
              for (const j of jobs) d.metrics.jobsEnqueued(j.action);
              d.onEnqueued?.();
            }
          }
        }
        status = answer.status;
        response = toResponse(answer);
      }
    } catch (err) {
      if (err instanceof HttpError) {
        status = err.status;
        errorCode = err.code;
        errorField = err.field;
        response = errorResponse(err);
      } else {
        // A bug, not the caller's mistake: a generic answer, the details only in our log.
        status = 500;
        errorCode = "internal";
        d.log.error("internal error", { hook: name, request_id: capLogValue(requestId), error: err instanceof Error ? `${err.name}: ${err.message}` : String(err), stack: err instanceof Error ? err.stack : undefined });
        response = errorResponse(new HttpError(500, "internal", "internal error"));
      }
    }
    const seconds = (performance.now() - started) / 1000;
    d.metrics.request(name, status, seconds);
    const fields = {
      hook: name,
      method: request.method,
      status,
      ms: Math.round(seconds * 1e6) / 1000,
      // Header values anyone can send: cut (log-budget.ts).
      request_id: capLogValue(requestId),
      trigger_id: capLogValue(triggerId),
      trace_id: traceIdOf(traceparent),
      duplicate,
      outcome,
      rule,
      error: errorCode,
      field: errorField,
    };
    d.recent?.record({
      at: d.clock.now(),
      hook: name,
      status,
      outcome: recordedOutcome(outcome, status, errorCode, duplicate),
      duplicate,
      triggerId,
      requestId,
      identityId,
      traceId: traceIdOf(traceparent) ?? null,
      error: errorCode ?? null,
      jobIds,
    });
    const level = status >= 500 ? "error" : errorCode !== undefined ? "warn" : "info";
    if (!authenticated && errorCode !== undefined) d.refusedLog.write(level, "request", fields);
    else d.log[level]("request", fields);
    return response;
  };

  return { hook, handle };
}
