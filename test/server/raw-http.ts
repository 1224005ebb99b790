// A tiny HTTP/1.1 client over a raw socket, so tests can send exactly the bytes Kratos's Go client
// sends (canonical header names, Content-Length framing) and things no well-behaved client sends.
import { connect } from "node:net";

export type RawResponse = { status: number; headers: Record<string, string>; body: string; raw: string };

/** Sends `bytes` and reads until the server closes the connection (send `Connection: close`). */
export function rawRequest(port: number, bytes: string | Uint8Array, timeoutMs = 5000): Promise<RawResponse | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, "127.0.0.1", () => socket.write(bytes));
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(parseResponse(Buffer.concat(chunks).toString("latin1")));
    });
  });
}

export function parseResponse(raw: string): RawResponse | undefined {
  const m = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(raw);
  if (!m) return undefined;
  const end = raw.indexOf("\r\n\r\n");
  const headers: Record<string, string> = {};
  for (const line of raw.slice(m[0].length, end < 0 ? undefined : end).split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(m[1]), headers, body: end < 0 ? "" : raw.slice(end + 4), raw };
}

/** A request as Kratos's Go client writes it (CONTRACT §4.1): canonical header names, Content-Length. */
export function goRequest(method: string, path: string, port: number, body: string, headers: Record<string, string>): string {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, "User-Agent: Go-http-client/1.1", `Content-Length: ${Buffer.byteLength(body)}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  lines.push("Accept-Encoding: gzip", "Connection: close");
  return `${lines.join("\r\n")}\r\n\r\n${body}`;
}
