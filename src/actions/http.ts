// The http action: one fetch per delivery. Every request carries `Idempotency-Key: <job id>` so the
// destination can drop the duplicates that at-least-once delivery implies.
import type { ResolvedHttpAction } from "../config/types.ts";
import pkg from "../../package.json" with { type: "json" };
import { childTraceparent } from "../trace-context.ts";
import { memo } from "../bounded-memo.ts";
import { dotSegmentInUrl } from "../template-context.ts";
import { DeliveryError, DeliveryTimeout, excerpt, snippet, type DeliveryContext, type DeliveryResult, type HttpInput } from "./types.ts";

const USER_AGENT = `kratos-hooks/${pkg.version}`;
/** Bytes of a failed response read for the error text; the rest is discarded. */
const ERROR_BODY_BYTES = 2048;

export async function deliverHttp(action: ResolvedHttpAction, input: HttpInput, ctx: DeliveryContext): Promise<DeliveryResult> {
  // A plain object: fetch builds its headers from it natively, cheaper than a Headers filled by
  // set() calls. Names are lower-cased so a header given twice in different case is sent once,
  // the later one winning, as Headers.set did.
  const headers: Record<string, string> = { "user-agent": USER_AGENT };
  let body: string | undefined;
  if (input.body !== undefined) {
    body = JSON.stringify(input.body);
    headers["content-type"] = "application/json";
  }
  for (const k of Object.keys(input.headers)) {
    const v = String(input.headers[k]);
    // A CR/LF or other byte not allowed in a header, e.g. from a body value: the same job will
    // never render differently. The value is not shown (it may hold a secret).
    const name = headerName(k);
    if (name === undefined) throw new DeliveryError(`header name ${JSON.stringify(k)} is not an HTTP token`, false);
    if (BAD_HEADER_VALUE.test(v)) throw new DeliveryError(`header ${k}: the value holds a line break, a NUL or text outside Latin-1, which an HTTP header cannot carry (an env value?)`, false);
    headers[name] = v;
  }
  headers["idempotency-key"] = ctx.jobId;
  // The destination's spans join the trace of the Kratos request that caused the job.
  if (ctx.traceparent) headers.traceparent = childTraceparent(ctx.traceparent);
  if (!isHttpUrl(input.url)) {
    throw new DeliveryError(`url ${displayUrl(input.url)} is not an absolute http(s) URL`, false);
  }
  // Body values cannot form one (urlEncoder refuses them); this holds for env values too.
  const dot = dotSegmentInUrl(input.url);
  if (dot !== undefined) throw new DeliveryError(`url ${displayUrl(input.url)}: its path has the dot segment '${dot}', which would walk up the path; refused`, false);

  // One signal: the worker's, when it also carries this action's timeout (ctx.signalHasTimeout);
  // otherwise a timeout signal combined with it.
  let timeout: AbortSignal | undefined;
  let signal = ctx.signal;
  if (!ctx.signalHasTimeout) {
    timeout = AbortSignal.timeout(action.timeoutMs);
    signal = AbortSignal.any([ctx.signal, timeout]);
  }
  const started = performance.now();
  let res: Response;
  try {
    // Redirects are not followed: they would carry the Authorization header elsewhere.
    res = await fetch(input.url, { method: input.method, headers, body, signal, redirect: "manual" });
  } catch (err) {
    const timedOut = timeout ? timeout.aborted : ctx.signal.aborted && ctx.signal.reason instanceof DeliveryTimeout;
    throw new DeliveryError(failureText(err, timedOut, ctx, action.timeoutMs, started, input), true);
  }
  if (res.status >= 200 && res.status < 300) {
    // Drain so the connection is reused; the content does not matter. An empty body (Content-Length: 0,
    // as a webhook sink often answers) has nothing to drain: reading res.body would build a
    // ReadableStream (and cancel() two promises) for it, ~0.3-0.5 µs of the event loop per delivery.
    if (res.headers.get("content-length") !== "0") await res.body?.cancel().catch(() => {});
    return { code: res.status };
  }
  let text = "";
  try {
    // Room for a secret that crosses the limit: it is redacted whole before the text is cut.
    text = await readPrefix(res, ERROR_BODY_BYTES + 4 * (ctx.redactor?.longest ?? 0));
  } catch {
    // A body that breaks off still leaves the status to report.
  }
  const what = `${input.method} ${displayUrl(input.url)} answered ${res.status}${text ? `: ${excerpt(text, ctx)}` : ""}`;
  const retryAfter = res.status === 429 || res.status === 503 ? retryAfterMs(res.headers.get("retry-after")) : undefined;
  if (res.status >= 500) throw new DeliveryError(what, true, retryAfter, res.status);
  // 408 and 429 ask to come back later; other 4xx say the request itself is wrong.
  if (res.status === 408 || res.status === 429) throw new DeliveryError(what, true, retryAfter, res.status);
  if (res.status >= 400) throw new DeliveryError(what, action.retry4xx, undefined, res.status);
  throw new DeliveryError(`${what} (redirects are not followed; point the url at the final address)`, false, undefined, res.status);
}

/** What fetch accepts as a header name (an RFC 9110 token) and rejects in a value (as Headers.set does). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_HEADER_VALUE = /[\0\r\n\u0100-\uffff]/;

/**
 * A header name lower-cased, or undefined if it is not an HTTP token; kept by name (the names come
 * from the config). The same string each time, not a fresh toLowerCase() per request: adding a
 * fresh string as a property name cost the request's headers object a lookup of its own.
 */
const headerNames = new Map<string, string | null>();

export function headerName(k: string): string | undefined {
  return memo(headerNames, MAX_HEADER_NAMES, k, lowerCaseToken) ?? undefined;
}
/** A header name's lower-case form, or null (kept as the refusal) if it is not an HTTP token. */
const lowerCaseToken = (k: string): string | null => (HEADER_NAME.test(k) ? k.toLowerCase() : null);
const MAX_HEADER_NAMES = 1024;

/**
 * The urls' beginnings up to the first "/" after "://" (scheme and authority) that parsed as
 * http(s) before. Every url of an action usually shares one (values are percent-encoded into the
 * path or query), and once the parser is past the authority nothing can make the url invalid or
 * change its scheme, so a url starting with a known one followed by "/" needs no parse.
 */
const httpOrigins = new Set<string>();
const MAX_ORIGINS = 256;
/**
 * One of httpOrigins: a url that starts with it followed by "/" has it as its origin (it holds one
 * "://" and no "/" after that), so it is known without a slice and a hash of the url's own.
 */
let lastOrigin: string | undefined;

/** An absolute http(s) URL (URL.canParse and the protocol), parsed only for an unknown origin. */
export function isHttpUrl(url: string): boolean {
  // The origin matched last, without slicing and hashing this url's: an action's urls share one.
  const last = lastOrigin;
  if (last !== undefined && url.length > last.length && url.charCodeAt(last.length) === 47 && url.startsWith(last)) return true;
  const s = url.indexOf("://");
  const e = s > 0 ? url.indexOf("/", s + 3) : -1;
  if (e > 0 && httpOrigins.has(url.slice(0, e))) {
    lastOrigin = url.slice(0, e);
    return true;
  }
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) return false;
  if (e > 0) {
    if (httpOrigins.size >= MAX_ORIGINS) httpOrigins.clear();
    httpOrigins.add(url.slice(0, e));
  }
  return true;
}

function failureText(err: unknown, timedOut: boolean, ctx: DeliveryContext, timeoutMs: number, started: number, input: HttpInput): string {
  const outer = ctx.signal;
  const where = `${input.method} ${displayUrl(input.url)}`;
  if (timedOut) return `${where} timed out after ${timeoutMs}ms`;
  if (outer.aborted) return `${where} aborted after ${Math.round(performance.now() - started)}ms (worker deadline or shutdown)`;
  const e = err as { code?: string; message?: string };
  return `${where} failed: ${e.code ? `${e.code} ` : ""}${excerpt(e.message ?? String(err), ctx, 160)}`;
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110 §10.2.3), in ms from now; undefined if absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^[0-9]+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The url without query string, fragment or userinfo, which may hold credentials. A url that does
 * not parse is shown the same way, cut textually, in quotes: the user has to see what is wrong.
 */
export function displayUrl(url: string): string {
  const u = URL.canParse(url) ? new URL(url) : undefined;
  if (u && /^https?:$/.test(u.protocol)) return `${u.protocol}//${u.host}${u.pathname}`;
  // Also for crm:secret@host/x, which parses as a "crm:" URL with the secret in its path.
  const cut = url.replace(/[?#][\s\S]*$/, "").replace(/^([A-Za-z][A-Za-z0-9+.-]*:(?:\/\/)?)?[^/@]*@/, "$1");
  return `'${snippet(cut, 200)}' (not a valid URL)`;
}

async function readPrefix(res: Response, max: number): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  while (n < max) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    n += value.byteLength;
  }
  await reader.cancel().catch(() => {});
  const buf = new Uint8Array(Math.min(n, max));
  let off = 0;
  for (const c of chunks) {
    const take = Math.min(c.byteLength, buf.byteLength - off);
    buf.set(c.subarray(0, take), off);
    off += take;
  }
  return new TextDecoder().decode(buf);
}
