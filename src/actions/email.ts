// The email action: one SMTP message per delivery, through nodemailer. The Message-ID is derived
// from the job id, so a redelivery (at least once) is recognisable as the same message.
import nodemailer from "nodemailer";
import type { Transporter } from "nodemailer";
import { smtpPort } from "../config/destination.ts";
import type { ResolvedEmailAction } from "../config/types.ts";
import type { SmtpDecl } from "../config/model.ts";
import type { Env } from "../template.ts";
import { DeliveryError, snippet, type DeliveryContext, type DeliveryResult, type EmailInput } from "./types.ts";

/** Socket timeouts; a delivery is also cut by the worker's deadline (ctx.signal). */
const SMTP_TIMEOUT_MS = 30_000;

/** Transporters by SMTP config, so connections are pooled across deliveries and actions. */
const transports = new Map<string, Transporter>();

/** The nodemailer options for an smtp block. The password is read from the env, never stored. */
export function transportOptions(smtp: SmtpDecl, env: Env) {
  const security = smtp.security ?? "starttls";
  let auth: { user: string; pass: string } | undefined;
  if (smtp.user !== undefined) {
    const pass = smtp.password_env ? env[smtp.password_env] : "";
    if (pass === undefined) throw new DeliveryError(`environment variable ${smtp.password_env} (smtp password) is not set`, true);
    auth = { user: smtp.user, pass };
  }
  return {
    host: smtp.host,
    port: smtpPort(smtp),
    // tls: TLS from the first byte (SMTPS). starttls: plain, then STARTTLS is required.
    // none: never upgrade, even if the server offers STARTTLS.
    secure: security === "tls",
    requireTLS: security === "starttls",
    ignoreTLS: security === "none",
    auth,
    tls: { rejectUnauthorized: smtp.tls_reject_unauthorized ?? true },
    pool: true,
    maxConnections: 4,
    connectionTimeout: SMTP_TIMEOUT_MS,
    greetingTimeout: SMTP_TIMEOUT_MS,
    socketTimeout: SMTP_TIMEOUT_MS,
  };
}

function transportFor(smtp: SmtpDecl, env: Env): Transporter {
  const key = JSON.stringify(smtp);
  let t = transports.get(key);
  if (!t) {
    t = nodemailer.createTransport(transportOptions(smtp, env));
    transports.set(key, t);
  }
  return t;
}

/** Closes every pooled SMTP connection (worker stop, tests). */
export function closeEmailTransports(): void {
  for (const t of transports.values()) t.close();
  transports.clear();
}

/** `<job id@domain of the sender>`: the same for every delivery of a job. */
export function messageIdFor(jobId: string, from: string): string {
  const m = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from);
  return `<${jobId}@${m?.[1] ?? "kratos-hooks.invalid"}>`;
}

export async function deliverEmail(action: ResolvedEmailAction, input: EmailInput, ctx: DeliveryContext, defaultSmtp: SmtpDecl | undefined): Promise<DeliveryResult> {
  const smtp = action.smtp ?? defaultSmtp;
  if (!smtp) throw new DeliveryError("no smtp server: set serve.smtp or the action's smtp", false);
  const from = input.from || smtp.from;
  if (!from) throw new DeliveryError("no sender: set the action's from or smtp.from", false);
  if (!input.to.trim()) throw new DeliveryError("empty recipient (the 'to' template rendered to nothing)", false);
  const transport = transportFor(smtp, ctx.env);
  const send = transport.sendMail({
    from,
    to: input.to,
    subject: input.subject,
    text: input.text,
    html: input.html,
    messageId: messageIdFor(ctx.jobId, from),
    headers: { "X-Kratos-Hooks-Attempt": String(ctx.attempt) },
  });
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new DeliveryError(`smtp ${smtp.host}: aborted (worker deadline or shutdown)`, true));
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    const info = (await Promise.race([send, aborted])) as { response?: string };
    // The server's final reply, e.g. "250 2.0.0 Ok: queued as ...".
    const code = Number(/^([2-5][0-9][0-9])/.exec(info?.response ?? "")?.[1]);
    return Number.isFinite(code) ? { code } : {};
  } catch (err) {
    if (err instanceof DeliveryError) throw err;
    const e = err as { responseCode?: number; code?: string; message?: string };
    const text = `smtp ${smtp.host}: ${e.code ? `${e.code} ` : ""}${snippet(e.message ?? String(err))}`;
    // SMTP 5xx is a permanent refusal (RFC 5321 §4.2.1): bad recipient, auth rejected. Everything
    // else (4xx, connection, TLS, timeouts) may pass later.
    throw new DeliveryError(text, !(e.responseCode !== undefined && e.responseCode >= 500), undefined, e.responseCode);
  } finally {
    if (onAbort) ctx.signal.removeEventListener("abort", onAbort);
    send.catch(() => {});
  }
}
