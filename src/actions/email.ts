// The email action: one SMTP message per delivery, through nodemailer. The Message-ID is derived
// from the job id, so a redelivery (at least once) is recognisable as the same message.
import nodemailer from "nodemailer";
import type { Transporter } from "nodemailer";
import { smtpPort } from "../config/destination.ts";
import type { ResolvedEmailAction } from "../config/types.ts";
import type { SmtpDecl } from "../config/model.ts";
import type { Env } from "../template.ts";
import { isAddrSpec, oneLine, splitMailbox } from "../template-context.ts";
import { DeliveryError, excerpt, type DeliveryContext, type DeliveryResult, type EmailInput, type Mailbox } from "./types.ts";

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

/** `<job id@domain of the sender's address>`: the same for every delivery of a job. */
export function messageIdFor(jobId: string, fromAddress: string): string {
  const m = /@([A-Za-z0-9.-]+)$/.exec(fromAddress);
  return `<${jobId}@${m?.[1] ?? "kratos-hooks.invalid"}>`;
}

/** The longest subject sent, in characters; a longer one is cut and ends with "…". */
export const MAX_SUBJECT_CHARS = 200;
/** The longest display name sent, in characters (cut the same way). */
export const MAX_DISPLAY_NAME_CHARS = 64;
/** A word longer than this cannot be folded within 78 octets after "Subject: ": it goes encoded. */
const FOLDABLE_WORD = 60;

/** Cuts to `max` characters (code points), marking the cut. */
export function bounded(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

/**
 * The Subject header: one line (controls are spaces), at most MAX_SUBJECT_CHARS, folded per
 * RFC 5322 §2.2.3 so no line passes 78 octets (the limit is 998). Plain ASCII words fold at their
 * spaces (nodemailer does that); a word too long to fold, or text outside ASCII, goes as RFC 2047
 * encoded words of at most 42 bytes each, one per folded line.
 */
export function subjectHeader(subject: string): string | { prepared: true; value: string } {
  const s = bounded(oneLine(subject).trim(), MAX_SUBJECT_CHARS);
  if (/^[\x20-\x7e]*$/.test(s) && s.split(" ").every((w) => w.length <= FOLDABLE_WORD)) return s;
  return { prepared: true, value: encodedWords(s, 42).join("\r\n ") };
}

/** RFC 2047 B encoded words, each of at most `maxBytes` UTF-8 bytes, never splitting a character. */
export function encodedWords(text: string, maxBytes: number): string[] {
  const enc = new TextEncoder();
  const words: string[] = [];
  let chunk: number[] = [];
  const flush = () => {
    if (chunk.length) words.push(`=?UTF-8?B?${Buffer.from(chunk).toString("base64")}?=`);
    chunk = [];
  };
  for (const ch of text) {
    const bytes = enc.encode(ch);
    if (chunk.length + bytes.length > maxBytes) flush();
    chunk.push(...bytes);
  }
  flush();
  return words.length ? words : [""];
}

/**
 * A rendered mailbox as nodemailer takes it, `{ name, address }`: the address must be exactly one
 * addr-spec (a value such as `a@x.org,evil@y.test` or `Evil <e@y>` is refused, and the job dies
 * saying so); the name is bounded text that nodemailer quotes or encodes, never parses.
 */
function mailboxFor(m: Mailbox, what: string): { name: string; address: string } {
  const address = m.address.trim();
  if (!address) throw new DeliveryError(`empty ${what} address (the '${what}' template rendered to nothing)`, false);
  if (!isAddrSpec(address)) {
    throw new DeliveryError(`the '${what}' address ${JSON.stringify(bounded(address, 80))} is not exactly one address (user@domain); refused`, false);
  }
  return { name: bounded(oneLine(m.name ?? "").trim(), MAX_DISPLAY_NAME_CHARS), address };
}

export async function deliverEmail(action: ResolvedEmailAction, input: EmailInput, ctx: DeliveryContext, defaultSmtp: SmtpDecl | undefined): Promise<DeliveryResult> {
  const smtp = action.smtp ?? defaultSmtp;
  if (!smtp) throw new DeliveryError("no smtp server: set serve.smtp or the action's smtp", false);
  const fromBox = input.from ?? (smtp.from !== undefined ? splitMailbox(smtp.from) : undefined);
  if (!fromBox || !fromBox.address.trim()) throw new DeliveryError("no sender: set the action's from or smtp.from", false);
  const from = mailboxFor(fromBox, "from");
  const to = mailboxFor(input.to, "to");
  const subject = subjectHeader(input.subject);
  const transport = transportFor(smtp, ctx.env);
  const send = transport.sendMail({
    from,
    to,
    ...(typeof subject === "string" ? { subject } : {}),
    text: input.text,
    html: input.html,
    messageId: messageIdFor(ctx.jobId, from.address),
    headers: { "X-Kratos-Hooks-Attempt": String(ctx.attempt), ...(typeof subject === "string" ? {} : { Subject: subject }) },
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
    const text = `smtp ${smtp.host}: ${e.code ? `${e.code} ` : ""}${excerpt(e.message ?? String(err), ctx)}`;
    // SMTP 5xx is a permanent refusal (RFC 5321 §4.2.1): bad recipient, auth rejected. Everything
    // else (4xx, connection, TLS, timeouts) may pass later.
    throw new DeliveryError(text, !(e.responseCode !== undefined && e.responseCode >= 500), undefined, e.responseCode);
  } finally {
    if (onAbort) ctx.signal.removeEventListener("abort", onAbort);
    send.catch(() => {});
  }
}
