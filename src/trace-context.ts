// W3C Trace Context (https://www.w3.org/TR/trace-context/), version 00: Kratos's HTTP client sends
// `traceparent` when its tracing is on (docs/kratos.md#tracing). serve keeps it with the jobs of
// the request, logs its trace id, and each http delivery sends a child: same trace id and flags,
// a new span id, so the destination's spans hang under the trace of the Kratos flow.
// The header is request input: only a well-formed value is kept, never echoed otherwise.

export const TRACEPARENT_HEADER = "traceparent";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

/** The header if it is a valid version-00 traceparent (ids not all zero), else null. */
export function parseTraceparent(value: string | null | undefined): string | null {
  if (!value) return null;
  const v = value.trim();
  const m = TRACEPARENT.exec(v);
  if (!m || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return null;
  return v;
}

/** The trace id of a valid traceparent (for logs), else undefined. */
export function traceIdOf(traceparent: string | null | undefined): string | undefined {
  return traceparent ? TRACEPARENT.exec(traceparent)?.[1] : undefined;
}

/** A child of `parent`: its trace id and flags, a fresh random span id. */
export function childTraceparent(parent: string): string {
  const m = TRACEPARENT.exec(parent);
  if (!m) throw new Error("childTraceparent: not a valid traceparent");
  let span = ZERO_SPAN;
  while (span === ZERO_SPAN) span = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");
  return `00-${m[1]}-${span}-${m[3]}`;
}
