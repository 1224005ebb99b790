// Request paths that name an endpoint only after dot segments are resolved are refused with 400
// before routing. A proxy in front that allows or denies by prefix (`/hooks/`) reads the raw path;
// if the receiver resolved `/hooks/%2e%2e/metrics` to `/metrics`, the proxy's rule would be
// bypassed. The URL parser (WHATWG) resolves `.`/`..`, their `%2e` spellings and `\` as `/`,
// so the check must see the bytes of the request line, never `request.url`.
import { HttpError } from "../errors.ts";
import { errorResponse } from "./hook-route.ts";

/** A `.` or `..` segment, any case of `%2e`, between `/` or `\` (the URL parser reads `\` as `/`). */
const DOT_SEGMENT = /(?:^|[/\\])(?:\.|%2e){1,2}(?=[/\\?#]|$)/i;

/** True when the request-target (as on the request line) holds a dot segment or a backslash in its path. */
export function isNonCanonicalTarget(target: string): boolean {
  const end = target.search(/[?#]/);
  const path = end < 0 ? target : target.slice(0, end);
  return path.includes("\\") || DOT_SEGMENT.test(path);
}

export function nonCanonicalPathResponse(): Response {
  return errorResponse(new HttpError(400, "bad_path", "the request path is not in plain form (a '.' or '..' segment, %2e, a backslash or a %-encoded letter); send the endpoint's path as is"));
}
