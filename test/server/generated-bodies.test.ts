// One declaration, two uses: the body the generator's Jsonnet makes (evaluated by the real jsonnet
// CLI on a realistic Kratos ctx, pretty-printed exactly as Kratos sends it) passes the receiver's
// schema derived from the same declaration, for every hook of the example config.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import type { ResolvedHook } from "../../src/config/types.ts";
import { exampleCtx } from "../../src/kratos/ctx.ts";
import { emitBody } from "../../src/kratos/jsonnet.ts";
import { createApp } from "../../src/server/app.ts";
import { memoryLogger } from "../../src/server/log.ts";
import { fakeStore, memoryAccept } from "./helpers.ts";

const config = loadConfig(join(import.meta.dir, "../../config/hooks.yaml"), { env: {} });
const env = { KRATOS_HOOKS_SECRET: "example-secret", KRATOS_HOOKS_BASIC_PASSWORD: "example-password" };
const jsonnet = process.env.KRATOS_HOOKS_JSONNET ?? "jsonnet";
const dir = mkdtempSync(join(tmpdir(), "kh-bodies-"));

function authHeaders(hook: ResolvedHook): Record<string, string> {
  const a = hook.auth;
  if (!a) return {};
  if (a.type === "basic_auth") return { Authorization: `Basic ${Buffer.from(`${a.user}:${env[a.password_env as keyof typeof env]}`).toString("base64")}` };
  const value = (a.value_prefix ?? "") + env[a.secret_env as keyof typeof env];
  return a.in === "cookie" ? { Cookie: `${a.name}=${value}` } : { [a.name]: value };
}

/** The body bytes Kratos would send: jsonnet output (3-space indent, trailing newline, CONTRACT App. B.8). */
function render(hook: ResolvedHook, traits: Record<string, unknown>): string | undefined {
  const bodyFile = join(dir, `${hook.name}.jsonnet`);
  const ctxFile = join(dir, `${hook.name}.ctx.json`);
  writeFileSync(bodyFile, emitBody({ config, hook, rel: (p) => p }));
  const ctx = exampleCtx(hook.point, hook.mode !== "notify", config.kratos.version, { traits, transientPayload: { consent: true }, ...(hook.methods[0] ? { method: hook.methods[0] } : {}) });
  writeFileSync(ctxFile, JSON.stringify(ctx));
  const r = Bun.spawnSync([jsonnet, "--tla-code-file", `ctx=${ctxFile}`, bodyFile]);
  if (r.exitCode !== 0) {
    const err = r.stderr.toString();
    if (err.includes("cancel")) return undefined;
    throw new Error(`jsonnet failed for ${hook.name}: ${err}`);
  }
  return r.stdout.toString();
}

describe("generated Jsonnet bodies pass the receiver's schema", () => {
  const mem = memoryAccept();
  const app = createApp({ config, accept: mem.accept, store: fakeStore, env, log: memoryLogger() });
  for (const hook of config.hooks.filter((h) => !h.jsonnetFile)) {
    for (const traits of [{ email: "foo@example.org", name: "Foo" }, { email: "foo@example.org" }]) {
      test(`${hook.name} (${Object.keys(traits).join(", ")})`, async () => {
        const body = render(hook, traits);
        if (body === undefined) return; // skip_if cancelled the call in Jsonnet, as Kratos would
        expect(body).toStartWith("{\n   ");
        const res = await app.handle(
          new Request(`http://127.0.0.1:4459${hook.path}`, { method: hook.method, headers: { "Content-Type": "application/json", ...authHeaders(hook) }, body }),
        );
        const text = await res.text();
        // On failure, show the receiver's error (it names the field) rather than just the status.
        expect(res.status >= 400 ? text : "").toBe("");
        expect([200, 204]).toContain(res.status);
      });
    }
  }
});
