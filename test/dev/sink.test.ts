// The development catcher and the first run it makes possible: a real SMTP conversation
// (nodemailer → the sink), real HTTP, and `serve --dev` end to end over config/hooks.yaml, as the
// README's first command runs it (ports moved to free ones: the machine is shared).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { startSink, type Sink } from "../../src/dev/sink.ts";
import { freePort } from "../outbox/fixtures.ts";

const REPO = join(import.meta.dir, "../..");
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("kratos-hooks sink", () => {
  let sink: Sink;
  const printed: string[] = [];
  afterAll(() => sink?.stop());

  test("records and prints a mail sent over a real SMTP conversation", async () => {
    sink = await startSink({ http: [{ host: "127.0.0.1", port: 0 }], smtp: [{ host: "127.0.0.1", port: 0 }], print: (l) => printed.push(l) });
    const transport = nodemailer.createTransport({ host: "127.0.0.1", port: sink.smtp[0]!.port, secure: false, ignoreTLS: true });
    await transport.sendMail({ from: "Example <hi@example.com>", to: "ada@example.org", subject: "Grüße, Ada", text: "Hi Ada,\n\nthanks for signing up. Ünïcode survives.", html: "<p>Hi Ada</p>" });
    transport.close();
    const mail = sink.deliveries.find((d) => d.kind === "email");
    expect(mail).toMatchObject({ kind: "email", from: "hi@example.com", to: ["ada@example.org"], subject: "Grüße, Ada" });
    expect(mail!.kind === "email" && mail!.text).toContain("Ünïcode survives.");
    expect(printed).toContain(`sink: email to ada@example.org: "Grüße, Ada" (Hi Ada,) [smtp 127.0.0.1:${sink.smtp[0]!.port}]`);
  });

  test("answers HTTP 200, records the request without its credentials, and lists what it caught", async () => {
    const base = `http://127.0.0.1:${sink.http[0]!.port}`;
    const res = await fetch(`${base}/contacts?x=1`, { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer s3cret-token" }, body: '{"email":"ada@example.org"}' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    const list = (await (await fetch(`${base}/_sink/deliveries`)).json()) as Array<Record<string, unknown>>;
    const call = list.find((d) => d.kind === "http")!;
    expect(call).toMatchObject({ method: "POST", path: "/contacts?x=1", body: '{"email":"ada@example.org"}' });
    expect(JSON.stringify(list)).not.toContain("s3cret-token");
    expect(printed.join("\n")).not.toContain("s3cret-token");
    expect(printed.at(-1)).toBe(`sink: POST /contacts?x=1 {"email":"ada@example.org"} [http 127.0.0.1:${sink.http[0]!.port}]`);
  });

  test("a port in use is one clear error from the command, exit 2", async () => {
    const busy = sink.http[0]!.port;
    const r = Bun.spawnSync(["bun", join(REPO, "src/cli.ts"), "sink", "--http", `127.0.0.1:${busy}`, "--smtp", "127.0.0.1:0"], { cwd: REPO });
    expect(r.exitCode).toBe(2);
    expect(r.stderr.toString()).toStartWith("kratos-hooks: sink: cannot listen:");
    expect(r.stderr.toString()).not.toContain("    at ");
  });
});

describe("serve --dev: the README's first run", () => {
  test("a sample webhook is accepted and its email and CRM call are delivered to the sink, with no error line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kh-dev-"));
    dirs.push(dir);
    const [listen, crm, smtp] = [freePort(), freePort(), freePort()];
    const text = readFileSync(join(REPO, "config/hooks.yaml"), "utf8").replaceAll("127.0.0.1:4459", `127.0.0.1:${listen}`).replaceAll("127.0.0.1:4460", `127.0.0.1:${crm}`).replace("port: 2525", `port: ${smtp}`).replace(`http://127.0.0.1:${crm}/audit`, "https://audit.example.invalid/audit");
    expect(text).not.toContain("4460");
    writeFileSync(join(dir, "hooks.yaml"), text);
    const proc = Bun.spawn(["bun", join(REPO, "src/cli.ts"), "serve", "--config", join(dir, "hooks.yaml"), "--store", `sqlite:${join(dir, "var/kh.db")}`, "--dev"], {
      cwd: dir,
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? dir, KRATOS_HOOKS_SECRET: "dev-secret", KRATOS_HOOKS_BASIC_PASSWORD: "dev-password", CRM_TOKEN: "dev-token" },
      stdout: "pipe",
      stderr: "pipe",
    });
    let out = "";
    const reader = (async () => {
      for await (const chunk of proc.stdout) out += new TextDecoder().decode(chunk);
    })();
    const started = Date.now();
    const want = [`sink: email to ada@example.org: "Welcome to Example"`, "sink: POST /contacts ", `sink: email to ada@example.org: "Your account was recovered"`, "sink: PATCH /contacts/"];
    while (!want.every((w) => out.includes(w)) && Date.now() - started < 15_000) await Bun.sleep(50);
    const seconds = (Date.now() - started) / 1000;
    proc.kill("SIGTERM");
    const code = await proc.exited;
    await reader;
    const err = await new Response(proc.stderr).text();
    for (const w of want) expect(out).toContain(w);
    expect(out).toContain(`dev: sample webhook for welcome (registration.after) → /hooks/welcome: 204`);
    expect(seconds).toBeLessThan(10);
    // A dev run never reaches anything real: no sample for a hook whose action the sink would not catch.
    expect(out).toContain("dev: no sample webhook for login-audit: action login-audit.audit delivers to https://audit.example.invalid outside the sink");
    expect(out).toContain("dev: no sample webhook for verified: action verified.provision runs a command");
    expect(out).not.toContain("/audit ");
    expect(err).toBe("");
    const levels = out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l).level as string);
    expect(levels.length).toBeGreaterThan(5);
    expect(levels.filter((l) => l !== "info")).toEqual([]);
    expect(out).not.toMatch(/ECONNREFUSED|error/i);
    // The secret never reaches what the sink prints (the CRM call carries it in Authorization).
    expect(out).not.toContain("dev-token");
    expect(code).toBe(0);
  }, 30_000);
});
