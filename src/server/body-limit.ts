// Reads a request body up to a byte limit: a declared Content-Length over the limit is refused
// before reading anything, and a streamed (chunked) body is counted as it arrives and cancelled
// as soon as it goes over. Both answer 413.
import { HttpError } from "../errors.ts";

export function tooLarge(limit: number): HttpError {
  return new HttpError(413, "body_too_large", `request body is larger than the limit of ${limit} bytes (serve.body_limit)`);
}

const EMPTY = new Uint8Array(0);

/**
 * The body, or a rejection with the 400/413 HttpError. With a Content-Length (every request Kratos
 * sends) this is request.bytes() itself, not an async function around it: one promise and one
 * resumption less on the ack path (bench/results/ack.md, eighth session). The HTTP server frames
 * the body by Content-Length, so it cannot be longer than declared; the caller still checks the
 * length it got (hook-route.ts).
 */
export function readBodyLimited(request: Request, limit: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared === null) return readStreamLimited(request, limit);
  if (!/^\d+$/.test(declared)) return Promise.reject(new HttpError(400, "bad_content_length", "Content-Length is not a number"));
  if (Number(declared) > limit) return Promise.reject(tooLarge(limit));
  // bytes() without touching request.body: materialising the stream costs more than the read.
  return request.bytes();
}

async function readStreamLimited(request: Request, limit: number): Promise<Uint8Array> {
  const stream = request.body;
  if (!stream) return EMPTY;
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
