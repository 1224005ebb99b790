// Shared by the receiver tests: a hooks.yaml covering every receiver feature, loaded by the real
// loader, and Kratos-shaped requests (CONTRACT §4.1).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { loadConfigText } from "../../src/config/load.ts";
import type { ResolvedConfig } from "../../src/config/types.ts";
import { GroupCommitter } from "../../src/outbox/group-commit.ts";
import type { Acceptance, AcceptResult, Stats, Store, StoredResponse } from "../../src/outbox/store.ts";
import { createApp, type AppDeps } from "../../src/server/app.ts";
import { listenBun } from "../../src/server/listen.ts";
import { memoryLogger } from "../../src/server/log.ts";

export const SECRET = "s3cr3t-key-value";
export const BASIC_PASSWORD = "pa:ss word";
export const ENV = { TEST_HOOKS_SECRET: SECRET, TEST_BASIC_PASSWORD: BASIC_PASSWORD };

export const HOOKS_YAML = `
kratos: { version: v26.2.0 }
receiver: { url: http://127.0.0.1:4459 }
serve: { body_limit: 2kb, dedupe_window: 1h }
hooks:
  welcome:
    on: registration.after
    methods: [password]
    mode: notify
    auth: { type: api_key, in: header, name: Authorization, value_prefix: "Bearer ", secret_env: TEST_HOOKS_SECRET }
    body:
      identity_id: identity.id
      email: { from: identity.traits.email, format: email }
      name: { from: identity.traits.name, optional: true, max_length: 20 }
      age: { from: identity.traits.age, type: integer, optional: true }
    skip_if: { field: email, ends_with: "@loadtest.example.com" }
    dedupe: { key: [identity_id] }
    actions:
      - name: email
        email: { to: "{{body.email}}", subject: Welcome }
        retry: { attempts: 8 }
      - name: crm
        http: { url: "http://127.0.0.1:1/contacts", body: { email: "{{body.email}}" } }
  audit:
    on: login.after
    mode: notify
    method: PUT
    auth: { type: api_key, in: cookie, name: kh_key, secret_env: TEST_HOOKS_SECRET }
    body:
      identity_id: identity.id
      session_id: session.id
    actions:
      - name: log
        exec: { command: [/bin/true] }
  sync:
    on: settings.after
    mode: notify
    auth: { type: basic_auth, user: kratos, password_env: TEST_BASIC_PASSWORD }
    body:
      identity_id: identity.id
  gate:
    on: login.after
    methods: [password]
    mode: interrupt
    auth: { type: api_key, in: header, name: X-Hooks-Key, secret_env: TEST_HOOKS_SECRET }
    body:
      email: { from: identity.traits.email, format: email }
      consent: { from: flow.transient_payload.consent, type: boolean, optional: true }
      nick: { from: identity.traits.nick, optional: true }
    rules:
      - name: vip
        when: { field: email, in_file: vip.txt }
        allow: true
      - when: { field: email, domain_in: [Mailinator.com, yopmail.com] }
        deny: { field: email, id: 9000001, text: "Please sign up with a permanent email address.", context: { reason: disposable } }
      - when: { field: email, domain_in_file: blocked-domains.txt }
        deny: { field: email, text: "This domain is blocked." }
      - when: { field: nick, matches: "/^admin/i" }
        deny: { field: nick, id: 9000003, text: "Reserved name." }
      - when: { not: { field: consent, equals: true } }
        deny: { id: 9000002, text: "Please accept the terms to continue." }
    actions:
      - name: note
        exec: { command: [/bin/true] }
  plan:
    on: registration.after
    methods: [password]
    mode: enrich
    auth: { type: api_key, in: header, name: X-Hooks-Key, secret_env: TEST_HOOKS_SECRET }
    body:
      email: { from: identity.traits.email, format: email }
      current: { from: identity.metadata_public, type: object, optional: true }
    rules:
      - when: { field: email, ends_with: "@banned.example" }
        deny: { field: email, text: "Banned." }
    enrich:
      - when: { field: email, ends_with: "@example.com" }
        metadata_public: { plan: staff, contact: "{{body.email}}" }
      - metadata_public: { plan: free }
      - lookup: { field: email, key: email_domain, into: metadata_public, file: orgs.json }
  replace:
    on: registration.after
    methods: [oidc]
    mode: enrich
    body:
      email: { from: identity.traits.email, format: email }
    enrich:
      - when: { field: email, starts_with: "x" }
        metadata_public: { tier: { level: 2 } }
        metadata_admin: { source: "{{body.email}}" }
  raw:
    on: verification.after
    mode: notify
    jsonnet: raw.jsonnet
  typed:
    on: verification.after
    mode: notify
    path: /custom/typed
    jsonnet: typed.jsonnet
    body:
      identity_id: { from: identity.id }
  open:
    on: recovery.after
    mode: notify
    body:
      identity_id: identity.id
`;

/** Writes hooks.yaml and the files it names into a fresh temp dir and loads it with the real loader. */
export function loadTestConfig(yaml = HOOKS_YAML): ResolvedConfig {
  const file = writeTestConfig(yaml);
  return loadConfigText(yaml, file, { env: {}, cwd: dirname(file) });
}

/** Writes hooks.yaml and the files it names into a fresh temp dir; returns the hooks.yaml path (for `serve --config`). */
export function writeTestConfig(yaml = HOOKS_YAML): string {
  const dir = mkdtempSync(join(tmpdir(), "kh-server-"));
  writeFileSync(join(dir, "vip.txt"), "# VIPs may use any domain\nboss@mailinator.com\n");
  writeFileSync(join(dir, "blocked-domains.txt"), "# one domain a line\nBlocked.example\n\nspam.example # trailing comment\n");
  writeFileSync(join(dir, "orgs.json"), JSON.stringify({ "acme.com": { org: "acme", seats: 5 } }));
  writeFileSync(join(dir, "raw.jsonnet"), "function(ctx) { flow_id: ctx.flow.id, traits: ctx.identity.traits }\n");
  writeFileSync(join(dir, "typed.jsonnet"), "function(ctx) { identity_id: ctx.identity.id, extra: 1 }\n");
  const file = join(dir, "hooks.yaml");
  writeFileSync(file, yaml);
  return file;
}

/** An in-memory `accept` with the store's dedupe semantics (first answer wins within the window). */
export function memoryAccept() {
  const records = new Map<string, { response: StoredResponse; expiresAt: number }>();
  const accepted: Acceptance[] = [];
  let failWith: Error | undefined;
  const accept = async (a: Acceptance): Promise<AcceptResult> => {
    if (failWith) throw failWith;
    const prior = records.get(a.key);
    if (prior && prior.expiresAt > a.now) return { duplicate: true, response: prior.response };
    records.set(a.key, { response: a.response, expiresAt: a.expiresAt });
    accepted.push(a);
    return { duplicate: false };
  };
  return {
    accept,
    accepted,
    jobs: () => accepted.flatMap((a) => a.jobs),
    fail(err: Error | undefined) {
      failWith = err;
    },
  };
}

export const fakeStore = {
  async ping() {},
  async stats(): Promise<Stats> {
    return { byState: { pending: 3, running: 1, done: 7, dead: 2 }, oldestDueAgeMs: 1500 };
  },
};

export function testApp(overrides: Partial<AppDeps> = {}) {
  const config = overrides.config ?? loadTestConfig();
  const mem = memoryAccept();
  const log = memoryLogger();
  let now = Date.parse("2026-11-28T04:00:00Z");
  const clock = { now: () => now };
  let n = 0;
  const receiver = createApp({
    config,
    accept: mem.accept,
    store: fakeStore,
    clock,
    log,
    env: ENV,
    newJobId: () => `job-${++n}`,
    ...overrides,
  });
  return { ...receiver, config, mem, log, advance: (ms: number) => (now += ms), clock };
}

/** A body pretty-printed the way Kratos's Jsonnet renders it: 3 spaces, trailing newline (CONTRACT App. B.8). */
export function kratosJson(v: unknown): string {
  return `${JSON.stringify(v, null, 3)}\n`;
}

export function kratosRequest(
  path: string,
  body: unknown,
  opts: { method?: string; headers?: Record<string, string>; triggerId?: string; requestId?: string; raw?: string } = {},
): Request {
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    "User-Agent": "Go-http-client/1.1",
    "Accept-Encoding": "gzip",
    "Ory-Webhook-Request-Id": opts.requestId ?? crypto.randomUUID(),
    ...(opts.triggerId !== undefined ? { "Ory-Webhook-Trigger-Id": opts.triggerId } : {}),
    ...opts.headers,
  };
  return new Request(`http://127.0.0.1:4459${path}`, { method: opts.method ?? "POST", headers, body: opts.raw ?? kratosJson(body) });
}

export const bearer = { Authorization: `Bearer ${SECRET}` };
export const hooksKey = { "X-Hooks-Key": SECRET };

/**
 * The receiver of `config` on a real port of 127.0.0.1 over a real store, committing through a
 * GroupCommitter as `serve` does. `stop` ends both (the store stays open: the caller owns it).
 */
export function listenReceiver(store: Store, config: ResolvedConfig, maxWaitMs = 2) {
  const committer = new GroupCommitter(store, { maxWaitMs });
  const receiver = createApp({ config, accept: (a) => committer.accept(a), store, env: ENV, log: memoryLogger() });
  const listening = listenBun(receiver, { host: "127.0.0.1", port: 0 });
  return {
    receiver,
    port: listening.port,
    async stop() {
      await listening.stop(1000);
      await committer.close();
    },
  };
}
