// The receiver's HTTP behaviour, served for real by each runtime: `bun src/cli.ts serve` and
// `deno run -A src/cli.ts serve` on a port of 127.0.0.1 over a SQLite file, the same requests sent
// to both over HTTP. Auth (header, cookie, basic), dedupe, rules, enrich and the 4xx shapes must
// give the same answers on Deno as on Bun; the pipeline itself is tested through app.handle in
// the other files of this folder.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { cliCommand, killLeftovers, ServeProcess, type Runtime } from "../resilience/serve-process.ts";
import { BASIC_PASSWORD, bearer, ENV, hooksKey, kratosJson, SECRET, writeTestConfig } from "./helpers.ts";
import { goRequest, rawRequest } from "./raw-http.ts";

const ID = "5ff66179-c240-4703-b0d8-494592cefff5";
const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` });

type Answer = { status: number; body: unknown; contentType: string | null };
type Send = { method?: string; headers?: Record<string, string>; body?: unknown; raw?: string; trigger?: string };

async function send(base: string, path: string, o: Send = {}): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    method: o.method ?? "POST",
    headers: {
      "Content-Type": "application/json",
      "User-Agent": "Go-http-client/1.1",
      "Ory-Webhook-Request-Id": crypto.randomUUID(),
      ...(o.trigger ? { "Ory-Webhook-Trigger-Id": o.trigger } : {}),
      ...o.headers,
    },
    body: o.method === "GET" || o.method === "HEAD" ? undefined : (o.raw ?? kratosJson(o.body ?? {})),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : "";
  } catch {
    // not JSON: compared as text
  }
  return { status: res.status, body, contentType: res.headers.get("content-type") };
}

const errorShape = (status: number, code: string, extra: Record<string, unknown> = {}) => ({
  status,
  body: { error: { code, message: expect.any(String), ...extra } },
  contentType: expect.stringContaining("application/json"),
});

for (const runtime of ["bun", "deno"] as Runtime[]) {
  describe(`serve on ${runtime}, over HTTP`, () => {
    let serve: ServeProcess;
    let dir: string;
    const at = (path: string, o?: Send) => send(serve.url, path, o);
    // Jobs enqueued so far: an in-memory counter (the jobs-by-state gauges are a snapshot refreshed every few seconds).
    const total = () => serve.metricSum("kratos_hooks_jobs_enqueued_total");

    beforeAll(async () => {
      const file = writeTestConfig();
      dir = dirname(file);
      serve = await ServeProcess.start({ config: file, store: `sqlite:${join(dir, "outbox.db")}`, env: ENV, runtime, args: ["--no-worker"] });
    });
    afterAll(async () => {
      if (serve) expect(await serve.stop()).toBe(0);
      killLeftovers();
      rmSync(dir, { recursive: true, force: true });
    });

    test("it is the runtime asked for", () => {
      expect(serve.logs("listening")[0]?.server).toBe(runtime === "deno" ? "deno" : "bun");
    });

    test("a request-target with dot segments gets 400 before routing, as sent on the wire", async () => {
      const port = Number(new URL(serve.url).port);
      for (const target of ["/hooks/%2e%2e/metrics", "/hooks/../metrics", "/hooks/.%2E/health/ready"]) {
        const res = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
        expect({ target, status: res?.status, code: res && JSON.parse(res.body).error?.code }).toEqual({ target, status: 400, code: "bad_path" });
      }
      expect((await rawRequest(port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))!.status).toBe(200);
    });

    // Deno only: Bun.serve binds with SO_REUSEPORT, so a second Bun serve shares the port instead.
    test.if(runtime === "deno")("a second serve on the same port says the address is in use, exit 2", () => {
      const r = Bun.spawnSync([...cliCommand(runtime), "serve", "--config", join(dir, "hooks.yaml"), "--store", `sqlite:${join(dir, "other.db")}`, "--listen", `127.0.0.1:${serve.port}`], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", ...ENV },
        timeout: 30_000,
      });
      // Before it: the config's warnings about hooks without auth, as JSON log lines.
      expect({ code: r.exitCode, stderr: r.stderr.toString().trimEnd().split("\n").slice(-2) }).toEqual({
        code: 2,
        stderr: [`kratos-hooks: cannot listen on 127.0.0.1:${serve.port}: the address is already in use`, "  hint: pick another address with --listen, serve.listen or KRATOS_HOOKS_LISTEN"],
      });
    }, 30_000);

    test("health and unknown paths", async () => {
      expect(await at("/health/live", { method: "GET" })).toMatchObject({ status: 200, body: { status: "ok" } });
      expect(await at("/health/ready", { method: "GET" })).toMatchObject({ status: 200, body: { status: "ok" } });
      expect(await at("/hooks/nope", { body: {} })).toMatchObject(errorShape(404, "not_found"));
    });

    test("auth: api_key header with its prefix, cookie, basic_auth; a wrong or missing credential is 401 and enqueues nothing", async () => {
      const before = await total();
      const welcome = { identity_id: crypto.randomUUID(), email: "a@b.co" };
      expect(await at("/hooks/welcome", { body: welcome })).toMatchObject(errorShape(401, "unauthorized"));
      expect(await at("/hooks/welcome", { body: welcome, headers: { Authorization: SECRET } })).toMatchObject(errorShape(401, "unauthorized"));
      expect(await at("/hooks/welcome", { body: welcome, headers: { Authorization: `Bearer ${SECRET}x` } })).toMatchObject(errorShape(401, "unauthorized"));
      expect(await at("/hooks/sync", { body: { identity_id: ID }, headers: basic("kratos", "nope") })).toMatchObject(errorShape(401, "unauthorized"));
      expect(await at("/hooks/audit", { method: "PUT", body: { identity_id: ID, session_id: ID }, headers: { Cookie: "kh_key=nope" } })).toMatchObject(errorShape(401, "unauthorized"));
      expect(await total()).toBe(before);
      expect(await at("/hooks/welcome", { body: welcome, headers: bearer })).toMatchObject({ status: 204, body: "" });
      expect(await at("/hooks/sync", { body: { identity_id: ID }, headers: basic("kratos", BASIC_PASSWORD) })).toMatchObject({ status: 204 });
      expect(await at("/hooks/audit", { method: "PUT", body: { identity_id: ID, session_id: ID }, headers: { Cookie: `a=1; kh_key=${SECRET}` } })).toMatchObject({ status: 204 });
      expect(await total()).toBe(before + 3); // welcome: email + crm; audit: log; sync has no actions
    });

    test("dedupe: a repeated Trigger-Id or dedupe key gets the first answer and enqueues nothing more; skip_if enqueues nothing", async () => {
      const trigger = crypto.randomUUID();
      const identity = crypto.randomUUID();
      const before = await total();
      expect(await at("/hooks/welcome", { body: { identity_id: identity, email: "d@b.co" }, headers: bearer, trigger })).toMatchObject({ status: 204 });
      expect(await at("/hooks/welcome", { body: { identity_id: identity, email: "d@b.co" }, headers: bearer, trigger })).toMatchObject({ status: 204 });
      // The hook's dedupe key is identity_id: another trigger for the same identity is the same webhook.
      expect(await at("/hooks/welcome", { body: { identity_id: identity, email: "other@b.co" }, headers: bearer, trigger: crypto.randomUUID() })).toMatchObject({ status: 204 });
      expect(await total()).toBe(before + 2);
      const gate = { email: "x@yopmail.com", consent: true };
      const first = await at("/hooks/gate", { body: gate, headers: hooksKey, trigger });
      expect(first.status).toBe(422);
      expect(await at("/hooks/gate", { body: gate, headers: hooksKey, trigger })).toEqual(first);
      expect(await at("/hooks/welcome", { body: { identity_id: crypto.randomUUID(), email: "bot@loadtest.example.com" }, headers: bearer })).toMatchObject({ status: 204 });
      expect(await total()).toBe(before + 2);
    });

    test("rules: a deny is 422 with exactly the Kratos messages body; an allow is 204 and enqueues the actions", async () => {
      const denied = await at("/hooks/gate", { body: { email: "a@Mailinator.com", consent: true }, headers: hooksKey });
      expect(denied).toEqual({
        status: 422,
        body: { messages: [{ instance_ptr: "#/traits/email", messages: [{ id: 9000001, text: "Please sign up with a permanent email address.", type: "error", context: { reason: "disposable" } }] }] },
        contentType: expect.stringContaining("application/json"),
      });
      expect(await at("/hooks/gate", { body: { email: "a@spam.example", consent: true }, headers: hooksKey })).toMatchObject({
        status: 422,
        body: { messages: [{ instance_ptr: "#/traits/email", messages: [{ id: 9000002, text: "This domain is blocked.", type: "error" }] }] },
      });
      expect(await at("/hooks/gate", { body: { email: "a@ok.example" }, headers: hooksKey })).toMatchObject({
        status: 422,
        body: { messages: [{ instance_ptr: "#/", messages: [{ id: 9000002, text: "Please accept the terms to continue." }] }] },
      });
      const before = await total();
      expect(await at("/hooks/gate", { body: { email: "boss@mailinator.com" }, headers: hooksKey })).toMatchObject({ status: 204 }); // vip.txt
      expect(await at("/hooks/gate", { body: { email: "a@ok.example", consent: true }, headers: hooksKey })).toMatchObject({ status: 204 });
      expect(await total()).toBe(before + 2);
    });

    test("enrich: 200 with the identity's changed metadata, from rules and a lookup file; a deny is 422", async () => {
      expect(await at("/hooks/plan", { body: { email: "ann@example.com" }, headers: hooksKey })).toMatchObject({
        status: 200,
        body: { identity: { metadata_public: { plan: "staff", contact: "ann@example.com" } } },
      });
      expect(await at("/hooks/plan", { body: { email: "bo@acme.com", current: { keep: 1 } }, headers: hooksKey })).toMatchObject({
        status: 200,
        body: { identity: { metadata_public: { keep: 1, plan: "free", org: "acme", seats: 5 } } },
      });
      expect(await at("/hooks/plan", { body: { email: "x@banned.example" }, headers: hooksKey })).toMatchObject({ status: 422 });
    });

    test("4xx shapes: invalid JSON, a missing or wrong field (named), a body over the limit, not JSON", async () => {
      expect(await at("/hooks/welcome", { raw: "{not json", headers: bearer })).toMatchObject(errorShape(400, "invalid_json"));
      expect(await at("/hooks/welcome", { body: { identity_id: ID }, headers: bearer })).toMatchObject(errorShape(400, "invalid_body", { field: "body.email" }));
      expect(await at("/hooks/welcome", { body: { identity_id: ID, email: "a@b.co", age: "x" }, headers: bearer })).toMatchObject(errorShape(400, "invalid_body", { field: "body.age" }));
      expect(await at("/hooks/welcome", { body: { identity_id: ID, email: "a@b.co", name: "n".repeat(3000) }, headers: bearer })).toMatchObject(errorShape(413, "body_too_large"));
      expect(await at("/hooks/welcome", { raw: "hello", headers: { ...bearer, "Content-Type": "text/plain" } })).toMatchObject(errorShape(415, "unsupported_media_type"));
    });
  });
}

// Kratos sends a body with GET too; Bun.serve and Deno.serve drop it, so such a config is served
// through node:http on both runtimes (src/server/listen.ts).
const GET_HOOK_YAML = `
kratos: { version: v26.2.0 }
receiver: { url: http://127.0.0.1:4459 }
hooks:
  peek:
    on: registration.after
    methods: [password]
    mode: notify
    method: GET
    body:
      identity_id: identity.id
`;

for (const runtime of ["bun", "deno"] as Runtime[]) {
  test(`serve on ${runtime}: a GET hook gets its body (node:http listener)`, async () => {
    const file = writeTestConfig(GET_HOOK_YAML);
    const serve = await ServeProcess.start({ config: file, store: `sqlite:${join(dirname(file), "outbox.db")}`, env: ENV, runtime, args: ["--no-worker"] });
    try {
      expect(serve.logs("listening")[0]?.server).toBe("node");
      const ok = await rawRequest(serve.port, goRequest("GET", "/hooks/peek", serve.port, kratosJson({ identity_id: ID }), { "Content-Type": "application/json" }));
      expect(ok?.status).toBe(204);
      const missing = await rawRequest(serve.port, goRequest("GET", "/hooks/peek", serve.port, kratosJson({}), { "Content-Type": "application/json" }));
      expect({ status: missing?.status, body: JSON.parse(missing?.body ?? "{}") }).toMatchObject({ status: 400, body: { error: { code: "invalid_body", field: "body.identity_id" } } });
    } finally {
      expect(await serve.stop()).toBe(0);
      rmSync(dirname(file), { recursive: true, force: true });
    }
  }, 30_000);
}
