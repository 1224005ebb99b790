// What every action kind shares: the payload stored with a job, the delivery context and the one
// failure type the worker reads. Success is a plain return; failure is a DeliveryError.
import type { Redactor } from "../secrets.ts";
import type { Deferred, Env } from "../template.ts";

/** http: the request, rendered at acceptance (env refs deferred). */
export type HttpInput = { method: string; url: string; headers: Record<string, string>; body?: unknown };
/** A mailbox: one address and a display name that is text, never parsed as addresses. */
export type Mailbox = { name?: string; address: string };
/** email: the message, rendered at acceptance. SMTP settings come from the config at delivery. */
export type EmailInput = { to: Mailbox; from?: Mailbox; subject: string; text?: string; html?: string };
/** exec: argv and extra env rendered at acceptance; `body` is written to stdin with the job id. */
export type ExecInput = { argv: string[]; env: Record<string, string>; body: unknown };

/**
 * The `payload` column of a job. `deferred` lists the strings of `input` that need env values
 * (src/template.ts phase 2); `input` shows them as `{{ env.X }}` text and never holds a value.
 */
export type JobPayload =
  | { v: 1; kind: "http"; input: HttpInput; deferred: Deferred[] }
  | { v: 1; kind: "email"; input: EmailInput; deferred: Deferred[] }
  | { v: 1; kind: "exec"; input: ExecInput; deferred: Deferred[] };

/**
 * The `payload` column of a job as `serve` writes it: the accepted webhook, its body as validated
 * (the hook's declared fields), with the ids Kratos sent. The action's templates are rendered from
 * it at delivery, against the config of that moment (docs/delivery.md says why).
 */
export type AcceptedWebhook = { body: unknown; hook: string; trigger_id: string | null; request_id: string | null; received_at: string };

export type DeliveryContext = {
  jobId: string;
  hook: string;
  action: string;
  /** 1-based number of this delivery attempt. */
  attempt: number;
  env: Env;
  /** Aborted when the worker's deadline (the lease) passes or the worker stops. */
  signal: AbortSignal;
  /**
   * `signal` also aborts, with a DeliveryTimeout as its reason, when the action's own timeout
   * (timeoutMs, counted from the start of the delivery) passes; the action then sets no timer of
   * its own. The worker does this for http actions: one timer (shared by the deliveries that end
   * at the same ms) instead of a timeout signal and a signal combining it with the worker's.
   */
  signalHasTimeout?: boolean;
  /** The W3C traceparent the webhook came with; http deliveries send a child of it (src/trace-context.ts). */
  traceparent?: string | null;
  /**
   * Every secret serve knows (src/secrets.ts). Error text is redacted with it before it is cut
   * short (excerpt), so no prefix of a secret survives; deliver() adds the values it used.
   */
  redactor?: Redactor;
};

/** The abort reason of a DeliveryContext signal that aborted because the action's timeout passed. */
export class DeliveryTimeout extends Error {
  override readonly name = "TimeoutError";
  constructor(readonly timeoutMs: number) {
    super(`timed out after ${timeoutMs}ms`);
  }
}

/**
 * A failed delivery. `retryable: false` sends the job to the dead letters at once (an http 4xx, an
 * SMTP 5xx). The message is shown in `outbox show` and events, so it never holds a secret.
 */
export class DeliveryError extends Error {
  override readonly name = "DeliveryError";
  constructor(
    message: string,
    readonly retryable: boolean,
    /** The destination asked to wait this long (http Retry-After); the worker waits at least that, up to the retry cap. */
    readonly retryAfterMs?: number,
    /** The HTTP status, SMTP reply code or exit code of the failure, when there was one (attempt history). */
    readonly code?: number,
  ) {
    super(message);
  }
}

/** What a successful delivery reports for the attempt history: the HTTP status, SMTP reply code or exit code. */
export type DeliveryResult = { code?: number };

/** Redacts `text` with the context's secrets, then cuts it short (snippet): never the other way round. */
export function excerpt(text: string, ctx: Pick<DeliveryContext, "redactor">, max = 200): string {
  return snippet(ctx.redactor ? ctx.redactor.redact(text) : text, max);
}

/** Keeps the start of a long text short enough for a log line. Text that may hold a secret goes through excerpt. */
export function snippet(text: string, max = 200): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length <= max ? t : `${t.slice(0, max)}…`;
}
