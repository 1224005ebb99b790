// Header names a web_hook cannot set on the request Kratos sends, through `headers` or as the
// api_key auth header (CONTRACT §2.3, §4.1). Kratos adds the configured headers to a Go request:
// Go writes Host, Content-Length, Transfer-Encoding and Trailer from the request itself and drops
// such header values; hop-by-hop headers steer the connection, not the receiver; and Kratos sets
// the Ory-Webhook-* ids per attempt and per execution, which the receiver dedupes retries on.

export type HeaderProblem = { why: string; hint: string };

const GO_WRITES_ITSELF = ["Host", "Content-Length", "Transfer-Encoding", "Trailer"];
const HOP_BY_HOP = ["Connection", "Keep-Alive", "Proxy-Connection", "Upgrade", "Te"];
const KRATOS_IDS = ["Ory-Webhook-Request-Id", "Ory-Webhook-Trigger-Id"];

/** Why a header named `name` must not be configured for Kratos to send, or undefined when it may be. */
export function outgoingHeaderProblem(name: string): HeaderProblem | undefined {
  const is = (list: string[]) => list.some((h) => h.toLowerCase() === name.toLowerCase());
  if (is(GO_WRITES_ITSELF)) return { why: `Kratos's HTTP client (Go) writes ${name} from the request itself and drops a configured value`, hint: `remove it: ${name.toLowerCase() === "host" ? "the receiver's address comes from receiver.url" : "Go sets it from the body it sends"} (docs/kratos.md#the-request)` };
  if (is(HOP_BY_HOP)) return { why: `${name} is a hop-by-hop header: it steers Kratos's connection, not the receiver`, hint: "remove it (docs/kratos.md#the-request)" };
  if (is(KRATOS_IDS)) {
    return {
      why: `${name} is Kratos's own id of each call; the receiver dedupes Kratos's retries on Ory-Webhook-Trigger-Id`,
      hint: "remove it: a fixed value would make every event a retry of the first where Kratos sends none (before v25.4.0, or with emit_analytics_event: false) (docs/kratos.md#retries)",
    };
  }
  return undefined;
}

/**
 * Go's transport refuses a header value holding a control character other than tab ("invalid
 * header field value"), before anything is sent and without a retry: every call fails.
 */
export function headerValueProblem(value: string): HeaderProblem | undefined {
  const bad = /[\x00-\x08\x0a-\x1f\x7f]/.exec(value);
  if (!bad) return undefined;
  const code = bad[0].charCodeAt(0);
  const shown = code === 10 ? "a line break" : code === 13 ? "a carriage return" : `control character U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
  return { why: `it holds ${shown}, and Kratos's HTTP client (Go) refuses to send such a header, so every call would fail`, hint: "keep a header value on one line, without control characters (docs/kratos.md#the-request)" };
}
