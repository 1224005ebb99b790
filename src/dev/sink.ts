// A development catcher, like Mailpit for email: an SMTP server and an HTTP server on loopback that
// accept whatever actions deliver, keep it in memory and print one line per delivery. `kratos-hooks
// sink` runs it alone; `serve --dev` runs it in-process where the config's actions deliver. Never
// for production: it accepts any mail and any request, and it forgets them when it stops.
import { createServer, type IncomingMessage, type Server } from "node:http";
import { SMTPServer } from "smtp-server";

export type Delivery =
  | { kind: "email"; at: string; listener: string; from: string; to: string[]; subject: string; text: string }
  | { kind: "http"; at: string; listener: string; method: string; path: string; headers: Record<string, string>; body: string };

export type Addr = { host: string; port: number };
export type SinkOptions = { http: Addr[]; smtp: Addr[]; print?: (line: string) => void };
export type Sink = { deliveries: Delivery[]; http: Addr[]; smtp: Addr[]; stop(): Promise<void> };

/** Headers the sink never records or prints: credentials that actions send on. */
const SECRET_HEADERS = new Set(["authorization", "cookie", "proxy-authorization", "x-api-key"]);

export async function startSink(opts: SinkOptions): Promise<Sink> {
  const deliveries: Delivery[] = [];
  const print = opts.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const record = (d: Delivery) => {
    deliveries.push(d);
    print(describe(d));
  };
  const closers: Array<() => Promise<void>> = [];
  const stop = async () => {
    await Promise.all(closers.splice(0).map((c) => c()));
  };
  try {
    const http: Addr[] = [];
    for (const a of opts.http) {
      let listener = ""; // host:port once bound (port 0 picks one)
      const server = createServer((req, res) => void handleHttp(req, res, listener, deliveries, record));
      const port = await listenOn(server, a);
      listener = `${a.host}:${port}`;
      closers.push(
        () =>
          new Promise((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      );
      http.push({ host: a.host, port });
    }
    const smtp: Addr[] = [];
    for (const a of opts.smtp) {
      let listener = "";
      const server = new SMTPServer({
        authOptional: true,
        disabledCommands: ["STARTTLS", "AUTH"],
        banner: "kratos-hooks sink (development only)",
        logger: false,
        onData(stream, session, done) {
          const chunks: Buffer[] = [];
          stream.on("data", (c: Buffer) => chunks.push(c));
          stream.on("end", () => {
            const mail = parseMail(Buffer.concat(chunks).toString("utf8"));
            const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
            record({ kind: "email", at: new Date().toISOString(), listener, from, to: session.envelope.rcptTo.map((r) => r.address), ...mail });
            done();
          });
        },
      });
      const port = await listenOn(server.server as unknown as Server, a, (p, h, cb) => server.listen(p, h, cb));
      listener = `${a.host}:${port}`;
      closers.push(() => new Promise((r) => server.close(() => r())));
      smtp.push({ host: a.host, port });
    }
    return { deliveries, http, smtp, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Listens and resolves the bound port (port 0 picks one); rejects with the listen error. */
function listenOn(server: Server, a: Addr, listen?: (port: number, host: string, cb: () => void) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    const done = () => {
      server.off("error", reject);
      const addr = server.address();
      resolve(typeof addr === "object" && addr ? addr.port : a.port);
    };
    if (listen) listen(a.port, a.host, done);
    else server.listen(a.port, a.host, done);
  });
}

async function handleHttp(req: IncomingMessage, res: import("node:http").ServerResponse, listener: string, deliveries: Delivery[], record: (d: Delivery) => void) {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  // The sink's own view of what it caught, for tests and curious newcomers.
  if (req.method === "GET" && req.url === "/_sink/deliveries") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(deliveries));
    return;
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !SECRET_HEADERS.has(k)) headers[k] = Array.isArray(v) ? v.join(", ") : v;
  record({ kind: "http", at: new Date().toISOString(), listener, method: req.method ?? "GET", path: req.url ?? "/", headers, body: Buffer.concat(chunks).toString("utf8") });
  res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
}

/** One line per delivery: what a newcomer wants to see arrive. */
export function describe(d: Delivery): string {
  if (d.kind === "email") {
    const first = d.text.split("\n").map((l) => l.trim()).find((l) => l !== "") ?? "";
    return `sink: email to ${d.to.join(", ")}: "${d.subject}"${first ? ` (${clip(first, 60)})` : ""} [smtp ${d.listener}]`;
  }
  return `sink: ${d.method} ${d.path}${d.body ? ` ${clip(d.body.replace(/\s+/g, " "), 100)}` : ""} [http ${d.listener}]`;
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** Subject and plain text of a message as nodemailer writes it (quoted-printable, base64, multipart/alternative). */
export function parseMail(raw: string): { subject: string; text: string } {
  const { headers, body } = splitMessage(raw);
  return { subject: decodeWords(headers.get("subject") ?? ""), text: plainText(headers, body) };
}

function splitMessage(raw: string): { headers: Map<string, string>; body: string } {
  const norm = raw.replace(/\r\n/g, "\n");
  const cut = norm.indexOf("\n\n");
  const head = cut < 0 ? norm : norm.slice(0, cut);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\n[ \t]+/g, " ").split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body: cut < 0 ? "" : norm.slice(cut + 2) };
}

function plainText(headers: Map<string, string>, body: string): string {
  const type = headers.get("content-type") ?? "text/plain";
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (/^multipart\//i.test(type) && boundary) {
    const parts = body.split(`--${boundary}`).slice(1, -1).map((p) => splitMessage(p.replace(/^\n/, "")));
    const plain = parts.find((p) => /^text\/plain/i.test(p.headers.get("content-type") ?? "text/plain")) ?? parts[0];
    return plain ? plainText(plain.headers, plain.body) : "";
  }
  const enc = (headers.get("content-transfer-encoding") ?? "").toLowerCase();
  if (enc === "base64") return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  if (enc === "quoted-printable") return qp(body);
  return body;
}

function qp(s: string): string {
  const bytes = s.replace(/=\n/g, "").replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, "latin1").toString("utf8");
}

/** RFC 2047 encoded words (=?UTF-8?Q?...?= / =?UTF-8?B?...?=), as nodemailer writes non-ASCII subjects. */
function decodeWords(s: string): string {
  return s
    .replace(/\?=\s+=\?/g, "?==?")
    .replace(/=\?([^?]+)\?([BQbq])\?([^?]*)\?=/g, (_, _cs: string, e: string, text: string) =>
      e.toUpperCase() === "B" ? Buffer.from(text, "base64").toString("utf8") : qp(text.replace(/_/g, " ")),
    );
}
