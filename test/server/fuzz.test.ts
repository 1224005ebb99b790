// Fuzz-style robustness: thousands of malformed requests (bad JSON, wrong types, huge bodies, odd
// methods, bad auth, random bytes, wrong content types) against the real server over HTTP with a
// real SQLite store. The server never crashes, never answers an unintended 5xx, and still serves
// good requests afterwards. Seeded, so a failure reproduces.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GroupCommitter } from "../../src/outbox/group-commit.ts";
import { openStore } from "../../src/outbox/open-store.ts";
import type { Store } from "../../src/outbox/store.ts";
import { createApp, type ReceiverApp } from "../../src/server/app.ts";
import { listen, type Listening } from "../../src/server/listen.ts";
import { memoryLogger } from "../../src/server/log.ts";
import { ENV, kratosJson, loadTestConfig, SECRET } from "./helpers.ts";
import { goRequest, rawRequest } from "./raw-http.ts";

let store: Store;
let committer: GroupCommitter;
let receiver: ReceiverApp;
/** The listener under test; `port`/`base` follow it (the request makers read them at send time). */
let server: Listening;
let port: number;
let base: string;

async function serveOn(kind: "bun" | "node") {
  const config = receiver.routes.map((r) => r.hook);
  // A GET hook makes listen() pick node:http (Bun.serve drops GET bodies).
  server = await listen(receiver, { host: "127.0.0.1", port: 0 }, kind === "node" ? [...config, { ...config[0]!, method: "GET" }] : config);
  expect(server.kind).toBe(kind);
  port = server.port;
  base = `http://127.0.0.1:${port}`;
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "kh-fuzz-"));
  store = await openStore(`sqlite:${join(dir, "outbox.db")}`, { synchronous: "normal" });
  committer = new GroupCommitter(store, { maxWaitMs: 1 });
  receiver = createApp({ config: loadTestConfig(), accept: (a) => committer.accept(a), store, env: ENV, log: memoryLogger("error") });
});

afterAll(async () => {
  await committer.close();
  await store.close();
});

// mulberry32: small, seeded.
function rng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(20261128);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
const randomValue = (depth = 0): unknown => {
  switch (int(depth > 2 ? 5 : 7)) {
    case 0: return null;
    case 1: return rand() < 0.5;
    case 2: return int(1e6) - 5e5 + rand();
    case 3: return "x".repeat(int(40));
    case 4: return String.fromCharCode(...Array.from({ length: int(12) }, () => int(0xd7ff)));
    case 5: return Array.from({ length: int(4) }, () => randomValue(depth + 1));
    default: return Object.fromEntries(Array.from({ length: int(4) }, (_, i) => [`k${i}`, randomValue(depth + 1)]));
  }
};

const HOOKS = ["/hooks/welcome", "/hooks/gate", "/hooks/plan", "/hooks/audit", "/hooks/sync", "/hooks/raw", "/hooks/open", "/custom/typed"];
const GOOD_AUTH: Record<string, Record<string, string>> = {
  "/hooks/welcome": { Authorization: `Bearer ${SECRET}` },
  "/hooks/gate": { "X-Hooks-Key": SECRET },
  "/hooks/plan": { "X-Hooks-Key": SECRET },
  "/hooks/audit": { Cookie: `kh_key=${SECRET}` },
  "/hooks/sync": { Authorization: `Basic ${Buffer.from(`kratos:${ENV.TEST_BASIC_PASSWORD}`).toString("base64")}` },
};
const goodBody = { identity_id: "5ff66179-c240-4703-b0d8-494592cefff5", email: "a@example.org" };

type Case = { kind: string; run: () => Promise<number | undefined>; allowed: (s: number | undefined) => boolean };

function fetchCase(kind: string, allowed: (s: number | undefined) => boolean, init: () => { path: string; method?: string; headers?: Record<string, string>; body?: RequestInit["body"] }): Case {
  return {
    kind,
    allowed,
    run: async () => {
      const { path, method = "POST", headers = {}, body } = init();
      const res = await fetch(base + path, { method, headers, body, keepalive: true });
      await res.arrayBuffer();
      return res.status;
    },
  };
}
const authFor = (path: string) => GOOD_AUTH[path] ?? {};
const json = { "Content-Type": "application/json" };
const under500 = (s: number | undefined) => s !== undefined && s < 500;

const makers: Array<() => Case> = [
  // Bad JSON: truncated or corrupted valid bodies.
  () => fetchCase("bad-json", (s) => s === 400, () => {
    const path = pick(HOOKS);
    const text = kratosJson(goodBody);
    const cut = text.slice(0, 1 + int(text.length - 3));
    return { path, headers: { ...json, ...authFor(path) }, body: rand() < 0.5 ? cut : text.replace(/[":,{}]/, pick(["'", "", "}}", "\u0000", ";"])) };
  }),
  // Wrong types for declared fields, random extra fields.
  () => fetchCase("wrong-types", (s) => s === 400 || s === 204 || s === 200 || s === 422, () => {
    const path = pick(HOOKS);
    const body = { identity_id: randomValue(), email: randomValue(), consent: randomValue(), [`x${int(5)}`]: randomValue() };
    return { path, headers: { ...json, ...authFor(path) }, body: JSON.stringify(rand() < 0.1 ? randomValue() : body) };
  }),
  // Huge bodies, declared or streamed, with good credentials and a JSON content type: exactly 413
  // (the body limit runs after auth and the content type; every size is over serve.body_limit).
  () => fetchCase("huge", (s) => s === 413, () => {
    const path = pick(HOOKS);
    const size = 2049 + int(200_000);
    const body = rand() < 0.5 ? "x".repeat(size) : new Blob([randomBytes(size)]).stream();
    return { path, headers: { ...json, ...authFor(path) }, body };
  }),
  // Odd methods that fetch can send.
  () => fetchCase("methods", under500, () => {
    const path = pick(HOOKS);
    const method = pick(["PUT", "PATCH", "DELETE", "OPTIONS", "GET", "HEAD", "TRACE"]);
    return { path, method, headers: { ...json, ...authFor(path) }, body: method === "GET" || method === "HEAD" || method === "TRACE" ? null : kratosJson(goodBody) };
  }),
  // Bad auth: wrong secret, wrong place, garbage Authorization → exactly 401, whatever else is wrong
  // with the request: auth comes right after the method and draining checks (hook-route.ts), so a
  // wrong content type or broken JSON is never looked at. TRACE is refused (405) before auth. This
  // app never drains, so no 503. Any other answer (a 2xx above all) is an auth bypass.
  () => {
    const variant = pick(["plain", "plain", "wrong-content-type", "bad-json", "trace"] as const);
    return fetchCase(`bad-auth-${variant}`, variant === "trace" ? (s) => s === 405 : (s) => s === 401, () => {
      const path = pick(Object.keys(GOOD_AUTH));
      const headers = pick([
        { Authorization: `Bearer ${SECRET}x` },
        { Authorization: `Basic ${Buffer.from(randomBytes(int(30))).toString("base64")}` },
        { Authorization: "Basic" },
        { Authorization: "Basic !!!" },
        { "X-Hooks-Key": SECRET.slice(1) },
        { Cookie: `kh_key="${SECRET}` },
        { Cookie: ";;;=;" },
        { Cookie: `kh_key=${SECRET.toUpperCase()}` },
        {},
      ]) as Record<string, string>;
      if (variant === "trace") return { path, method: "TRACE", headers: { ...json, ...headers } };
      const contentType = variant === "wrong-content-type" ? { "Content-Type": "text/plain" } : json;
      return { path, headers: { ...contentType, ...headers }, body: variant === "bad-json" ? kratosJson(goodBody).slice(0, 20) : kratosJson(goodBody) };
    });
  },
  // Deeply nested JSON (recursive work on the body must not overflow the stack).
  () => fetchCase("deep", (s) => s === 400 || s === 413, () => {
    const d = 129 + int(900);
    return { path: "/hooks/raw", headers: json, body: `{"a":${"[".repeat(d)}${"]".repeat(d)}}` };
  }),
  // Random bytes as the body.
  () => fetchCase("random-body", under500, () => {
    const path = pick(HOOKS);
    return { path, headers: { ...json, ...authFor(path) }, body: randomBytes(int(3000)) };
  }),
  // Wrong content types with good credentials: exactly 415 (checked right after auth).
  () => fetchCase("content-type", (s) => s === 415, () => {
    const path = pick(HOOKS);
    const ct = pick(["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "image/png", "json", "application/jsonx"]);
    return { path, headers: { ...authFor(path), "Content-Type": ct }, body: kratosJson(goodBody) };
  }),
  // Raw sockets: random bytes, broken request lines, lying Content-Length, unknown methods.
  // Bun's HTTP parser answers some garbage itself before the app runs (400, or 505 for a request
  // line with a bad HTTP version) or just closes the connection.
  () => ({
    kind: "raw",
    allowed: (s) => s === undefined || s < 500 || s === 505,
    run: async () => {
      const path = pick(HOOKS);
      const bytes = pick([
        () => randomBytes(1 + int(500)),
        () => `${pick(["FOO", "BREW", "G E T", "POST", "\u0000"])} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
        () => `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${pick(["-1", "abc", "99999999999999999999", "5, 6"])}\r\nConnection: close\r\n\r\n{}`,
        () => `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
        () => goRequest("POST", path, port, kratosJson(goodBody), { "Content-Type": "application/json", ...authFor(path), "X-Junk": "a".repeat(int(9000)) }),
        () => `POST ${path}?${"q=1&".repeat(int(200))} HTTP/1.1\r\nHost: ${"h".repeat(int(300))}\r\nConnection: close\r\n\r\n`,
      ])();
      return (await rawRequest(port, bytes, 3000))?.status;
    },
  }),
];

async function fuzz(TOTAL: number) {
  const cases = Array.from({ length: TOTAL }, (_, i) => makers[i % makers.length]!());
  const unexpected: string[] = [];
  const byKind = new Map<string, Map<string, number>>();
  let next = 0;
  const workerLoop = async () => {
    while (next < cases.length) {
      const c = cases[next++]!;
      let status: number | undefined;
      try {
        status = await c.run();
      } catch {
        status = undefined; // the server may close a connection on garbage; fetch then throws
      }
      const tally = byKind.get(c.kind) ?? new Map<string, number>();
      tally.set(String(status), (tally.get(String(status)) ?? 0) + 1);
      byKind.set(c.kind, tally);
      if (!c.allowed(status) && unexpected.length < 20) unexpected.push(`${c.kind}: ${status}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, workerLoop));

  if (process.env.FUZZ_REPORT) console.log(Object.fromEntries([...byKind].map(([k, m]) => [k, Object.fromEntries(m)])));
  // Every request that reached the app got a 4xx/2xx; no 5xx came from kratos-hooks.
  const appStatuses = [...byKind].filter(([kind]) => kind !== "raw").flatMap(([, m]) => [...m.keys()]);
  expect(appStatuses.filter((s) => s === "undefined" || Number(s) >= 500)).toEqual([]);
  expect(unexpected).toEqual([]);
  expect([...byKind.values()].reduce((n, m) => n + [...m.values()].reduce((a, b) => a + b, 0), 0)).toBe(TOTAL);

  // Still healthy and still doing its job.
  expect((await fetch(`${base}/health/live`)).status).toBe(200);
  expect((await fetch(`${base}/health/ready`)).status).toBe(200);
  const id = crypto.randomUUID();
  const res = await fetch(`${base}/hooks/welcome`, { method: "POST", headers: { ...json, ...GOOD_AUTH["/hooks/welcome"] }, body: kratosJson({ identity_id: id, email: "after@fuzz.org" }) });
  expect(res.status).toBe(204);
  const jobs = await store.listJobs({ hook: "welcome" });
  expect(jobs.some((j) => (j.payload as { body: { identity_id: string } }).body.identity_id === id)).toBe(true);
}

test("5,000+ malformed requests on Bun.serve: no crash, no unintended 5xx, good requests still served", async () => {
  await serveOn("bun");
  try {
    await fuzz(5600);
  } finally {
    await server.stop(1000);
  }
}, 90_000);

test("the node:http listener (hooks with method GET) holds up the same way", async () => {
  await serveOn("node");
  try {
    await fuzz(1800);
  } finally {
    await server.stop(1000);
  }
}, 90_000);
