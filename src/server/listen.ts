// Puts the receiver on a socket. Normally that is Elysia on Bun.serve, the fast path. But Bun.serve
// drops the body of a GET request (checked with Bun 1.4.5: request.body is null even with a
// Content-Length), while Kratos sends a body on every method but TRACE (CONTRACT §0.19, §8.16).
// When a hook uses `method: GET`, the app is served through node:http instead, which Bun implements
// with GET bodies intact; the app and its pipeline are the same.
//
// Either way a request-target with dot segments is refused before routing (raw-path.ts says why).
// On Deno the app is served by Deno.serve (app.handle per request), and through Deno's node:http
// for GET hooks: Deno.serve drops GET bodies too, its node:http keeps them (checked, Deno 2.9.6).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { sameRoute } from "../config/resolve.ts";
import type { ResolvedHook } from "../config/types.ts";
import { RUNTIME } from "../runtime.ts";
import type { ReceiverApp } from "./app.ts";
import { isNonCanonicalTarget, nonCanonicalPathResponse } from "./raw-path.ts";

export type Listening = {
  kind: "bun" | "deno" | "node";
  hostname: string;
  port: number;
  /** Stops accepting, waits up to `timeoutMs` for requests in flight, then cuts the rest. */
  stop(timeoutMs: number): Promise<void>;
};

type At = { host: string; port: number };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

export async function listen(receiver: ReceiverApp, at: At, hooks: readonly ResolvedHook[]): Promise<Listening> {
  if (hooks.some((h) => h.method === "GET")) return listenNode(receiver, at);
  return RUNTIME === "deno" ? listenDeno(receiver, at) : listenBun(receiver, at);
}

/** The parsed path, percent-decoded where that is valid (a fallback request's path, rare). */
function decodedPath(url: string): string {
  const path = new URL(url).pathname;
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

export function listenBun(receiver: ReceiverApp, at: At): Listening {
  // Bun.serve hands the handler only the parsed URL, dot segments already resolved (checked with Bun
  // 1.4.5: `GET /hooks/%2e%2e/metrics` arrives as /metrics), but it matches `routes` on the raw
  // request-target. So every path the app answers is a route, and a request that misses them all
  // while its parsed path is one of them was spelt otherwise on the wire: 400. test/security/
  // open-endpoints.test.ts sends such targets over a socket, and fails should a Bun release
  // start matching routes after resolving them.
  //
  // A hook's path goes straight to its route's handler, which answers every outcome itself (errors
  // included, hook-route.ts): routing it again through Elysia's app.handle cost ~2 µs of event-loop
  // CPU per webhook (bench/results/ack.md, seventh session). The built-in endpoints keep Elysia.
  const handle = (request: Request) => receiver.handle(request);
  const routes: Record<string, (request: Request) => Promise<Response>> = {};
  const hookHandlers = hookHandlersByPath(receiver);
  for (const path of receiver.paths) {
    const bare = sameRoute(path);
    const handler = hookHandlers.get(bare) ?? handle;
    routes[bare] = handler;
    if (bare !== "/") routes[`${bare}/`] = handler;
  }
  const known = new Set(receiver.paths.map(sameRoute));
  const server = Bun.serve({
    hostname: at.host,
    port: at.port,
    // As Elysia's listen set them.
    reusePort: true,
    idleTimeout: 30,
    development: false,
    routes,
    fetch: (request) => (known.has(sameRoute(decodedPath(request.url))) ? nonCanonicalPathResponse() : handle(request)),
  });
  return bunListening(server, at);
}

/** Each hook's handler by its path without trailing slashes (sameRoute). */
function hookHandlersByPath(receiver: Pick<ReceiverApp, "routes">): Map<string, (request: Request) => Promise<Response>> {
  return new Map(receiver.routes.map((r) => [sameRoute(r.hook.routePath), r.handle] as const));
}

/** A Bun.serve server as a Listening: stop(false) resolves once requests in flight have been answered; past the timeout the rest are cut. */
function bunListening(server: ReturnType<typeof Bun.serve>, at: At): Listening {
  return {
    kind: "bun",
    hostname: server.hostname ?? at.host,
    port: server.port ?? at.port,
    async stop(timeoutMs) {
      await Promise.race([server.stop(false), sleep(timeoutMs)]);
      await server.stop(true);
    },
  };
}

function toRequest(req: IncomingMessage): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const hasBody = headers.has("content-length") || headers.has("transfer-encoding");
  const method = req.method ?? "GET";
  const withBody = hasBody && method !== "HEAD";
  // Deno's Request refuses a GET body (the fetch spec's rule; Bun's allows it): build that one as a
  // POST and give it back its method, which is all the router and the pipeline read of it.
  const asPost = withBody && method === "GET" && RUNTIME !== "bun";
  const request = new Request(`http://localhost${req.url ?? "/"}`, {
    method: asPost ? "POST" : method,
    headers,
    ...(withBody ? { body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: "half" } : {}),
  } as RequestInit);
  if (asPost) Object.defineProperty(request, "method", { value: method });
  return request;
}

async function send(req: IncomingMessage, res: ServerResponse, response: Response): Promise<void> {
  const body = response.body ? Buffer.from(await response.arrayBuffer()) : undefined;
  const headers: Record<string, string> = {};
  response.headers.forEach((v, k) => (headers[k] = v));
  if (body) headers["content-length"] = String(body.byteLength);
  // Answered before the body was read (401, 413, 415...): the rest of it is still on the wire, so
  // the connection cannot carry another request. Say so, or a keep-alive client (Go's, fetch)
  // reuses it and sees its next request fail.
  if (!req.complete) headers.connection = "close";
  res.writeHead(response.status, headers);
  res.end(body);
}

export async function listenNode(receiver: ReceiverApp, at: At): Promise<Listening> {
  const server = createServer((req, res) => {
    // node:http gives the request-target as sent; the Request built from it would resolve it.
    if (isNonCanonicalTarget(req.url ?? "/")) {
      void send(req, res, nonCanonicalPathResponse());
      return;
    }
    let request: Request;
    try {
      request = toRequest(req);
    } catch {
      res.writeHead(400, { "content-type": "application/json" }).end('{"error":{"code":"bad_request","message":"malformed request"}}');
      return;
    }
    receiver
      .handle(request)
      .then((response) => send(req, res, response))
      .catch(() => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end('{"error":{"code":"internal","message":"internal error"}}');
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(at.port, at.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : at.port;
  return {
    kind: "node",
    hostname: at.host,
    port,
    async stop(timeoutMs) {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      await Promise.race([closed, sleep(timeoutMs)]);
      server.closeAllConnections();
      await closed;
    },
  };
}

/** The part of Deno.serve used here (the project is type-checked against Bun's types). */
type DenoServe = (
  options: { hostname: string; port: number; onListen?: () => void },
  handler: (request: Request) => Response | Promise<Response>,
) => { addr: { hostname: string; port: number }; shutdown(): Promise<void> };

/** The path and query of an absolute URL string, without parsing it (parsing resolves dot segments). */
function rawTarget(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  return start < 0 ? "/" : url.slice(start);
}

export function listenDeno(receiver: Pick<ReceiverApp, "handle"> & Partial<Pick<ReceiverApp, "routes">>, at: At): Listening {
  const serve = (globalThis as unknown as { Deno: { serve: DenoServe } }).Deno.serve;
  // A bind failure throws with the same code as Node's and Bun's (EADDRINUSE...), which serve.ts reads.
  // Deno.serve's request.url keeps the request-target as sent (checked, Deno 2.9.6: `/hooks/%2e%2e/x`
  // arrives unresolved), so its path is checked as the request line's. A hook's path, spelt as
  // declared, goes straight to its handler as on Bun.serve (listenBun); anything else through Elysia.
  const hookHandlers = receiver.routes ? hookHandlersByPath(receiver as Pick<ReceiverApp, "routes">) : undefined;
  const server = serve({ hostname: at.host, port: at.port, onListen: () => {} }, (request) => {
    const target = rawTarget(request.url);
    if (isNonCanonicalTarget(target)) return nonCanonicalPathResponse();
    if (hookHandlers) {
      const query = target.indexOf("?");
      const direct = hookHandlers.get(sameRoute(query < 0 ? target : target.slice(0, query)));
      if (direct) return direct(request);
    }
    return receiver.handle(request);
  });
  return {
    kind: "deno",
    hostname: server.addr.hostname,
    port: server.addr.port,
    async stop(timeoutMs) {
      // shutdown() resolves once requests in flight have been answered; past the timeout the
      // process exits with whatever is left (Deno.serve has no way to cut connections).
      await Promise.race([server.shutdown(), sleep(timeoutMs)]);
    },
  };
}

/**
 * A handler on an address of its own, without the receiver's routes (the admin page): Bun.serve,
 * or Deno.serve on Deno. Its stop() waits for requests in flight as the receiver's does.
 */
export function listenHandler(handle: (request: Request) => Promise<Response>, at: At): Listening {
  if (RUNTIME === "deno") return listenDeno({ handle }, at);
  return bunListening(Bun.serve({ hostname: at.host, port: at.port, development: false, fetch: handle }), at);
}
