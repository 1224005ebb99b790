// Hostile values against the email action, through the real loader, a real SQLite outbox, the
// worker and a real SMTP conversation (smtp-server on 127.0.0.1): recipients, display names,
// html, and the subject header.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startSmtpRecorder } from "../outbox/fixtures.ts";
import { closeEmailTransports, MAX_SUBJECT_CHARS } from "../../src/actions/email.ts";
import { cleanupDirs, deliverThroughOutbox, hookYaml, load } from "./harness.ts";

let smtp: Awaited<ReturnType<typeof startSmtpRecorder>>;
let port = 0;

beforeAll(async () => {
  smtp = await startSmtpRecorder({ size: 10 * 1024 * 1024 });
  port = smtp.port;
});
afterAll(async () => {
  closeEmailTransports();
  await smtp.close();
  cleanupDirs();
});

const ENV = { KRATOS_HOOKS_SECRET: "hook-secret-value" };
const serve = () => `serve:\n  smtp: { host: 127.0.0.1, port: ${port}, security: none, from: "Example <hi@example.com>" }\n`;
const ada = { identity_id: "5ff66179-c240-4703-b0d8-494592cefff5", email: "ada@example.org", name: "Ada" };

/** The header block of a raw message, unfolded lines kept as sent. */
const headerLines = (raw: string) => raw.split("\r\n\r\n")[0]!.split("\r\n");
const header = (raw: string, name: string) => {
  const lines = headerLines(raw);
  const i = lines.findIndex((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  if (i < 0) return undefined;
  let v = lines[i]!;
  for (let j = i + 1; j < lines.length && /^[ \t]/.test(lines[j]!); j++) v += lines[j];
  return v.slice(name.length + 1).trim();
};
/** RFC 2047 encoded words decoded (B and Q), for reading what a header says. */
const decodeWords = (v: string) =>
  v.replace(/\?=\s+=\?/g, "?==?").replace(/=\?UTF-8\?([BQ])\?([^?]*)\?=/gi, (_, enc: string, text: string) =>
    enc.toUpperCase() === "B" ? Buffer.from(text, "base64").toString("utf8") : Buffer.from(text.replace(/_/g, " ").replace(/=([0-9A-F]{2})/gi, (__, h: string) => String.fromCharCode(parseInt(h, 16))), "latin1").toString("utf8"),
  );

describe("recipients", () => {
  test("a value holding a list or a display name never adds a recipient: the job dies saying why, and no RCPT TO is sent", async () => {
    const { config } = load(hookYaml(`      - name: mail\n        email: { to: "{{body.email}}", subject: Welcome, text: Hi }\n`, serve()));
    const start = smtp.mails.length;
    const hostile = ["ada@example.org,evil@attacker.test", "Evil <evil@attacker.test>", "ada@example.org\r\nBcc: evil@attacker.test", "ada@example.org evil@attacker.test", "ada@example.org"];
    const jobs = await deliverThroughOutbox(config!, "welcome.mail", hostile.map((email) => ({ ...ada, email })), ENV);
    expect(jobs.map((j) => j.state)).toEqual(["dead", "dead", "dead", "dead", "done"]);
    expect(jobs[0]!.lastError).toBe(`the 'to' address "ada@example.org,evil@attacker.test" is not exactly one address (user@domain); refused`);
    expect(smtp.mails.slice(start).map((m) => m.to)).toEqual([["ada@example.org"]]);
  });

  test("an address a mail system could route elsewhere dies: an encoded word or a source route in the local part, an IP address as the domain", async () => {
    const { config } = load(hookYaml(`      - name: mail\n        email: { to: "{{body.email}}", subject: Welcome, text: Hi }\n`, serve()));
    const start = smtp.mails.length;
    const hostile = ["=?utf-8?q?evil=40attacker.test?=@example.org", "evil%attacker.test@example.org", "attacker.test!evil@example.org", "ada@127.0.0.1", "ada@example.org"];
    const jobs = await deliverThroughOutbox(config!, "welcome.mail", hostile.map((email) => ({ ...ada, email })), ENV);
    expect(jobs.map((j) => j.state)).toEqual(["dead", "dead", "dead", "dead", "done"]);
    expect(jobs[3]!.lastError).toBe(`the 'to' address "ada@127.0.0.1" is not exactly one address (user@domain); refused`);
    expect(smtp.mails.slice(start).map((m) => m.to)).toEqual([["ada@example.org"]]);
  });

  test("a display name is text, never parsed: 'Evil <e@y>, Bob' adds no recipient and shows as the name", async () => {
    const { config } = load(hookYaml(`      - name: mail\n        email: { to: "{{body.name}} <{{body.email}}>", subject: Welcome, text: Hi }\n`, serve()));
    const start = smtp.mails.length;
    const jobs = await deliverThroughOutbox(config!, "welcome.mail", [{ ...ada, name: "Evil <evil@attacker.test>, Bob" }, { ...ada, name: "Mallory\r\nBcc: evil@attacker.test" }], ENV);
    expect(jobs.map((j) => [j.state, j.lastError])).toEqual([["done", null], ["done", null]]);
    const got = smtp.mails.slice(start);
    expect(got.map((m) => m.to)).toEqual([["ada@example.org"], ["ada@example.org"]]);
    expect(got.map((m) => decodeWords(header(m.raw, "To")!)).sort()).toEqual([`"Evil <evil@attacker.test>, Bob" <ada@example.org>`, `"Mallory Bcc: evil@attacker.test" <ada@example.org>`]);
    expect(got.some((m) => header(m.raw, "Bcc") !== undefined)).toBe(false);
  });

  test("check refuses a sender address a sign-up controls; a display name from the body passes", () => {
    const { errors } = load(hookYaml(`      - email: { to: "{{body.email}}", from: "{{body.name}} <{{body.email}}>", subject: Hi, text: Hi }\n`, serve()));
    expect(errors[0]?.split("\n")[0]?.replace(/^hooks\.yaml:\d+:\d+: /, "")).toBe("hooks.welcome.actions[0].email.from: the sender address takes {{body.email}}, and identity.traits.email is typed by the user");
    expect(load(hookYaml(`      - email: { to: "{{body.email}}", from: "{{body.name}} via Example <noreply@example.org>", subject: Hi, text: Hi }\n`, serve())).errors).toEqual([]);
  });

  test("check refuses a to that holds more than one address or no address", () => {
    for (const to of ["ops@example.org, {{body.email}}", "{{body.name}} {{body.email}}", "not-an-address"]) {
      const { errors } = load(hookYaml(`      - email: { to: "${to}", subject: Hi, text: Hi }\n`, serve()));
      expect([to, errors[0]?.split("\n")[0]?.replace(/^hooks\.yaml:\d+:\d+: /, "").split(":")[0]]).toEqual([to, "hooks.welcome.actions[0].email.to"]);
    }
  });
});

describe("html and text", () => {
  test("values are escaped in html and kept as they are in text", async () => {
    const link = "<a href=https://evil.test>Reset your password</a>";
    const { config } = load(hookYaml(`      - name: mail\n        email: { to: "{{body.email}}", subject: Welcome, text: "Hi {{body.name}}", html: "<p>Hi {{body.name}}</p>" }\n`, serve()));
    const start = smtp.mails.length;
    const [job] = await deliverThroughOutbox(config!, "welcome.mail", [{ ...ada, name: link }], ENV);
    expect(job!.state).toBe("done");
    const raw = smtp.mails[start]!.raw.replace(/=\r\n/g, "").replace(/=3D/g, "=");
    expect(raw).toContain("<p>Hi &lt;a href=https://evil.test&gt;Reset your password&lt;/a&gt;</p>");
    expect(raw).not.toContain("<a href=https://evil.test>Reset your password</a></p>");
    expect(raw).toContain(`Hi ${link}`);
  });
});

describe("html attributes", () => {
  test("check refuses a user-controlled value as a link target, a handler or a style; text and plain attributes pass", () => {
    for (const html of [`<a href='{{body.name}}'>your site</a>`, `<a href={{body.name}}>x</a>`, `<img src='https://x.test/{{body.name}}'>`, `<p style='color: {{body.name}}'>x</p>`, `<p onclick='{{body.name}}'>x</p>`]) {
      const { errors } = load(hookYaml(`      - email: { to: "{{body.email}}", subject: Hi, html: "${html}" }\n`, serve()));
      expect([html, errors[0]?.split("\n")[0]?.replace(/^hooks\.yaml:\d+:\d+: /, "")]).toEqual([html, expect.stringMatching(/^hooks\.welcome\.actions\[0\]\.email\.html: \{\{body\.name\}\} is in the html attribute (href|src|style|onclick), and identity\.traits\.name is typed by the user$/)]);
    }
    for (const html of [`<p>Hi {{body.name}}</p>`, `<img alt='{{body.name}}'>`, `<a href='https://example.com/u/{{body.identity_id}}'>profile</a>`]) {
      expect([html, load(hookYaml(`      - email: { to: "{{body.email}}", subject: Hi, html: "${html}" }\n`, serve())).errors]).toEqual([html, []]);
    }
  });
});

describe("html: where escaping is not enough", () => {
  test("check refuses a user-controlled value inside a tag, an unquoted attribute, a script or style, or an attribute that is not inert text", () => {
    const refused: [string, RegExp][] = [
      // Escaping leaves letters, spaces and = alone: these would write markup or attributes.
      [`<a {{body.name}}>x</a>`, /is inside an html tag/],
      [`<{{body.name}}>`, /is inside an html tag/],
      [`<img alt={{body.name}}>`, /is in the html attribute alt without quotes/],
      [`<a href='https://x.test/' title={{body.name}}>x</a>`, /is in the html attribute title without quotes/],
      // CSS and code need no < > or quotes.
      [`<style>p { color: {{body.name}} }</style>`, /is inside a style element/],
      [`<script>var x = 1 + {{body.name}}</script>`, /is inside a script element/],
      // Attributes that parse their value as HTML, a refresh target, or an animation value.
      [`<iframe srcdoc='<p>{{body.name}}</p>'></iframe>`, /is in the html attribute srcdoc/],
      [`<meta http-equiv=refresh content='0;url={{body.name}}'>`, /is in the html attribute content/],
      // A '>' inside a quoted value does not end the tag.
      [`<a title='a>b' href='{{body.name}}'>x</a>`, /is in the html attribute href/],
    ];
    for (const [html, why] of refused) {
      const { errors } = load(hookYaml(`      - email: { to: "{{body.email}}", subject: Hi, html: "${html}" }\n`, serve()));
      expect([html, errors[0]?.split("\n")[0]]).toEqual([html, expect.stringMatching(why)]);
    }
    for (const html of [`<p title='{{body.name}}' class=\\"x\\">Hi {{body.name}}</p>`, `<!-- {{body.name}} -->`, `<textarea>{{body.name}}</textarea>`, `<style>p { color: red }</style><p>{{body.name}}</p>`, `<a href='https://x.test/u/{{body.identity_id}}'>{{body.name}}</a>`]) {
      expect([html, load(hookYaml(`      - email: { to: "{{body.email}}", subject: Hi, html: "${html}" }\n`, serve())).errors]).toEqual([html, []]);
    }
  });
});

describe("subject", () => {
  test("a 60,000-character name is cut to the documented maximum and folded: no header line passes 78 octets, and a line break adds no header", async () => {
    const { config } = load(hookYaml(`      - name: mail\n        email: { to: "{{body.email}}", subject: "Welcome {{body.name}}", text: Hi }\n`, serve()));
    const start = smtp.mails.length;
    const names = ["a".repeat(60_000), "Łukasz ".repeat(9000), "Ada\r\nBcc: evil@attacker.test\r\nX-Evil: 1"];
    const jobs = await deliverThroughOutbox(config!, "welcome.mail", names.map((name) => ({ ...ada, name })), ENV);
    expect(jobs.map((j) => j.state)).toEqual(["done", "done", "done"]);
    const got = smtp.mails.slice(start);
    for (const m of got) {
      for (const line of headerLines(m.raw)) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(78);
      expect(m.to).toEqual(["ada@example.org"]);
      expect(header(m.raw, "Bcc")).toBeUndefined();
      expect(header(m.raw, "X-Evil")).toBeUndefined();
    }
    // Deliveries run concurrently: find each subject by its start.
    const subjects = got.map((m) => decodeWords(header(m.raw, "Subject")!));
    const long = subjects.find((s) => s.startsWith("Welcome aaa"))!;
    expect([...long].length).toBe(MAX_SUBJECT_CHARS);
    expect(long).toBe(`Welcome ${"a".repeat(MAX_SUBJECT_CHARS - 9)}…`);
    const unicode = subjects.find((s) => s.startsWith("Welcome Łukasz Łukasz"))!;
    expect([...unicode].length).toBe(MAX_SUBJECT_CHARS);
    expect(subjects).toContain("Welcome Ada Bcc: evil@attacker.test X-Evil: 1");
  });
});
