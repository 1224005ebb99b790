// serve.rate_limits: where each action delivers (its destination key), how keys are written and
// checked, and what the worker is handed.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { destinationKey, destinationOf } from "../../src/config/destination.ts";
import { loadConfig } from "../../src/config/load.ts";
import { ConfigErrors } from "../../src/errors.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const yaml = (limits: string) => `
kratos: { version: v26.2.0 }
receiver: { url: http://127.0.0.1:4459 }
serve:
  smtp: { host: Mail.Example.com, security: starttls, from: hi@example.com }
  rate_limits:
${limits}
hooks:
  welcome:
    on: registration.after
    mode: notify
    body: { email: { from: identity.traits.email, format: email }, org: { from: identity.traits.org, optional: true } }
    actions:
      - name: crm
        http: { url: "https://CRM.example.com:443/contacts/{{body.email}}" }
      - name: audit
        http: { url: "https://crm.example.com/audit" }
      - name: tenant
        http: { url: "https://{{env.TENANT}}.example.com/hook" }
      - name: mail
        email: { to: "{{body.email}}", subject: Hi }
      - name: local
        exec: { command: [/bin/true] }
`;

function load(text: string) {
  const dir = mkdtempSync(join(tmpdir(), "kh-rate-"));
  dirs.push(dir);
  writeFileSync(join(dir, "hooks.yaml"), text);
  const line = (e: { format(): string }) => e.format().split("\n")[0]!.replace(`${dir}/`, "");
  try {
    const config = loadConfig(join(dir, "hooks.yaml"), { env: {}, cwd: dir });
    return { config, errors: [] as string[], warnings: (config.warnings ?? []).map(line).filter((w) => !/has no auth/.test(w)) };
  } catch (err) {
    if (!(err instanceof ConfigErrors)) throw err;
    return { config: undefined, errors: err.errors.map(line), warnings: [] as string[] };
  }
}

describe("destinations", () => {
  test("each action's destination: a literal http origin, the smtp server, none for a templated host or exec", () => {
    const { config, errors } = load(yaml(`    "HTTPS://crm.example.com/": 5\n    "smtp://mail.example.com:587": 2`));
    expect(errors).toEqual([]);
    const dest = Object.fromEntries(config!.hooks[0]!.actions.map((a) => [a.id, a.destination]));
    expect(dest).toEqual({
      "welcome.crm": "https://crm.example.com",
      "welcome.audit": "https://crm.example.com",
      "welcome.tenant": undefined,
      "welcome.mail": "smtp://mail.example.com:587",
      "welcome.local": undefined,
    });
    // Keys are written the way destinations are, so the worker can match them.
    expect(config!.serve.rateLimits).toEqual({ "https://crm.example.com": 5, "smtp://mail.example.com:587": 2 });
  });

  test("the smtp port defaults by security, as the email action connects", () => {
    expect(destinationOf({ kind: "email", smtp: { host: "m", security: "tls" } }, undefined)).toBe("smtp://m:465");
    expect(destinationOf({ kind: "email" }, { host: "m", security: "none" })).toBe("smtp://m:25");
    expect(destinationOf({ kind: "email" }, undefined)).toBeUndefined();
    expect(destinationOf({ kind: "http", url: "http://127.0.0.1:80/x" }, undefined)).toBe("http://127.0.0.1");
  });

  test("keys: an origin or smtp://host:port, nothing else", () => {
    expect(destinationKey("http://127.0.0.1:4460")).toEqual({ key: "http://127.0.0.1:4460" });
    expect(destinationKey("https://crm.example.com/contacts")).toEqual({ error: "'https://crm.example.com/contacts' must be only scheme, host and port" });
    expect(destinationKey("smtp://mail.example.com")).toEqual({ error: "'smtp://mail.example.com' needs its port (465, 587 or 25 by smtp.security)" });
    expect("error" in destinationKey("ftp://x")).toBe(true);
    expect("error" in destinationKey("crm.example.com")).toBe(true);
  });
});

describe("check", () => {
  test("a key that is not a destination is an error at its line and column", () => {
    const { errors } = load(yaml(`    "https://crm.example.com/contacts": 5`));
    expect(errors).toEqual([`hooks.yaml:7:5: serve.rate_limits["https://crm.example.com/contacts"]: 'https://crm.example.com/contacts' must be only scheme, host and port`]);
  });

  test("a key no action delivers to is a warning (a typo, or a templated host)", () => {
    const { errors, warnings } = load(yaml(`    "https://crm.example.org": 5`));
    expect(errors).toEqual([]);
    expect(warnings).toEqual([`hooks.yaml:7:5: serve.rate_limits["https://crm.example.org"]: no action delivers to https://crm.example.org, so this limit applies to nothing`]);
  });
});
