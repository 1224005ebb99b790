import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import { buildJobPayload, deliver, DeliveryError } from "../../src/actions/index.ts";
import { closeEmailTransports } from "../../src/actions/email.ts";
import type { SmtpDecl } from "../../src/config/model.ts";
import { deliveryContext, emailAction } from "./helpers.ts";

type Received = { from: string; to: string[]; raw: string; user?: string; authMethod?: string; secure: boolean };

/** A real SMTP server on 127.0.0.1 that records what it receives. */
async function startSmtp(opts: Partial<SMTPServerOptions>) {
  const received: Received[] = [];
  const auths: { method: string; user: string }[] = [];
  const server = new SMTPServer({
    logger: false,
    disableReverseLookup: true,
    onAuth(auth, _session, cb) {
      auths.push({ method: auth.method, user: auth.username ?? "" });
      if (auth.username === "mailer" && auth.password === "smtp-pa55word") cb(null, { user: auth.username });
      else cb(Object.assign(new Error("Invalid username or password"), { responseCode: 535 }));
    },
    onRcptTo(address, _session, cb) {
      if (address.address.endsWith("@bounce.example")) cb(Object.assign(new Error("mailbox unavailable"), { responseCode: 550 }));
      else cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString("utf8"),
          user: session.user as string | undefined,
          secure: session.secure,
        });
        cb();
      });
    },
    ...opts,
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as { port: number }).port;
  return { server, port, received, auths, close: () => new Promise<void>((r) => server.close(() => r())) };
}

let dir = "";
let key = "";
let cert = "";
let plain: Awaited<ReturnType<typeof startSmtp>>;
let starttls: Awaited<ReturnType<typeof startSmtp>>;
let implicit: Awaited<ReturnType<typeof startSmtp>>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kh-smtp-"));
  // A self-signed certificate made for this run.
  const p = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1"], { stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`openssl failed: ${p.stderr.toString()}`);
  key = readFileSync(join(dir, "key.pem"), "utf8");
  cert = readFileSync(join(dir, "cert.pem"), "utf8");
  plain = await startSmtp({ authMethods: ["LOGIN"], allowInsecureAuth: true, hideSTARTTLS: true });
  starttls = await startSmtp({ authMethods: ["PLAIN"], key, cert });
  implicit = await startSmtp({ secure: true, authMethods: ["PLAIN", "LOGIN"], key, cert });
});

afterAll(async () => {
  closeEmailTransports();
  await Promise.all([plain.close(), starttls.close(), implicit.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const env = { SMTP_PASSWORD: "smtp-pa55word" };
const body = { email: "ada@example.com", name: "Ada" };

async function send(smtp: SmtpDecl, over: Parameters<typeof emailAction>[0] = {}, jobId = "0190aaaa-0000-7000-8000-000000000001", b: unknown = body) {
  const action = emailAction({ smtp, ...over });
  const payload = buildJobPayload(action, { body: b, hook: "welcome", jobId });
  try {
    await deliver(action, payload, deliveryContext({ jobId, env, action: action.id }));
    return undefined;
  } catch (err) {
    return err as DeliveryError;
  }
}

describe("email action", () => {
  test("plain SMTP with AUTH LOGIN: envelope, subject, body and Message-ID from the job id", async () => {
    const smtp: SmtpDecl = { host: "127.0.0.1", port: plain.port, security: "none", user: "mailer", password_env: "SMTP_PASSWORD", from: "Example <welcome@example.com>" };
    const err = await send(smtp, { subject: "Welcome {{body.name}}", text: "Hi {{body.name}}, your account {{body.email}} is ready." });
    expect(err).toBeUndefined();
    expect(plain.auths.at(-1)).toEqual({ method: "LOGIN", user: "mailer" });
    const m = plain.received.at(-1)!;
    expect(m.from).toBe("welcome@example.com");
    expect(m.to).toEqual(["ada@example.com"]);
    expect(m.user).toBe("mailer");
    expect(m.secure).toBe(false);
    expect(m.raw).toContain("Subject: Welcome Ada");
    expect(m.raw).toContain("Hi Ada, your account ada@example.com is ready.");
    expect(m.raw).toContain("Message-ID: <0190aaaa-0000-7000-8000-000000000001@example.com>");
  });

  test("a redelivery of the same job carries the same Message-ID", async () => {
    const smtp: SmtpDecl = { host: "127.0.0.1", port: plain.port, security: "none", user: "mailer", password_env: "SMTP_PASSWORD", from: "welcome@example.com" };
    await send(smtp, {}, "job-redo");
    await send(smtp, {}, "job-redo");
    const ids = plain.received.slice(-2).map((m) => /Message-ID: (\S+)/i.exec(m.raw)?.[1]);
    expect(ids).toEqual(["<job-redo@example.com>", "<job-redo@example.com>"]);
  });

  test("STARTTLS with a self-signed certificate and AUTH PLAIN, html part", async () => {
    const smtp: SmtpDecl = { host: "127.0.0.1", port: starttls.port, security: "starttls", user: "mailer", password_env: "SMTP_PASSWORD", tls_reject_unauthorized: false };
    const err = await send(smtp, { from: "Notices <notices@example.org>", subject: "Recovered", text: undefined, html: "<p>Hello {{body.name}}</p>" });
    expect(err).toBeUndefined();
    expect(starttls.auths.at(-1)).toEqual({ method: "PLAIN", user: "mailer" });
    const m = starttls.received.at(-1)!;
    expect(m.secure).toBe(true);
    expect(m.from).toBe("notices@example.org");
    expect(m.to).toEqual(["ada@example.com"]);
    expect(m.raw).toContain("Subject: Recovered");
    expect(m.raw).toContain("<p>Hello Ada</p>");
  });

  test("implicit TLS (security: tls)", async () => {
    const smtp: SmtpDecl = { host: "127.0.0.1", port: implicit.port, security: "tls", user: "mailer", password_env: "SMTP_PASSWORD", from: "a@example.com", tls_reject_unauthorized: false };
    expect(await send(smtp)).toBeUndefined();
    expect(implicit.received.at(-1)!.secure).toBe(true);
  });

  test("a self-signed certificate is refused by default (retryable)", async () => {
    const smtp: SmtpDecl = { host: "127.0.0.1", port: starttls.port, security: "starttls", user: "mailer", password_env: "SMTP_PASSWORD", from: "a@example.com" };
    const err = await send(smtp);
    expect(err).toBeInstanceOf(DeliveryError);
    expect(err!.retryable).toBe(true);
    expect(err!.message).toMatch(/certificate/i);
  });

  test("starttls is required: a server without STARTTLS fails the delivery", async () => {
    const smtp: SmtpDecl = { host: "127.0.0.1", port: plain.port, security: "starttls", user: "mailer", password_env: "SMTP_PASSWORD", from: "a@example.com" };
    const before = plain.received.length;
    const err = await send(smtp);
    expect(err!.retryable).toBe(true);
    expect(plain.received.length).toBe(before);
  });

  test("a rejected login is permanent (535) and the error never shows the password", async () => {
    const smtp: SmtpDecl = { host: "127.0.0.1", port: plain.port, security: "none", user: "mailer", password_env: "WRONG_PASSWORD", from: "a@example.com" };
    const action = emailAction({ smtp });
    const payload = buildJobPayload(action, { body, hook: "h", jobId: "j-auth" });
    const err = await deliver(action, payload, deliveryContext({ jobId: "j-auth", env: { WRONG_PASSWORD: "not-the-pa55word" } })).then(() => undefined, (e: unknown) => e as DeliveryError);
    expect(err).toBeInstanceOf(DeliveryError);
    expect(err!.retryable).toBe(false);
    expect(err!.message).not.toContain("not-the-pa55word");
  });

  test("a recipient refused with 550 goes to the dead letters", async () => {
    const smtp: SmtpDecl = { host: "127.0.0.1", port: plain.port, security: "none", user: "mailer", password_env: "SMTP_PASSWORD", from: "a@example.com" };
    const err = await send(smtp, {}, "j-550", { email: "nobody@bounce.example", name: "X" });
    expect(err!.retryable).toBe(false);
    expect(err!.message).toContain("550");
  });

  test("a server that is down is retryable", async () => {
    const probe = await startSmtp({});
    const port = probe.port;
    await probe.close();
    const err = await send({ host: "127.0.0.1", port, security: "none", from: "a@example.com" });
    expect(err!.retryable).toBe(true);
  });

  test("the serve-level smtp is used when the action has none", async () => {
    const action = emailAction({});
    const payload = buildJobPayload(action, { body, hook: "h", jobId: "j-default" });
    await deliver(action, payload, deliveryContext({ jobId: "j-default", env }), {
      defaultSmtp: { host: "127.0.0.1", port: plain.port, security: "none", user: "mailer", password_env: "SMTP_PASSWORD", from: "Default <d@example.net>" },
    });
    expect(plain.received.at(-1)!.from).toBe("d@example.net");
  });
});
