// `kratos-hooks serve` as a real process: startup checks, a Kratos-shaped delivery answered after
// the commit and delivered by the worker, health and metrics, and a graceful SIGTERM (exit 0).
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { kratosJson } from "./helpers.ts";

const CLI = join(import.meta.dir, "../../src/cli.ts");
const SECRET = "serve-test-secret-value";
const started: Subprocess[] = [];

afterEach(() => {
  for (const p of started.splice(0)) if (p.exitCode === null) p.kill("SIGKILL");
});

function setup(extra = "") {
  const dir = mkdtempSync(join(tmpdir(), "kh-serve-"));
  const out = join(dir, "delivered.jsonl");
  const yaml = `
kratos: { version: v26.2.0 }
receiver: { url: http://127.0.0.1:4459 }
serve:
  listen: 127.0.0.1:0
  store: sqlite:${join(dir, "outbox.db")}
  poll: 50ms
  shutdown_timeout: 5s
hooks:
  welcome:
    on: registration.after
    methods: [password]
    mode: notify
    auth: { type: api_key, in: header, name: X-Secret, secret_env: SERVE_TEST_SECRET }
    body:
      identity_id: identity.id
      email: { from: identity.traits.email, format: email }
    actions:
      - name: record
        exec: { command: [/bin/sh, -c, "cat >> ${out}"] }
${extra}`;
  const file = join(dir, "hooks.yaml");
  writeFileSync(file, yaml);
  return { dir, file, out };
}

function spawnServe(file: string, env: Record<string, string>) {
  const proc = Bun.spawn(["bun", CLI, "serve", "--config", file], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  started.push(proc);
  return proc;
}

/** Reads JSON log lines from stdout until one matches; returns it and the reader for later lines. */
async function waitForLine(proc: Subprocess<"ignore", "pipe", "pipe">, msg: string, timeoutMs = 15_000) {
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const lines: Record<string, unknown>[] = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>;
      buffer = buffer.slice(nl + 1);
      lines.push(line);
      if (line.msg === msg) {
        reader.releaseLock();
        return { line, lines };
      }
    }
  }
  throw new Error(`no '${msg}' log line; got ${JSON.stringify(lines)}`);
}

async function readRest(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text;
    text += new TextDecoder().decode(value);
  }
}

async function waitFor(cond: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await Bun.sleep(25);
  }
}

describe("kratos-hooks serve", () => {
  test("receives, commits, delivers, reports, and stops on SIGTERM with exit 0", async () => {
    const { file, out } = setup();
    const proc = spawnServe(file, { SERVE_TEST_SECRET: SECRET });
    const { line } = await waitForLine(proc, "listening");
    const base = `http://127.0.0.1:${line.port}`;
    expect(line.server).toBe("bun");
    expect(line).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+/), store_kind: "sqlite", retention: { done: "7d", dead: "30d" } });

    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const identity = crypto.randomUUID();
    const trigger = crypto.randomUUID();
    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await fetch(`${base}/hooks/welcome`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Secret": SECRET, "Ory-Webhook-Request-Id": crypto.randomUUID(), "Ory-Webhook-Trigger-Id": trigger, "User-Agent": "Go-http-client/1.1", traceparent },
        body: kratosJson({ identity_id: identity, email: "ann@example.org" }),
      });
      expect(res.status).toBe(204);
    }
    await waitFor(() => existsSync(out) && readFileSync(out, "utf8").includes(identity));
    // One delivery for three attempts: the stdin JSON of the exec action holds the body once.
    expect(readFileSync(out, "utf8").split(identity).length - 1).toBe(1);

    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    // The delivered event follows the exec's write (after the job is marked done): poll for it.
    const delivered = 'kratos_hooks_delivery_attempts_total{action="welcome.record",result="ok"} 1';
    let metrics = "";
    for (let i = 0; i < 200 && !metrics.includes(delivered); i++) {
      if (i > 0) await Bun.sleep(25);
      metrics = await (await fetch(`${base}/metrics`)).text();
    }
    expect(metrics).toContain('kratos_hooks_requests_total{hook="welcome",status="204"} 3');
    expect(metrics).toContain('kratos_hooks_dedupe_hits_total{hook="welcome"} 2');
    expect(metrics).toContain(delivered);

    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    const rest = await readRest(proc.stdout);
    expect(rest).toContain('"msg":"stopped"');
    // The request lines and the job's line join on the trigger id and on Kratos's trace id.
    const logged = rest.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged.filter((l) => l.msg === "request")).toHaveLength(3);
    expect(logged.filter((l) => l.msg === "request").every((l) => l.trigger_id === trigger && l.trace_id === "4bf92f3577b34da6a3ce929d0e0e4736")).toBe(true);
    expect(logged.find((l) => l.msg === "job delivered")).toMatchObject({ hook: "welcome", action: "welcome.record", trigger_id: trigger, trace_id: "4bf92f3577b34da6a3ce929d0e0e4736", job_id: expect.any(String) });
    const stderr = await new Response(proc.stderr).text();
    expect(rest + stderr).not.toContain(SECRET);
    // The job is found by the identity the webhook was about, and by its trigger id.
    const list = (...args: string[]) => JSON.parse(Bun.spawnSync([process.execPath, CLI, "outbox", "list", "--config", file, "--json", ...args], { stdout: "pipe" }).stdout.toString()) as Array<{ triggerId: string; identityId: string; traceparent: string }>;
    expect(list("--identity-id", identity)).toEqual([expect.objectContaining({ triggerId: trigger, identityId: identity, traceparent })]);
    expect(list("--trigger-id", trigger)).toHaveLength(1);
  }, 30_000);

  test("refuses to start when a secret env var is unset, naming it", async () => {
    const { file } = setup();
    const proc = spawnServe(file, {});
    expect(await proc.exited).toBe(1);
    const stderr = await new Response(proc.stderr).text();
    expect(stderr).toContain("SERVE_TEST_SECRET is not set");
    expect(stderr).toContain("hooks.welcome.auth.secret_env");
  }, 30_000);

  test("refuses to start listing every env var it lacks (auth and actions), each with its location; nothing is created", async () => {
    const { dir, file } = setup(`  crm:
    on: login.after
    auth: { type: basic_auth, user: kratos, password_env: SERVE_TEST_PASSWORD }
    body:
      email: identity.traits.email
    actions:
      - http: { url: "https://crm.example.com/{{ env.CRM_PATH }}", headers: { Authorization: "Bearer {{ env.CRM_TOKEN }}" } }
`);
    const proc = spawnServe(file, {});
    expect(await proc.exited).toBe(1);
    const stderr = await new Response(proc.stderr).text();
    const firsts = stderr.split("\n").filter((l) => l && !l.startsWith("  hint:"));
    expect(firsts).toEqual([
      `${file}:14:68: hooks.welcome.auth.secret_env: environment variable SERVE_TEST_SECRET is not set (the api key of hook 'welcome')`,
      `${file}:23:59: hooks.crm.auth.password_env: environment variable SERVE_TEST_PASSWORD is not set (the basic auth password of hook 'crm')`,
      `${file}:27:22: hooks.crm.actions[0].http.url: environment variable CRM_PATH is not set (action 0 of hook 'crm')`,
      `${file}:27:94: hooks.crm.actions[0].http.headers.Authorization: environment variable CRM_TOKEN is not set (action 0 of hook 'crm')`,
    ]);
    expect(existsSync(join(dir, "outbox.db"))).toBe(false);
  }, 30_000);

  test("a hook with method GET is served through node:http so its body arrives", async () => {
    const { file } = setup(`  probe:
    on: login.after
    mode: notify
    method: GET
    body:
      identity_id: identity.id
`);
    const proc = spawnServe(file, { SERVE_TEST_SECRET: SECRET });
    const { line } = await waitForLine(proc, "listening");
    expect(line.server).toBe("node");
    const { goRequest, rawRequest } = await import("./raw-http.ts");
    const port = Number(line.port);
    const res = await rawRequest(port, goRequest("GET", "/hooks/probe", port, kratosJson({ identity_id: crypto.randomUUID() }), { "Content-Type": "application/json" }));
    expect(res!.status).toBe(204);
    const bad = await rawRequest(port, goRequest("GET", "/hooks/probe", port, kratosJson({ identity_id: 5 }), { "Content-Type": "application/json" }));
    expect(bad!.status).toBe(400);
    expect(bad!.body).toContain("body.identity_id");
    proc.kill("SIGINT");
    expect(await proc.exited).toBe(0);
  }, 30_000);
});

test("an address already in use is a clear error, not a stack trace", async () => {
  const busy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  try {
    const { file } = setup();
    const proc = Bun.spawn(["bun", CLI, "serve", "--config", file, "--listen", `127.0.0.1:${busy.port}`], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", SERVE_TEST_SECRET: SECRET },
      stdout: "pipe",
      stderr: "pipe",
    });
    started.push(proc);
    expect(await proc.exited).toBe(2);
    const stderr = await new Response(proc.stderr).text();
    expect(stderr).toContain(`cannot listen on 127.0.0.1:${busy.port}: the address is already in use`);
    expect(stderr).not.toContain("    at ");
  } finally {
    busy.stop(true);
  }
}, 30_000);
