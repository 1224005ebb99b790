// Actions by kind: the payload stored with a job and its delivery (template phase 1, phase 2, then
// http/email/exec). The receiver stores the accepted webhook (acceptedWebhook); the worker calls
// deliver, which renders it. buildJobPayload renders at acceptance instead (deliver takes both).
import type { ResolvedAction } from "../config/types.ts";
import type { SmtpDecl } from "../config/model.ts";
import { NO_SECRETS, type Redactor } from "../secrets.ts";
import { memo } from "../bounded-memo.ts";
import { MissingEnvError, TemplateError, renderJsonNow, renderPhase1, renderStringNow, renderTextPhase1, resolveDeferred, type Deferred, type Env, type Phase1Context, type Phase1Options, type RenderNowState } from "../template.ts";
import { argvEncoder, escapeHtml, headerEncoder, oneLine, splitMailbox, urlEncoder } from "../template-context.ts";
import { deliverEmail } from "./email.ts";
import { deliverExec } from "./exec.ts";
import { deliverHttp } from "./http.ts";
import { DeliveryError, snippet, type AcceptedWebhook, type DeliveryContext, type DeliveryResult, type HttpInput, type JobPayload } from "./types.ts";

export { DeliveryError, DeliveryTimeout, type AcceptedWebhook, type DeliveryContext, type DeliveryResult, type JobPayload } from "./types.ts";

/** Collects phase-1 results of several template pieces into one input object with prefixed paths. */
class InputBuilder {
  readonly deferred: Deferred[] = [];
  constructor(private readonly ctx: Phase1Context) {}
  text(template: string, path: (string | number)[], encode?: Phase1Options["encode"]): string {
    const r = renderTextPhase1(template, this.ctx, { encode });
    for (const d of r.deferred) this.deferred.push({ path: [...path, ...d.path], parts: d.parts });
    return r.value;
  }
  json(template: unknown, path: (string | number)[]): unknown {
    const r = renderPhase1(template, this.ctx);
    for (const d of r.deferred) this.deferred.push({ path: [...path, ...d.path], parts: d.parts });
    return r.value;
  }
}

/** The payload the receiver stores with each job of an accepted webhook (AcceptedWebhook). */
export function acceptedWebhook(body: unknown, hook: string, triggerId: string | null, requestId: string | null, receivedAt: string): AcceptedWebhook {
  return { body, hook, trigger_id: triggerId, request_id: requestId, received_at: receivedAt };
}

/**
 * A payload rendered at acceptance: the action's templates rendered with the accepted body, hook and
 * job id. Env refs are left for delivery (it never holds a secret). Throws TemplateError on a ref
 * the config checker should have rejected.
 */
export function buildJobPayload(action: ResolvedAction, ctx: Phase1Context): JobPayload {
  const b = new InputBuilder(ctx);
  switch (action.kind) {
    case "http": {
      const headers: Record<string, string> = {};
      for (const k of Object.keys(action.headers)) headers[k] = b.text(action.headers[k]!, ["headers", k], headerEncoder(k));
      const input = {
        method: action.method,
        // Body values are percent-encoded in the url: they cannot add path segments or a query.
        url: b.text(action.url, ["url"], urlEncoder(action.url)),
        headers,
        ...(action.body !== undefined ? { body: b.json(action.body, ["body"]) } : {}),
      };
      return { v: 1, kind: "http", input, deferred: b.deferred };
    }
    case "email": {
      // A mailbox is split at the template's own angle brackets: the name and the address are
      // rendered apart, so no value can turn into a second recipient.
      const mailbox = (template: string, key: string) => {
        const m = splitMailbox(template);
        return { ...(m.name !== undefined ? { name: b.text(m.name, [key, "name"], oneLine) } : {}), address: b.text(m.address, [key, "address"]) };
      };
      const input = {
        to: mailbox(action.to, "to"),
        ...(action.from !== undefined ? { from: mailbox(action.from, "from") } : {}),
        subject: b.text(action.subject, ["subject"], oneLine),
        ...(action.text !== undefined ? { text: b.text(action.text, ["text"]) } : {}),
        ...(action.html !== undefined ? { html: b.text(action.html, ["html"], escapeHtml) } : {}),
      };
      return { v: 1, kind: "email", input, deferred: b.deferred };
    }
    case "exec": {
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(action.env)) env[k] = b.text(v, ["env", k]);
      const input = { argv: action.command.map((a, i) => b.text(a, ["argv", i], argvEncoder(action.command, i))), env, body: ctx.body };
      return { v: 1, kind: "exec", input, deferred: b.deferred };
    }
  }
}

export type DeliverOptions = { defaultSmtp?: SmtpDecl };

/**
 * The stored payload in its delivery form. Two forms are accepted:
 * - the accepted webhook, `{ body, ... }` (acceptedWebhook; what `serve` stores): the action's
 *   templates are rendered now, against the current config;
 * - a JobPayload (buildJobPayload at acceptance): delivered as rendered then.
 * Either way the database holds no env value.
 */
function jobPayloadOf(action: ResolvedAction, stored: unknown, ctx: DeliveryContext): JobPayload {
  if (isJobPayload(stored)) return stored;
  if (isAcceptedWebhook(stored)) {
    try {
      return buildJobPayload(action, { body: stored.body, hook: ctx.hook, jobId: ctx.jobId });
    } catch (err) {
      if (err instanceof TemplateError) throw new DeliveryError(err.message, false);
      throw err;
    }
  }
  throw new DeliveryError("payload is neither a job payload (v1) nor an accepted webhook ({ body })", false);
}

/** The accepted webhook form of a stored payload (jobPayloadOf's second form): not a JobPayload, an object with a body. */
function isAcceptedWebhook(p: unknown): p is { body: unknown } {
  return !!p && typeof p === "object" && !Array.isArray(p) && "body" in p && !isJobPayload(p);
}

/**
 * An http request rendered from the accepted webhook at delivery, phase 1 and 2 in one pass
 * (template.ts renderStringNow): what buildJobPayload and then resolveDeferred give, in the same
 * order (headers, url, body), with the same encoders, without building the stored form first.
 * A TemplateError fails the delivery for good, as from jobPayloadOf (its text holds no env value:
 * it is not redacted); an unset variable is left in `missing` for deliver to throw.
 */
function acceptedHttpInput(action: Extract<ResolvedAction, { kind: "http" }>, stored: { body: unknown }, ctx: DeliveryContext): RenderNowState & { input: HttpInput } {
  const st: RenderNowState & { input: HttpInput } = { env: ctx.env, secrets: undefined, missing: undefined, input: undefined as unknown as HttpInput };
  const p1: Phase1Context = { body: stored.body, hook: ctx.hook, jobId: ctx.jobId };
  try {
    const headers: Record<string, string> = {};
    for (const k of Object.keys(action.headers)) headers[k] = renderStringNow(action.headers[k]!, p1, false, headerEncoder(k), st) as string;
    const url = renderStringNow(action.url, p1, false, urlEncoder(action.url), st) as string;
    st.input = action.body !== undefined ? { method: action.method, url, headers, body: renderJsonNow(action.body, p1, st) } : { method: action.method, url, headers };
  } catch (err) {
    if (err instanceof TemplateError) throw new DeliveryError(err.message, false);
    throw err;
  }
  return st;
}

function isJobPayload(p: unknown): p is JobPayload {
  const o = p as JobPayload | null;
  return !!o && typeof o === "object" && o.v === 1 && typeof o.kind === "string" && !!o.input && Array.isArray(o.deferred);
}

/**
 * Delivers one job payload with its action. Resolves on success (with the destination's code, if
 * any); rejects with a DeliveryError whose text has every env value used by this delivery replaced by `***`.
 */
export async function deliver(action: ResolvedAction, stored: unknown, ctx: DeliveryContext, opts: DeliverOptions = {}): Promise<DeliveryResult> {
  // An http action delivering the accepted webhook (what serve stores) renders in one pass
  // (acceptedHttpInput); every other case goes through the stored form's two phases.
  const now = action.kind === "http" && isAcceptedWebhook(stored) ? acceptedHttpInput(action, stored, ctx) : undefined;
  const payload = now ? undefined : jobPayloadOf(action, stored, ctx);
  if (payload && payload.kind !== action.kind) {
    throw new DeliveryError(`payload is for a ${payload.kind} action but ${action.id} is now ${action.kind}; the config changed since the job was accepted`, false);
  }
  let secrets: Set<string> | string[] | undefined = now?.secrets;
  if (payload) {
    const all = new Set<string>();
    for (const v of secretValues(action, ctx.env, opts.defaultSmtp)) all.add(v);
    secrets = all;
  }
  let redactor = ctx.redactor ?? NO_SECRETS;
  try {
    let input: JobPayload["input"];
    // Retryable: the operator can set the variable and restart; the job waits meanwhile.
    if (now) {
      if (now.missing !== undefined) throw new DeliveryError(new MissingEnvError(now.missing).message, true);
      input = now.input;
    } else {
      try {
        input = resolveDeferred(payload!.input, payload!.deferred, ctx.env, secrets as Set<string>);
      } catch (err) {
        if (err instanceof MissingEnvError) throw new DeliveryError(err.message, true);
        throw err;
      }
    }
    // The values this delivery used, on top of every secret serve knows (usually known already:
    // then the context goes on as it is, not copied).
    const known = redactor;
    if (sizeOf(secrets)) redactor = redactorWith(redactor, secrets!);
    const dctx: DeliveryContext = redactor === known && ctx.redactor ? ctx : { ...ctx, redactor };
    switch (action.kind) {
      case "http":
        return await deliverHttp(action, input as Extract<JobPayload, { kind: "http" }>["input"], dctx);
      case "email":
        return await deliverEmail(action, input as Extract<JobPayload, { kind: "email" }>["input"], dctx, opts.defaultSmtp);
      case "exec":
        return await deliverExec(action, input as Extract<JobPayload, { kind: "exec" }>["input"], dctx);
    }
  } catch (err) {
    const all = sizeOf(secrets) ? redactorWith(redactor, secrets!) : redactor;
    if (err instanceof DeliveryError) throw new DeliveryError(all.redact(err.message), err.retryable, err.retryAfterMs, err.code);
    throw new DeliveryError(snippet(all.redact(`unexpected: ${(err as Error)?.message ?? String(err)}`), 400), true);
  }
}

/**
 * redactor.with(secrets), kept per redactor and set of values: a delivery uses the same env values
 * every time (and serve's redactor usually knows them already, when with() returns it as it is),
 * so with()'s copy and search of every value it knows ran per delivery for the same answer. A
 * Redactor never changes. One value (the usual case) is its own key; more are keyed by their JSON.
 */
const withMore = new WeakMap<Redactor, { one: Map<string, Redactor>; many: Map<string, Redactor> }>();

function redactorWith(redactor: Redactor, secrets: Set<string> | string[]): Redactor {
  let cache = withMore.get(redactor);
  if (!cache) withMore.set(redactor, (cache = { one: new Map(), many: new Map() }));
  const make = () => redactor.with(secrets);
  if (sizeOf(secrets) === 1) for (const v of secrets) return memo(cache.one, 64, v, make);
  return memo(cache.many, 64, JSON.stringify([...secrets]), make);
}

/** How many distinct values: the one-pass render's array holds each once. */
function sizeOf(values: Set<string> | string[] | undefined): number {
  return values === undefined ? 0 : Array.isArray(values) ? values.length : values.size;
}

/** Secrets an action can touch besides its templates: the SMTP password. */
function secretValues(action: ResolvedAction, env: Env, defaultSmtp: SmtpDecl | undefined): string[] {
  const smtp = action.kind === "email" ? (action.smtp ?? defaultSmtp) : undefined;
  const v = smtp?.password_env ? env[smtp.password_env] : undefined;
  return v ? [v] : [];
}
