// Issue 17: actions run only for flows Kratos completed. A Kratos-faithful client drives the real
// receiver (HTTP on 127.0.0.1, SQLite file, the outbox worker delivering to a recording sink):
// registration.after calls the blocking hooks before the identity is stored and the notify hooks
// only after it; login.after calls the generated list in order and stops at the first refusal.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, loadConfigText } from "../../src/config/load.ts";
import type { ResolvedConfig } from "../../src/config/types.ts";
import { ConfigErrors } from "../../src/errors.ts";
import { bodyRef, generateLists } from "../../src/kratos/config-emit.ts";
import { openStore } from "../../src/outbox/open-store.ts";
import type { Store } from "../../src/outbox/store.ts";
import { Worker } from "../../src/outbox/worker.ts";
import { listenReceiver } from "../server/helpers.ts";
import { completeFlowLikeKratos, runSequenceLikeKratos, waitUntil, type ListedHook } from "./kratos-client.ts";
import { startRecordingSink, type Sink } from "./sink.ts";

const KEY = { "X-Hooks-Key": "s3cr3t-key-value" }; // ENV.TEST_HOOKS_SECRET of ../server/helpers.ts
const NIL = "00000000-0000-0000-0000-000000000000";

const yaml = (sink: string) => `
kratos: { version: v26.2.0, builtin_hooks: { login.after: [] } }
receiver: { url: http://127.0.0.1:4459 }
serve: { lease: 5s, poll: 50ms }
hooks:
  # Declared first on purpose: generate lists it after login-gate (a warning says so).
  new-sign-in:
    on: login.after
    methods: [password]
    auth: { type: api_key, in: header, name: X-Hooks-Key, secret_env: TEST_HOOKS_SECRET }
    body: { identity_id: identity.id, email: identity.traits.email }
    actions:
      - name: mail
        http: { url: "${sink}/new-sign-in", body: { identity: "{{body.identity_id}}" }, timeout: 2s }
  login-gate:
    on: login.after
    methods: [password]
    mode: interrupt
    auth: { type: api_key, in: header, name: X-Hooks-Key, secret_env: TEST_HOOKS_SECRET }
    body: { email: identity.traits.email }
    rules:
      - when: { field: email, ends_with: "@blocked.example" }
        deny: { field: email, text: "Sign-in refused." }
  signup-gate:
    on: registration.after
    methods: [password]
    mode: interrupt
    auth: { type: api_key, in: header, name: X-Hooks-Key, secret_env: TEST_HOOKS_SECRET }
    body: { email: identity.traits.email }
    rules:
      - when: { field: email, domain_in: [mailinator.com] }
        deny: { field: email, text: "Please use a permanent address." }
  welcome:
    on: registration.after
    methods: [password]
    auth: { type: api_key, in: header, name: X-Hooks-Key, secret_env: TEST_HOOKS_SECRET }
    body: { identity_id: identity.id, email: identity.traits.email }
    actions:
      - name: crm
        http: { url: "${sink}/welcome", body: { identity: "{{body.identity_id}}" }, timeout: 2s }
`;

describe("actions only for flows Kratos completed (real receiver, SQLite, worker, sink)", () => {
  let sink: Sink;
  let store: Store;
  let config: ResolvedConfig;
  let listening: ReturnType<typeof listenReceiver>;
  let worker: Worker;
  beforeAll(async () => {
    sink = startRecordingSink();
    const dir = mkdtempSync(join(tmpdir(), "kh-side-effects-"));
    writeFileSync(join(dir, "hooks.yaml"), yaml(sink.url));
    config = loadConfig(join(dir, "hooks.yaml"), { env: {}, cwd: dir });
    store = await openStore(`sqlite:${join(dir, "outbox.db")}`);
    listening = listenReceiver(store, config);
    worker = Worker.fromConfig(config, store, { env: {}, minPollMs: 5 });
    worker.start();
  });
  afterAll(async () => {
    await worker.stop(2000);
    await listening.stop();
    await store.close();
    sink.stop();
  });
  const port = () => listening.port;
  /** The generated per-method list at `key`, as the client calls it: our web_hooks in list order. */
  const listAt = (key: string, bodies: Record<string, unknown>): ListedHook[] =>
    generateLists(config, bodyRef(config, new Map()))
      .get(key)!
      .filter((e) => e.own)
      .map((e) => ({ path: e.own!.routePath, headers: KEY, body: bodies[e.own!.name], blocking: e.own!.mode !== "notify" }));
  const settle = () => Bun.sleep(300);

  test("a sign-up Kratos rejects after the gate let it through (the address is taken) delivers nothing", async () => {
    const list = listAt("registration.after.password", { "signup-gate": { email: "taken@example.org" }, welcome: { identity_id: NIL, email: "taken@example.org" } });
    const run = await completeFlowLikeKratos({ port, list, persist: () => false });
    expect(run.outcome).toBe("rejected-by-kratos");
    expect(run.called).toEqual(["/hooks/signup-gate"]);
    await settle();
    expect(await store.listJobs({})).toEqual([]);
    expect(sink.deliveries).toEqual([]);
  });

  test("the same sign-up, stored, delivers its welcome once", async () => {
    const id = crypto.randomUUID();
    const list = listAt("registration.after.password", { "signup-gate": { email: "new@example.org" }, welcome: { identity_id: id, email: "new@example.org" } });
    const run = await completeFlowLikeKratos({ port, list, persist: () => true });
    expect(run.called).toEqual(["/hooks/signup-gate", "/hooks/welcome"]);
    await waitUntil(() => sink.deliveries.length === 1, "the welcome delivery", 5000);
    expect(sink.deliveries.map((d) => [d.path, d.identity])).toEqual([["/hooks/welcome".replace("/hooks", ""), id]]);
  });

  test("login.after: the notify hook declared before the gate is listed after it, so a refused login sends no mail", async () => {
    const id = crypto.randomUUID();
    const list = listAt("login.after.password", { "login-gate": { email: "eve@Blocked.Example" }, "new-sign-in": { identity_id: id, email: "eve@Blocked.Example" } });
    expect(list.map((h) => h.path)).toEqual(["/hooks/login-gate", "/hooks/new-sign-in"]);
    const run = await runSequenceLikeKratos({ port, list });
    expect(run.outcome).toBe("refused-by-hook");
    expect(run.executions[0]!.final.status).toBe(422);
    await settle();
    expect(sink.deliveries.filter((d) => d.path === "/new-sign-in")).toEqual([]);
    expect(await store.listJobs({ hook: "new-sign-in" })).toEqual([]);
  });

  test("check refuses the unsafe shapes: actions on the pre-persist gate", () => {
    const unsafe = yaml("http://127.0.0.1:1").replace(
      `        deny: { field: email, text: "Please use a permanent address." }\n`,
      `        deny: { field: email, text: "Please use a permanent address." }\n    actions:\n      - http: { url: "http://127.0.0.1:1/crm", timeout: 2s }\n`,
    );
    expect(() => loadConfigText(unsafe, "/virtual/hooks.yaml", { env: {}, cwd: "/virtual" })).toThrow(ConfigErrors);
    try {
      loadConfigText(unsafe, "/virtual/hooks.yaml", { env: {}, cwd: "/virtual" });
    } catch (e) {
      expect((e as ConfigErrors).errors.map((x) => x.path)).toEqual(["hooks.signup-gate.actions"]);
    }
  });
});
