// "There is one endpoint per hook, at the URL path that `generate` put in the Kratos config": the
// URLs come out of the real generate, and serve answers them over HTTP on 127.0.0.1. A receiver.url
// with a path (a reverse proxy that forwards it unchanged) moves the hooks, not /health or /metrics.
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { generateFiles, KRATOS_CONFIG_FILE } from "../../src/commands/generate.ts";
import type { ResolvedConfig } from "../../src/config/types.ts";
import { ConfigErrors } from "../../src/errors.ts";
import { listen } from "../../src/server/listen.ts";
import { kratosJson, loadTestConfig, SECRET, testApp } from "./helpers.ts";
import { goRequest, rawRequest } from "./raw-http.ts";

const ID = "5ff66179-c240-4703-b0d8-494592cefff5";
const AUTH = { "X-Hooks-Key": SECRET, "Content-Type": "application/json" };

function hooksYaml(receiverUrl: string, extraHook = ""): string {
  return `
kratos: { version: v26.2.0, body: { inline: true } }
receiver: { url: ${receiverUrl} }
hooks:
  welcome:
    on: registration.after
    methods: [password]
    auth: { type: api_key, in: header, name: X-Hooks-Key, secret_env: TEST_HOOKS_SECRET }
    body:
      identity_id: identity.id
  verified:
    on: verification.after
    path: /custom/verified
    auth: { type: api_key, in: header, name: X-Hooks-Key, secret_env: TEST_HOOKS_SECRET }
    body:
      identity_id: identity.id
${extraHook}`;
}

/** Every web_hook url in the Kratos config that generate writes for `config`. */
function generatedUrls(config: ResolvedConfig): string[] {
  const out = mkdtempSync(join(tmpdir(), "kh-receiver-path-"));
  const { files } = generateFiles(config, { out, cwd: out });
  const urls: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      const item = v as { hook?: unknown; config?: { url?: unknown } };
      if (item.hook === "web_hook" && typeof item.config?.url === "string") urls.push(item.config.url);
      else Object.values(v).forEach(walk);
    }
  };
  walk(parseYaml(files.get(join(out, KRATOS_CONFIG_FILE))!));
  return [...new Set(urls)].sort();
}

/** serve's app on 127.0.0.1:0; `post` sends what Kratos sends to a path and returns the status. */
async function served(config: ResolvedConfig) {
  const r = testApp({ config });
  const l = await listen(r, { host: "127.0.0.1", port: 0 }, config.hooks);
  const post = async (path: string) => (await rawRequest(l.port, goRequest("POST", path, l.port, kratosJson({ identity_id: ID }), AUTH)))!.status;
  const get = async (path: string) => (await fetch(`http://127.0.0.1:${l.port}${path}`)).status;
  return { post, get, stop: () => l.stop(1000) };
}

describe("hooks are served at the path of the URL generate gives Kratos", () => {
  test("receiver.url with a path: each generated URL's path answers, the bare /hooks/<name> is 404, /health and /metrics stay at the root", async () => {
    const config = loadTestConfig(hooksYaml("http://127.0.0.1:4459/auth/kh/"));
    const urls = generatedUrls(config);
    expect(urls).toEqual(["http://127.0.0.1:4459/auth/kh/custom/verified", "http://127.0.0.1:4459/auth/kh/hooks/welcome"]);
    const s = await served(config);
    try {
      for (const url of urls) expect({ url, status: await s.post(new URL(url).pathname) }).toEqual({ url, status: 204 });
      expect(await s.post("/hooks/welcome")).toBe(404);
      expect(await s.post("/custom/verified")).toBe(404);
      // The built-in endpoints do not move with receiver.url.
      for (const path of ["/health/live", "/health/ready", "/metrics"]) expect({ path, status: await s.get(path) }).toEqual({ path, status: 200 });
      expect(await s.get("/auth/kh/health/live")).toBe(404);
    } finally {
      await s.stop();
    }
  });

  test("receiver.url without a path: hooks stay at /hooks/<name> and their own path", async () => {
    const config = loadTestConfig(hooksYaml("http://127.0.0.1:4459"));
    const urls = generatedUrls(config);
    expect(urls.map((u) => new URL(u).pathname)).toEqual(["/custom/verified", "/hooks/welcome"]);
    const s = await served(config);
    try {
      expect(await s.post("/hooks/welcome")).toBe(204);
      expect(await s.post("/custom/verified")).toBe(204);
    } finally {
      await s.stop();
    }
  });

  test("a receiver.url path that lands a hook on a built-in path fails the config load that serve and check share, at file:line:column", () => {
    let thrown: unknown;
    try {
      loadTestConfig(hooksYaml("http://127.0.0.1:4459/health", "  live:\n    on: login.after\n    path: /live\n    body:\n      identity_id: identity.id\n"));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigErrors);
    expect((thrown as ConfigErrors).errors.map((e) => e.format().replace(/^.*\/hooks\.yaml:/, "hooks.yaml:"))).toEqual([
      "hooks.yaml:19:11: hooks.live.path: endpoint path /health/live is reserved by the receiver\n  hint: pick another path (hooks are served at receiver.url's path + path); /health/live, /health/ready, /metrics are built in",
    ]);
  });
});
