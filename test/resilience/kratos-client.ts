// Sends webhooks the way Kratos does (CONTRACT §4.1-§4.2): the Go client's bytes (canonical header
// names, Content-Length, 3-space pretty JSON with a trailing newline), a new Ory-Webhook-Request-Id
// per attempt, the same Ory-Webhook-Trigger-Id and body on every attempt, at most 3 attempts,
// retrying transport errors, 429 and 5xx except 501, waiting 1 s then 2 s (or Retry-After).
import { kratosJson } from "../server/helpers.ts";
import { goRequest, rawRequest, type RawResponse } from "../server/raw-http.ts";

/** One HTTP attempt: status undefined = no answer (refused, cut). `sentAt`/`at` are epoch ms. */
export type Attempt = { status?: number; body: string; retryAfter?: string; sentAt: number; at: number };
export type Execution = { trigger: string; attempts: Attempt[]; final: Attempt };

const retryable = (a: Attempt) => a.status === undefined || a.status === 429 || (a.status >= 500 && a.status !== 501);

export function isAck(a: Attempt | undefined): boolean {
  return a?.status !== undefined && a.status >= 200 && a.status < 300;
}

export async function sendLikeKratos(o: {
  /** The port to send to, asked again before every attempt (a restarted serve may move). */
  port: () => number;
  path: string;
  body: unknown;
  headers: Record<string, string>;
  trigger: string;
  /** Waits between attempts; Kratos: 1 s, 2 s (RetryMax 2). */
  backoffMs?: number[];
  timeoutMs?: number;
  /** The web_hook's configured method; default POST. */
  method?: string;
  /** The body bytes as the Jsonnet engine printed them; default `body` pretty-printed as go-jsonnet does. */
  text?: string;
  /** Which Ory-Webhook-* ids the version sends (v1.0.0 none, v1.1.0+ Request-Id, v25.4.0+ Trigger-Id; none with emit_analytics_event false). Default both. */
  ids?: { requestId: boolean; triggerId: boolean };
}): Promise<Execution> {
  const backoff = o.backoffMs ?? [1000, 2000];
  const text = o.text ?? kratosJson(o.body);
  const ids = o.ids ?? { requestId: true, triggerId: true };
  const attempts: Attempt[] = [];
  for (let i = 0; ; i++) {
    const port = o.port();
    const sentAt = Date.now();
    const res: RawResponse | undefined = await rawRequest(
      port,
      goRequest(o.method ?? "POST", o.path, port, text, {
        "Content-Type": "application/json",
        ...o.headers,
        ...(ids.requestId ? { "Ory-Webhook-Request-Id": crypto.randomUUID() } : {}),
        ...(ids.triggerId ? { "Ory-Webhook-Trigger-Id": o.trigger } : {}),
      }),
      o.timeoutMs ?? 15_000,
    );
    const a: Attempt = { status: res?.status, body: res?.body ?? "", retryAfter: res?.headers["retry-after"], sentAt, at: Date.now() };
    attempts.push(a);
    if (!retryable(a) || i >= backoff.length) return { trigger: o.trigger, attempts, final: a };
    // go-retryablehttp uses Retry-After on 429/503 as given (CONTRACT §4.2).
    const wait = a.retryAfter !== undefined && (a.status === 429 || a.status === 503) ? Number(a.retryAfter) * 1000 : backoff[i]!;
    await Bun.sleep(wait);
  }
}

/** Runs `fn` over `items` with at most `concurrency` at once; results in item order. */
export async function pool<T, R>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return out;
}

/** Polls `cond` every 50 ms until true, or throws after `timeoutMs` with `what` and the last detail. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, what: string, timeoutMs: number, detail?: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `: ${detail()}` : ""}`);
    await Bun.sleep(50);
  }
}

/** A web_hook of a Kratos hook list, as the client calls it. `blocking`: parse or can_interrupt. */
export type ListedHook = { path: string; headers: Record<string, string>; body: unknown; blocking: boolean };
export type FlowRun = { outcome: "refused-by-hook" | "rejected-by-kratos" | "completed"; called: string[]; executions: Execution[] };

/**
 * Kratos's registration/settings `after` (CONTRACT §1.2-§1.4): the blocking web_hooks of the list,
 * in order, before the identity is stored (the first answer that is not 2xx ends the flow); then
 * Kratos validates and stores the identity, which can still fail (`persist` false: a taken address,
 * the identity schema); only after that the other web_hooks, in order.
 */
export async function completeFlowLikeKratos(o: { port: () => number; list: ListedHook[]; persist: () => boolean; backoffMs?: number[] }): Promise<FlowRun> {
  const run: FlowRun = { outcome: "completed", called: [], executions: [] };
  const call = async (h: ListedHook) => {
    run.called.push(h.path);
    const ex = await sendLikeKratos({ port: o.port, path: h.path, body: h.body, headers: h.headers, trigger: crypto.randomUUID(), backoffMs: o.backoffMs });
    run.executions.push(ex);
    return isAck(ex.final);
  };
  for (const h of o.list.filter((x) => x.blocking)) {
    if (!(await call(h))) return { ...run, outcome: "refused-by-hook" };
  }
  if (!o.persist()) return { ...run, outcome: "rejected-by-kratos" };
  for (const h of o.list.filter((x) => !x.blocking)) await call(h);
  return run;
}

/**
 * Every other hook list (login.after, recovery/verification after, before hooks): one sequence in
 * list order; the first blocking web_hook that does not answer 2xx ends it and fails the flow
 * (CONTRACT §1.3). A notify web_hook's answer is not waited for (response.ignore) but its call
 * has been made.
 */
export async function runSequenceLikeKratos(o: { port: () => number; list: ListedHook[]; backoffMs?: number[] }): Promise<FlowRun> {
  const run: FlowRun = { outcome: "completed", called: [], executions: [] };
  for (const h of o.list) {
    run.called.push(h.path);
    const ex = await sendLikeKratos({ port: o.port, path: h.path, body: h.body, headers: h.headers, trigger: crypto.randomUUID(), backoffMs: o.backoffMs });
    run.executions.push(ex);
    if (h.blocking && !isAck(ex.final)) return { ...run, outcome: "refused-by-hook" };
  }
  return run;
}
