// The README's run, as a user does it on each runtime: the example config/hooks.yaml served by
// `bun src/cli.ts serve` and by `deno run -A src/cli.ts serve` (only the store file, the SMTP port
// and the CRM's address changed), a Kratos-shaped welcome webhook acked, its jobs delivered (the
// email through a real SMTP server, the CRM call to an HTTP sink), SIGTERM exits 0, and `outbox
// list` run by the same runtime shows the jobs done.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startSink, startSmtpRecorder, until } from "../outbox/fixtures.ts";
import { cliCommand, killLeftovers, ServeProcess, type Runtime } from "../resilience/serve-process.ts";

const ROOT = resolve(import.meta.dir, "../..");
const ENV = { KRATOS_HOOKS_SECRET: "dev-secret", KRATOS_HOOKS_BASIC_PASSWORD: "dev-password", CRM_TOKEN: "dev-token" };

let smtp: Awaited<ReturnType<typeof startSmtpRecorder>>;
let smtpPort = 0;
let sink: ReturnType<typeof startSink>;

beforeAll(async () => {
  smtp = await startSmtpRecorder();
  smtpPort = smtp.port;
  sink = startSink();
});
afterAll(async () => {
  killLeftovers();
  sink.stop();
  await smtp.close();
});

for (const runtime of ["bun", "deno"] as Runtime[]) {
  describe(`the example on ${runtime}`, () => {
    const dir = mkdtempSync(join(tmpdir(), `kh-example-${runtime}-`));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    test("serves the example hooks, acks a Kratos-shaped welcome webhook and delivers its email and CRM jobs", async () => {
      const store = `sqlite:${join(dir, "kratos-hooks.db")}`;
      const yaml = readFileSync(join(ROOT, "config/hooks.yaml"), "utf8")
        .replace("store: sqlite:./var/kratos-hooks.db", `store: ${store}`)
        .replace("port: 2525", `port: ${smtpPort}`)
        .replaceAll("http://127.0.0.1:4460", sink.url);
      const config = join(dir, "hooks.yaml");
      writeFileSync(config, yaml);
      const serve = await ServeProcess.start({ config, store, env: ENV, runtime });
      const identity = crypto.randomUUID();
      const email = `ada-${runtime}@example.org`;
      try {
        expect(serve.logs("listening")[0]).toMatchObject({ server: runtime, worker: true });
        const webhook = () =>
          fetch(`${serve.url}/hooks/welcome`, {
            method: "POST",
            headers: { "Content-Type": "application/json", Authorization: "Bearer dev-secret", "Ory-Webhook-Trigger-Id": crypto.randomUUID() },
            body: `{\n   "email": "${email}",\n   "flow_id": "e2e0b6b0-1f0c-4f4e-9d7c-2b1f3c4d5e6f",\n   "identity_id": "${identity}",\n   "name": "Ada"\n}\n`,
          });
        expect((await webhook()).status).toBe(204);
        expect((await webhook()).status).toBe(204); // a retry by Kratos (same identity: the hook's dedupe key)
        await until(() => smtp.mails.some((m) => m.to.includes(email)) && sink.deliveries.some((d) => (d.body as { external_id?: string })?.external_id === identity), "the email and the CRM call", 15_000);
        const mail = smtp.mails.filter((m) => m.to.includes(email));
        expect(mail).toHaveLength(1);
        expect(mail[0]!.raw).toContain("Subject: Welcome to Example");
        const crm = sink.deliveries.filter((d) => (d.body as { external_id?: string })?.external_id === identity);
        expect(crm).toHaveLength(1);
        expect(crm[0]!.headers["authorization"]).toBe("Bearer dev-token");
      } finally {
        expect(await serve.stop()).toBe(0);
      }
      const list = Bun.spawnSync([...cliCommand(runtime), "outbox", "list", "--store", store], { cwd: ROOT, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" } });
      expect(list.exitCode).toBe(0);
      const rows = list.stdout.toString().trim().split("\n").slice(1);
      expect(rows).toHaveLength(2);
      expect(rows.every((r) => /\bdone\b/.test(r))).toBe(true);
    }, 40_000);
  });
}
