// The example config/hooks.yaml, loaded for real, delivered by Worker.fromConfig: the welcome
// email through a real SMTP server, the CRM call to an HTTP sink with the token from the env, and
// the verified hook's exec action.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import type { ResolvedConfig } from "../../src/config/types.ts";
import { Worker } from "../../src/outbox/worker.ts";
import { enqueue, recordEvents, startSink, startSmtpRecorder, tempStore, until } from "./fixtures.ts";

const ROOT = resolve(import.meta.dir, "../..");
let smtp: Awaited<ReturnType<typeof startSmtpRecorder>>;
let smtpPort = 0;
let sink: ReturnType<typeof startSink>;
let t: Awaited<ReturnType<typeof tempStore>>;
let config: ResolvedConfig;

beforeAll(async () => {
  smtp = await startSmtpRecorder();
  smtpPort = smtp.port;
  sink = startSink();
  t = await tempStore();
  const yaml = readFileSync(join(ROOT, "config/hooks.yaml"), "utf8")
    .replace("store: sqlite:./var/kratos-hooks.db", `store: ${t.url}`)
    .replace("port: 2525", `port: ${smtpPort}`)
    .replaceAll("http://127.0.0.1:4460", sink.url);
  const file = join(t.dir, "hooks.yaml");
  writeFileSync(file, yaml);
  config = loadConfig(file);
});

afterAll(async () => {
  sink.stop();
  await smtp.close();
  await t.cleanup();
});

test("the example's welcome, login-audit and verified actions are delivered from their config", async () => {
  const action = (id: string) => config.hooks.flatMap((h) => h.actions).find((a) => a.id === id)!;
  const welcome = { identity_id: "9b0f4c2e-1111-4222-8333-444455556666", email: "ada@example.com", name: "Ada", flow_id: "f-1" };
  const [mailJob] = await enqueue(t.store, action("welcome.email"), [welcome]);
  const [crmJob] = await enqueue(t.store, action("welcome.crm"), [welcome]);
  await enqueue(t.store, action("login-audit.audit"), [{ identity_id: welcome.identity_id, session_id: "s-1", aal: "aal1" }]);
  await enqueue(t.store, action("verified.provision"), [{ identity_id: welcome.identity_id, email: welcome.email }]);

  const worker = Worker.fromConfig(config, t.store, { env: { CRM_TOKEN: "crm-token-value", PATH: process.env.PATH }, minPollMs: 5 });
  const events = recordEvents(worker);
  worker.start();
  try {
    await until(() => events.of("job:delivered").length === 4, "4 deliveries");
  } finally {
    await worker.stop(2000);
  }

  expect(smtp.mails).toHaveLength(1);
  expect(smtp.mails[0]!.to).toEqual(["ada@example.com"]);
  expect(smtp.mails[0]!.raw).toContain("Subject: Welcome to Example");
  expect(smtp.mails[0]!.raw).toContain("Hi Ada,");
  expect(smtp.mails[0]!.raw).toContain(`Message-ID: <${mailJob}@example.com>`);

  const crm = sink.deliveries.find((d) => d.path === "/contacts")!;
  expect(crm.jobId).toBe(crmJob!);
  expect(crm.headers["authorization"]).toBe("Bearer crm-token-value");
  expect(crm.body).toEqual({ email: "ada@example.com", name: "Ada", external_id: welcome.identity_id, source: "kratos" });
  const audit = sink.deliveries.find((d) => d.path === "/audit")!;
  expect(audit.body).toEqual({ identity: welcome.identity_id, session: "s-1", aal: "aal1" });
  expect(events.of("job:delivered").map((e) => e.action).sort()).toEqual(["login-audit.audit", "verified.provision", "welcome.crm", "welcome.email"]);
});
