// The corpus of valid hooks.yaml files (test/fixtures/valid/): one per Kratos version and feature
// (inline and file bodies, every auth variant, before hooks, per-method lists, a path prefix,
// hand-written Jsonnet, large and non-ASCII bodies). Each must load without errors and with exactly
// the warnings its sibling .warnings file lists (none without one: checks must not be noisy), and
// every web_hook generate writes must hold up the whole way Kratos uses it: the generated config
// passes Kratos's own schema for the version, the body evaluates with the real jsonnet CLI on the
// ctx Kratos builds at that point and version, fits the version's output limit, and the request
// Kratos would send (Go's bytes, the configured headers and auth, Ory-Webhook-* headers as the
// version sends them) is accepted by the receiver over real HTTP on a real SQLite store.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateFiles, KRATOS_CONFIG_FILE } from "../../src/commands/generate.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { ResolvedConfig } from "../../src/config/types.ts";
import { envRefs, type ListEntry } from "../../src/kratos/config-emit.ts";
import { exampleCtx } from "../../src/kratos/ctx.ts";
import { validateGenerated } from "../../src/kratos/validate-output.ts";
import { outputLimitBytes } from "../../src/kratos/output-size.ts";
import { supports } from "../../src/kratos/versions.ts";
import { openStore } from "../../src/outbox/open-store.ts";
import type { Store } from "../../src/outbox/store.ts";
import { GroupCommitter } from "../../src/outbox/group-commit.ts";
import { createApp } from "../../src/server/app.ts";
import { listen } from "../../src/server/listen.ts";
import { memoryLogger } from "../../src/server/log.ts";
import { ENV } from "../server/helpers.ts";
import { sendLikeKratos } from "../resilience/kratos-client.ts";
import { evaluate, schemaErrors } from "./helpers.ts";

const DIR = join(import.meta.dir, "../fixtures/valid");
const CASES = readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

/** Traits as a real sign-up form could send them: non-ASCII in every field. */
const TRAITS = { email: "zoë.müller@example.org", name: "Zoë Müller 日本 🎉", bio: "Grüße aus Köln" };

/** The expected warnings of a case: one `path: message` a line. */
function expectedWarnings(name: string): string[] {
  const file = join(DIR, name.replace(/\.yaml$/, ".warnings"));
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "") : [];
}

/** The value Kratos gets for an item's secret through kratos-hooks.env, by the env var's name. */
function secretOf(config: ResolvedConfig, lists: Map<string, ListEntry[]>, name: string): string {
  const ref = envRefs(lists).find((r) => r.name === name);
  if (!ref) throw new Error(`no env line ${name}`);
  return ref.parts.map((p) => ("env" in p ? ENV[p.env as keyof typeof ENV] : p.literal)).join("");
}

/** The Kratos env var for item `i` of list `key`'s auth secret (CONTRACT §7). */
function secretEnvName(key: string, i: number, field: "value" | "password"): string {
  return ["SELFSERVICE", "FLOWS", ...key.split("."), "HOOKS", String(i), "CONFIG", "AUTH", "CONFIG", field].join("_").toUpperCase();
}

describe("valid hooks.yaml corpus: check, generate, Kratos's schema, jsonnet and a Kratos-faithful request", () => {
  let tmp: string;
  let store: Store;
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "kh-valid-"));
    store = await openStore(`sqlite:${join(tmp, "outbox.db")}`, { synchronous: "normal" });
  });
  afterAll(async () => {
    await store.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  test("covers every supported Kratos version", () => {
    const versions = new Set(CASES.map((f) => readFileSync(join(DIR, f), "utf8").match(/^\s+version: (\S+)/m)?.[1]));
    for (const v of ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.1", "v25.4.0", "v26.2.0", "HEAD"]) expect(versions).toContain(v);
  });

  for (const file of CASES) {
    test(file, async () => {
      const config = loadConfig(join(DIR, file), { env: {}, cwd: tmp });
      expect((config.warnings ?? []).map((w) => `${w.path}: ${w.message}`)).toEqual(expectedWarnings(file));

      const out = mkdtempSync(join(tmp, "out-"));
      const { files, lists } = generateFiles(config, { out, cwd: tmp });
      const v = config.kratos.version;
      expect(schemaErrors(v.head ? "HEAD" : v.text, files.get(join(out, KRATOS_CONFIG_FILE))!)).toEqual([]);
      // generate's own gate (precompiled validators) agrees: it writes nothing when it throws.
      await validateGenerated(config, lists);

      // The receiver as serve runs it: the server listen() picks (node:http when a hook uses GET, whose body Bun.serve drops).
      const committer = new GroupCommitter(store, { maxWaitMs: 2 });
      const receiver = createApp({ config, accept: (a) => committer.accept(a), store, env: ENV, log: memoryLogger() });
      const server = await listen(receiver, { host: "127.0.0.1", port: 0 }, config.hooks);
      const listening = { port: server.port, stop: async () => (await server.stop(1000), await committer.close()) };
      try {
        let sent = 0;
        for (const [key, entries] of lists) {
          const method = key.split(".")[2];
          for (const [i, entry] of entries.entries()) {
            const hook = entry.own;
            if (!hook) continue;
            const c = entry.item.config as Record<string, any>;
            // The body as Kratos fetches it: standard padded base64, or the file generate wrote.
            const ref = String(c.body);
            let body: string;
            if (ref.startsWith("base64://")) {
              const data = ref.slice("base64://".length);
              body = Buffer.from(data, "base64").toString("utf8");
              expect(Buffer.from(body, "utf8").toString("base64")).toBe(data);
            } else {
              expect(ref).toStartWith("file:///");
              body = files.get(join(out, `${hook.name}.jsonnet`)) ?? readFileSync(hook.jsonnetFile!, "utf8");
            }
            const ctx = exampleCtx(hook.point, hook.mode !== "notify", v, { ...(method ? { method } : {}), traits: TRAITS, transientPayload: { consent: true, referrer: "newsletter" }, headerAllowlist: config.kratos.headerAllowlist });
            const result = evaluate(body, ctx);
            if (result.kind === "cancel") continue;
            expect(result.kind === "error" ? `${hook.name} in ${key}: ${result.message}` : "").toBe("");
            const json = (result as { json: string }).json;
            expect(Buffer.byteLength(json)).toBeLessThan(outputLimitBytes(v));

            const headers: Record<string, string> = { ...(c.headers ?? {}) };
            if (c.auth?.type === "api_key") {
              const value = secretOf(config, lists, secretEnvName(key, i, "value"));
              if (c.auth.config.in === "cookie") headers.Cookie = `${c.auth.config.name}=${value}`;
              else headers[c.auth.config.name] = value;
            } else if (c.auth?.type === "basic_auth") {
              headers.Authorization = `Basic ${Buffer.from(`${c.auth.config.user}:${secretOf(config, lists, secretEnvName(key, i, "password"))}`).toString("base64")}`;
            }
            // Ory-Webhook-Request-Id from v1.1.0, Trigger-Id from v25.4.0, both unless emit_analytics_event is false (CONTRACT §4.1).
            const emit = c.emit_analytics_event !== false;
            const ids = { requestId: emit && supports(v, "request_id_header"), triggerId: emit && supports(v, "trigger_id_header") };
            const url = new URL(String(c.url));
            const ex = await sendLikeKratos({ port: () => listening.port, path: url.pathname, method: String(c.method), text: json, body: undefined, headers, trigger: crypto.randomUUID(), ids, timeoutMs: 10_000 });
            expect(`${hook.name} in ${key}: ${ex.final.status} ${ex.final.body}`).toMatch(new RegExp(`^${hook.name} in ${key}: 20[04] `));
            expect(ex.attempts).toHaveLength(1);
            sent++;
          }
        }
        expect(sent).toBeGreaterThan(0);
      } finally {
        await listening.stop();
      }
    });
  }
});
