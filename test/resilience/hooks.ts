// The hooks.yaml the resilience tests serve: a notify hook with two http actions and an interrupt
// hook with a deny rule and one http action, all delivering to the recording sink. Each action
// body names the trigger's identity and each delivery names its serve instance ({{ env.KH_INSTANCE }},
// read at delivery), so the sink can tell jobs, triggers and instances apart. The gate keys on
// flow.id: at registration.after an interrupt hook sees no identity id yet (CONTRACT §3.3).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const SECRET = "resilience-test-secret-value";
export const welcomeAuth = { Authorization: `Bearer ${SECRET}` };
export const gateAuth = { "X-Hooks-Key": SECRET };
/** The actions of each hook, as sink paths. */
export const WELCOME_PATHS = ["/crm", "/audit"];
export const GATE_PATHS = ["/gate"];

/** What a test send does: a welcome (two jobs), an allowed sign-up gate (one job), a denied one (none). */
export type Kind = "welcome" | "gate-allow" | "gate-deny";
/** The sink paths a send of this kind reaches, one job each. */
export const pathsOf = (k: Kind): string[] => (k === "welcome" ? WELCOME_PATHS : k === "gate-allow" ? GATE_PATHS : []);
/** The gate's answer to a denied email (CONTRACT §5.2), byte for byte. */
export const DENY_BODY =
  '{"messages":[{"instance_ptr":"#/traits/email","messages":[{"id":9000001,"text":"Please sign up with a permanent email address.","type":"error"}]}]}';

export function serveEnv(instance: string): Record<string, string> {
  return { KH_RESILIENCE_SECRET: SECRET, KH_INSTANCE: instance };
}

/** Writes hooks.yaml into a fresh temp dir; returns the dir and the file. `rateLimit`: serve.rate_limits for the sink, which every action delivers to. */
export function writeHooksYaml(sinkUrl: string, opts: { lease?: string; rateLimit?: number } = {}): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), "kh-resilience-"));
  const action = (name: string, path: string, idField: string) => `
      - name: ${name}
        http:
          url: ${sinkUrl}${path}
          headers: { X-Instance: "{{ env.KH_INSTANCE }}" }
          body: { identity: "{{ body.${idField} }}", hook: "{{ hook }}" }
          timeout: 1s
        retry: { attempts: 40, base: 100ms, cap: 1s }`;
  const yaml = `
kratos: { version: v26.2.0, builtin_hooks: { login.after: [] } }
receiver: { url: http://127.0.0.1:4459 }
serve:
  lease: ${opts.lease ?? "2s"}
  poll: 200ms
  shutdown_timeout: 3s
  dedupe_window: 1h${opts.rateLimit !== undefined ? `\n  rate_limits: { "${sinkUrl}": ${opts.rateLimit} }` : ""}
hooks:
  welcome:
    on: registration.after
    methods: [password]
    mode: notify
    auth: { type: api_key, in: header, name: Authorization, value_prefix: "Bearer ", secret_env: KH_RESILIENCE_SECRET }
    body:
      identity_id: identity.id
      email: { from: identity.traits.email, format: email }
    actions:${action("crm", "/crm", "identity_id")}${action("audit", "/audit", "identity_id")}
  gate:
    on: login.after
    methods: [password]
    mode: interrupt
    auth: { type: api_key, in: header, name: X-Hooks-Key, secret_env: KH_RESILIENCE_SECRET }
    body:
      flow_id: flow.id
      email: { from: identity.traits.email, format: email }
    rules:
      - when: { field: email, domain_in: [yopmail.com] }
        deny: { field: email, id: 9000001, text: "Please sign up with a permanent email address." }
    actions:${action("note", "/gate", "flow_id")}
`;
  const file = join(dir, "hooks.yaml");
  writeFileSync(file, yaml);
  return { dir, file };
}
