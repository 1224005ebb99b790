// serve.admin in `serve`: its own listener, never started without its token, and the receiver
// and the admin page answer only their own paths.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, type RunningServer } from "../../src/commands/serve.ts";
import { loadConfigText } from "../../src/config/load.ts";
import { UsageError } from "../../src/errors.ts";
import { memoryLogger } from "../../src/server/log.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function config(admin: string) {
  const dir = mkdtempSync(join(tmpdir(), "kh-admin-serve-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const yaml = `
kratos: { version: v26.2.0 }
receiver: { url: http://127.0.0.1:4459 }
serve:
  listen: 127.0.0.1:0
  store: sqlite:${join(dir, "outbox.db")}
${admin}
hooks:
  welcome:
    on: registration.after
    body: { email: identity.traits.email }
`;
  writeFileSync(join(dir, "hooks.yaml"), yaml);
  return loadConfigText(yaml, join(dir, "hooks.yaml"), { env: {}, cwd: dir });
}

async function start(admin: string, env: Record<string, string>): Promise<RunningServer> {
  const server = await startServer({ config: config(admin), log: memoryLogger("error"), env, worker: false });
  cleanups.push(() => server.shutdown("test"));
  return server;
}

describe("serve.admin", () => {
  test("refuses to start when the token variable is unset or short, naming it", async () => {
    const admin = "  admin: { listen: 127.0.0.1:0, token_env: KH_ADMIN_TOKEN }";
    for (const env of [{}, { KH_ADMIN_TOKEN: "short" }]) {
      const err = await startServer({ config: config(admin), log: memoryLogger("error"), env, worker: false }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toContain("KH_ADMIN_TOKEN (serve.admin.token_env)");
    }
  });

  test("off (or absent) starts no admin listener", async () => {
    expect((await start("  admin: { listen: \"off\", token_env: KH_ADMIN_TOKEN }", {})).admin).toBeUndefined();
  });

  test("listens on its own port; the receiver does not serve the admin pages, nor the admin page the hooks", async () => {
    const server = await start("  admin: { listen: 127.0.0.1:0, token_env: KH_ADMIN_TOKEN }", { KH_ADMIN_TOKEN: "a-long-enough-admin-token" });
    const admin = `http://127.0.0.1:${server.admin!.port}`;
    const receiver = `http://127.0.0.1:${server.listening.port}`;
    expect(server.admin!.port).not.toBe(server.listening.port);
    expect((await fetch(`${admin}/login`)).status).toBe(200);
    expect((await fetch(`${admin}/admin.css`)).headers.get("content-type")).toContain("text/css");
    expect((await fetch(`${receiver}/login`)).status).toBe(404);
    expect((await fetch(`${receiver}/admin.css`)).status).toBe(404);
    expect((await fetch(`${admin}/hooks/welcome`, { method: "POST", body: "{}" })).status).toBe(404);
    expect((await fetch(`${admin}/metrics`, { redirect: "manual" })).status).toBe(404);
  });
});
