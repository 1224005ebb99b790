// Reads a request body up to a byte limit: a declared Content-Length over the limit is refused
// before reading anything, and a streamed (chunked) body is counted as it arrives and cancelled
// as soon as it goes over. Both answer 413.
import { HttpError } from "../errors.ts";

export function tooLarge(limit: number): HttpError {
  return new HttpError(413, "body_too_large", `request body is larger than the limit of ${limit} bytes (serve.body_limit)`);
}

const EMPTY = new Uint8Array(0);

export async function readBodyLimited(request: Request, limit: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    if (!/^\d+$/.test(declared)) throw new HttpError(400, "bad_content_length", "Content-Length is not a number");
    if (Number(declared) > limit) throw tooLarge(limit);
    // The HTTP server frames the body by Content-Length, so it cannot be longer than declared.
    // bytes() without touching request.body: materialising the stream costs more than the read.
    const bytes = await request.bytes();
    if (bytes.byteLength > limit) throw tooLarge(limit);
    return bytes;
  }
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
