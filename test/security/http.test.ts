// Hostile values against the http action, through the real loader, a real SQLite outbox, the
// worker and a real HTTP sink on 127.0.0.1: a URL's origin, a path segment, a query value, a
// header value, and an echoed secret in an error.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cleanupDirs, deliverThroughOutbox, hookYaml, load } from "./harness.ts";

type Seen = { path: string; headers: Record<string, string> };
const seen: Seen[] = [];
let sink: ReturnType<typeof Bun.serve>;
let base = "";

beforeAll(() => {
  sink = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      seen.push({ path: url.pathname + url.search, headers: Object.fromEntries(req.headers) });
      // An error page that echoes the request's Authorization header after some text, as a
      // debugging proxy might: the secret crosses the 200-character excerpt of the error.
      // A 404 page that echoes the path and query as they came, percent-encoded.
      if (url.pathname.startsWith("/missing/")) return new Response(`no route for ${url.pathname}${url.search}`, { status: 404 });
      if (url.pathname === "/echo") return new Response(`${"x".repeat(170)} got header: ${req.headers.get("authorization")}`, { status: 400 });
      return new Response("ok");
    },
  });
  base = `http://127.0.0.1:${sink.port}`;
});
afterAll(() => {
  sink.stop(true);
  cleanupDirs();
});

const ENV = { KRATOS_HOOKS_SECRET: "hook-secret-value", CRM_TOKEN: "crm-t0ken-7f3a9c2e1b5d4f6a8c0e", CRM_URL: "" };
const ada = { identity_id: "5ff66179-c240-4703-b0d8-494592cefff5", email: "ada@example.org", name: "Ada" };

describe("url: scheme, host and port", () => {
  test("a user-controlled value in the host, port, scheme or userinfo is refused by check, naming file:line:col; after the origin it passes", () => {
    for (const url of ["http://{{body.name}}/internal/admin", "http://127.0.0.1:{{body.name}}/x", "{{body.name}}://crm.example.com/x", "https://u:{{body.name}}@crm.example.com/", "https://crm.{{body.name}}.example.com/", "{{env.CRM_URL}}{{body.name}}/x"]) {
      const { errors } = load(hookYaml(`      - http: { url: "${url}", headers: { Authorization: "Bearer {{env.CRM_TOKEN}}" } }\n`));
      // (A template in the userinfo is also refused as credentials in a url: either error may come first.)
      const trust = errors.find((e) => e.includes("would set the URL's scheme, host or port"));
      expect([url, trust?.split("\n")[0]]).toEqual([url, "hooks.yaml:13:22: hooks.welcome.actions[0].http.url: {{body.name}} would set the URL's scheme, host or port, and identity.traits.name is typed by the user"]);
      expect(trust).toContain("hint: a sign-up form must not choose where a delivery goes");
    }
    // The origin from literal text or an env var, body values after it, passes.
    for (const url of ["https://crm.example.com/u/{{body.name}}", "{{env.CRM_URL}}/u/{{body.name}}", "https://{{env.CRM_HOST}}/u?n={{body.name}}", "https://crm.example.com/{{body.identity_id}}"]) {
      const { errors } = load(hookYaml(`      - http: { url: "${url}" }\n`));
      expect([url, errors]).toEqual([url, []]);
    }
  });
});

describe("headers that route the request", () => {
  test("a user-controlled Host (sent as given: it picks the virtual host), X-Forwarded-Host, X-Original-URL or method override is refused by check", async () => {
    for (const header of ["Host", "X-Forwarded-Host", "Forwarded", "X-Original-URL", "X-HTTP-Method-Override"]) {
      const { errors } = load(hookYaml(`      - http: { url: "${base}/ok", headers: { ${header}: "{{body.name}}.crm.example.com" } }\n`));
      expect([header, errors[0]?.split("\n")[0]?.replace(/^hooks\.yaml:\d+:\d+: /, "")]).toEqual([header, `hooks.welcome.actions[0].http.headers.${header}: header ${header} takes {{body.name}}, and identity.traits.name is typed by the user; ${header} decides where the request goes or what it does, as the URL's host does`]);
    }
    // What it would do: the destination sees the Host the template gave.
    const { config } = load(hookYaml(`      - name: crm\n        http: { url: "${base}/ok", headers: { Host: "{{body.identity_id}}.crm.test" } }\n`));
    const start = seen.length;
    const [job] = await deliverThroughOutbox(config!, "welcome.crm", [ada], ENV);
    expect(job!.state).toBe("done");
    expect(seen[start]!.headers.host).toBe(`${ada.identity_id}.crm.test`);
  });
});

describe("url: values a sign-up can store", () => {
  test("identity.metadata_public is user-controlled: an enrich patch may have copied a trait into it, so it cannot set a host", () => {
    const yaml = `kratos: { version: v26.2.0 }\nreceiver: { url: http://127.0.0.1:4459 }\nhooks:
  profile:
    on: registration.after
    methods: [password]
    mode: enrich
    body: { website: { from: identity.traits.website } }
    enrich:
      - metadata_public: { crm_host: "{{body.website}}" }
  sync:
    on: settings.after
    body: { identity_id: identity.id, meta: identity.metadata_public }
    actions:
      - http: { url: "http://{{body.meta.crm_host}}/contacts/{{body.identity_id}}" }
`;
    const { errors } = load(yaml);
    expect(errors[0]?.split("\n")[0]).toBe("hooks.yaml:15:22: hooks.sync.actions[0].http.url: {{body.meta.crm_host}} would set the URL's scheme, host or port, and identity.metadata_public holds what enrich hooks stored, and a patch may copy a trait there");
  });
});

describe("url: path segments and query values", () => {
  test("a path value '..' or '.', or one holding such a part between slashes, kills the job with a clear reason and sends nothing; other values stay inside their segment or query value", async () => {
    const { config } = load(hookYaml(`      - name: crm\n        http: { url: "${base}/api/users/{{body.name}}/profile?tag={{body.name}}" }\n`));
    const hostile = ["..", ".", "../../admin", "a/b?x=1#y", "%2e%2e", "x@evil.test:80", "..\\admin"];
    const start = seen.length;
    const jobs = await deliverThroughOutbox(config!, "welcome.crm", hostile.map((name) => ({ ...ada, name })), ENV);
    expect(jobs.map((j) => [j.state, j.lastError])).toEqual([
      ["dead", "url: {{body.name}} is '..' in the url's path, a dot segment that would walk up the path; refused"],
      ["dead", "url: {{body.name}} is '.' in the url's path, a dot segment that would walk up the path; refused"],
      // One segment as sent ("..%2F..%2Fadmin"), but a destination or proxy that decodes %2F walks up with it.
      ["dead", "url: {{body.name}} has a '.' or '..' part (or its %2e spelling) between slashes in the url's path, which walks up the path where the destination decodes %2F or %25; refused"],
      ["done", null],
      ["dead", "url: {{body.name}} has a '.' or '..' part (or its %2e spelling) between slashes in the url's path, which walks up the path where the destination decodes %2F or %25; refused"],
      ["done", null],
      ["dead", "url: {{body.name}} has a '.' or '..' part (or its %2e spelling) between slashes in the url's path, which walks up the path where the destination decodes %2F or %25; refused"],
    ]);
    expect(seen.slice(start).map((s) => s.path).sort()).toEqual(
      [
        "/api/users/a%2Fb%3Fx%3D1%23y/profile?tag=a%2Fb%3Fx%3D1%23y",
        "/api/users/x%40evil.test%3A80/profile?tag=x%40evil.test%3A80",
      ].sort(),
    );
  });

  test("a constant dot segment, or one in the literal path, is refused by check", () => {
    const constant = load(`${KRATOS_CONSTANT}      - http: { url: "https://crm.example.com/a/{{body.up}}/b" }\n`);
    expect(constant.errors[0]?.split("\n")[0]).toBe("hooks.yaml:11:22: hooks.welcome.actions[0].http.url: {{body.up}} is '..', a dot segment in the URL's path");
    const literal = load(hookYaml(`      - http: { url: "https://crm.example.com/a/../admin/{{body.name}}" }\n`));
    expect(literal.errors[0]?.split("\n")[0]).toBe("hooks.yaml:13:22: hooks.welcome.actions[0].http.url: the URL's path has a '.' or '..' segment");
  });
});

const KRATOS_CONSTANT = `kratos: { version: v26.2.0 }
receiver: { url: http://127.0.0.1:4459 }
hooks:
  welcome:
    on: registration.after
    auth: { type: api_key, in: header, name: X-Key, secret_env: KRATOS_HOOKS_SECRET }
    body:
      email: { from: identity.traits.email }
      up: { value: ".." }
    actions:
`;

describe("header values", () => {
  test("text outside Latin-1 arrives RFC 8187-encoded, Latin-1 as is, and CR/LF kills the job naming the header; nothing is injected", async () => {
    const { config } = load(hookYaml(`      - name: crm\n        http: { url: "${base}/h", headers: { X-Name: "{{body.name}}" } }\n`));
    const names = ["Łukasz 漢字", "José Ñúñez", "a\r\nX-Injected: 1", "b\nSet-Cookie: x=1"];
    const start = seen.length;
    const jobs = await deliverThroughOutbox(config!, "welcome.crm", names.map((name) => ({ ...ada, name })), ENV);
    expect(jobs.map((j) => [j.state, j.lastError])).toEqual([
      ["done", null],
      ["done", null],
      ["dead", "header X-Name: {{body.name}} holds a line break or control character, which an HTTP header cannot carry; refused"],
      ["dead", "header X-Name: {{body.name}} holds a line break or control character, which an HTTP header cannot carry; refused"],
    ]);
    const got = seen.slice(start);
    expect(got.map((s) => s.headers["x-name"]).sort()).toEqual(["UTF-8''%C5%81ukasz%20%E6%BC%A2%E5%AD%97", Buffer.from("José Ñúñez", "latin1").toString("latin1")].sort());
    expect(got.some((s) => "x-injected" in s.headers || "set-cookie" in s.headers)).toBe(false);
  });

  test("check refuses literal text a header cannot carry, and warns about user text in a header", () => {
    const literal = load(hookYaml(`      - http: { url: "https://crm.example.com/", headers: { X-Team: "Łódź" } }\n`));
    expect(literal.errors[0]?.split("\n")[0]).toBe("hooks.yaml:13:69: hooks.welcome.actions[0].http.headers.X-Team: header X-Team has text outside Latin-1");
    const { config } = load(hookYaml(`      - http: { url: "https://crm.example.com/", headers: { X-Name: "{{body.name}}" } }\n`));
    expect(config!.warnings!.map((w) => w.format().split("\n")[0]!.replace(/^[^ ]+ /, ""))).toContain(
      "hooks.welcome.actions[0].http.headers.X-Name: header X-Name takes {{body.name}}, which is user-controlled text (identity.traits.name is typed by the user)",
    );
  });
});

describe("redaction before truncation", () => {
  test("a secret echoed by the destination is masked whole before the error is cut: no prefix of it is stored", async () => {
    const { config } = load(hookYaml(`      - name: crm\n        http: { url: "${base}/echo", headers: { Authorization: "Bearer {{env.CRM_TOKEN}}" } }\n`));
    const [job] = await deliverThroughOutbox(config!, "welcome.crm", [ada], ENV);
    expect(job!.state).toBe("dead");
    expect(job!.lastError).toContain("got header: Bearer ***");
    for (let n = 4; n <= ENV.CRM_TOKEN.length; n++) expect(job!.lastError).not.toContain(ENV.CRM_TOKEN.slice(0, n));
  });
});

describe("redaction of encoded secrets", () => {
  test("a secret in the url is masked in the forms a url gives it: percent-encoded in the path and query, form-encoded", async () => {
    const key = "k3y wïth/slash+plus&amp";
    const env = { ...ENV, CRM_KEY: key };
    const { config } = load(hookYaml(`      - name: crm\n        http: { url: "${base}/missing/{{env.CRM_KEY}}?key={{env.CRM_KEY}}" }\n`));
    const [job] = await deliverThroughOutbox(config!, "welcome.crm", [ada], env);
    expect(job!.state).toBe("dead");
    // What the destination saw, echoed back, and the url the error names, masked in every spelling.
    expect(job!.lastError).toContain("answered 404: no route for /missing/");
    const forms = [key, encodeURIComponent(key), encodeURI(key), new URL(`http://x/${key}`).pathname.slice(1), new URLSearchParams({ k: key }).toString().slice(2)];
    for (const form of forms) expect([form, job!.lastError!.includes(form)]).toEqual([form, false]);
    expect(job!.lastError).not.toContain("k3y");
  });
});
