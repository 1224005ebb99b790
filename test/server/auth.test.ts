// Auth exactly as Kratos sends it (CONTRACT §2.3), unit by unit and through app.handle.
import { describe, expect, test } from "bun:test";
import { compileAuth, cookieValues, goCookieValue } from "../../src/server/auth.ts";
import { ConfigError } from "../../src/errors.ts";
import { BASIC_PASSWORD, bearer, kratosRequest, SECRET, testApp } from "./helpers.ts";

const ID = "5ff66179-c240-4703-b0d8-494592cefff5";
const SID = "068f6bb6-d15f-436d-94f7-b3fd0489c9ef";
const h = (init: Record<string, string>) => new Headers(init);

describe("api_key in a header", () => {
  const check = compileAuth("t", { type: "api_key", in: "header", name: "X-Api-Key", value_prefix: "Token ", secret_env: "K" }, { K: "abc" });
  test("accepts value_prefix + secret", () => expect(check(h({ "X-Api-Key": "Token abc" }))).toBe(true));
  test("header names are case-insensitive", () => expect(check(h({ "x-api-key": "Token abc" }))).toBe(true));
  test("rejects the secret without its prefix", () => expect(check(h({ "X-Api-Key": "abc" }))).toBe(false));
  test("rejects a wrong secret of the same length", () => expect(check(h({ "X-Api-Key": "Token abd" }))).toBe(false));
  test("rejects a longer or shorter secret", () => {
    expect(check(h({ "X-Api-Key": "Token abcd" }))).toBe(false);
    expect(check(h({ "X-Api-Key": "Token ab" }))).toBe(false);
  });
  test("rejects a missing header", () => expect(check(h({}))).toBe(false));
  test("rejects the key sent as a cookie instead", () => expect(check(h({ Cookie: "X-Api-Key=Token abc" }))).toBe(false));
});

describe("api_key in a cookie", () => {
  const check = compileAuth("t", { type: "api_key", in: "cookie", name: "My-Key", secret_env: "K" }, { K: "My-Key-Value" });
  test("accepts Cookie: name=value as Go's AddCookie writes it", () => expect(check(h({ Cookie: "My-Key=My-Key-Value" }))).toBe(true));
  test("finds the cookie among others", () => expect(check(h({ Cookie: "a=1; My-Key=My-Key-Value; b=2" }))).toBe(true));
  test("cookie names are case-sensitive", () => expect(check(h({ Cookie: "my-key=My-Key-Value" }))).toBe(false));
  test("rejects a wrong value", () => expect(check(h({ Cookie: "My-Key=nope" }))).toBe(false));
  test("rejects the key sent as a header instead", () => expect(check(h({ "My-Key": "My-Key-Value" }))).toBe(false));
  test("rejects no Cookie header", () => expect(check(h({}))).toBe(false));
  test("a value with a space arrives quoted, as net/http sends it", () => {
    const spaced = compileAuth("t", { type: "api_key", in: "cookie", name: "k", value_prefix: "Bearer ", secret_env: "K" }, { K: "x" });
    expect(spaced(h({ Cookie: 'k="Bearer x"' }))).toBe(true);
  });
  test("goCookieValue drops bytes net/http drops", () => expect(goCookieValue('a;b"c\\d\u00e9e')).toBe("abcde"));
  test("cookieValues parses every same-named cookie", () => expect(cookieValues('x=1; y=2; x="3"', "x")).toEqual(["1", "3"]));
});

describe("basic_auth", () => {
  const check = compileAuth("t", { type: "basic_auth", user: "kratos", password_env: "P" }, { P: "pw:with colon" });
  const basic = (s: string) => `Basic ${Buffer.from(s).toString("base64")}`;
  test("accepts Authorization: Basic base64(user:password)", () => expect(check(h({ Authorization: basic("kratos:pw:with colon") }))).toBe(true));
  test("the scheme is case-insensitive", () => expect(check(h({ authorization: basic("kratos:pw:with colon").replace("Basic", "basic") }))).toBe(true));
  test("rejects a wrong password", () => expect(check(h({ Authorization: basic("kratos:pw") }))).toBe(false));
  test("rejects a wrong user", () => expect(check(h({ Authorization: basic("admin:pw:with colon") }))).toBe(false));
  test("rejects a Bearer token", () => expect(check(h({ Authorization: "Bearer pw:with colon" }))).toBe(false));
  test("rejects a missing header", () => expect(check(h({}))).toBe(false));
});

describe("secrets at startup", () => {
  test("an unset secret_env fails startup naming the variable, not a value", () => {
    let err: unknown;
    try {
      compileAuth("welcome", { type: "api_key", in: "header", name: "A", secret_env: "MISSING_SECRET" }, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain("MISSING_SECRET");
    expect((err as ConfigError).path).toBe("hooks.welcome.auth.secret_env");
  });
  test("an empty password_env counts as unset", () => {
    expect(() => compileAuth("s", { type: "basic_auth", user: "u", password_env: "EMPTY" }, { EMPTY: "" })).toThrow(/EMPTY is not set/);
  });
  test("createApp fails before listening when a hook's secret is missing", () => {
    expect(() => testApp({ env: {} })).toThrow(/TEST_HOOKS_SECRET/);
  });
});

describe("through the app", () => {
  const r = testApp();
  test("header api_key: right → 204, wrong/missing → 401 JSON without the secret", async () => {
    const ok = await r.handle(kratosRequest("/hooks/welcome", { identity_id: ID, email: "a@b.co" }, { headers: bearer }));
    expect(ok.status).toBe(204);
    for (const headers of [{}, { Authorization: "Bearer wrong" }, { Authorization: SECRET }] as Record<string, string>[]) {
      const res = await r.handle(kratosRequest("/hooks/welcome", { identity_id: ID, email: "a@b.co" }, { headers }));
      expect(res.status).toBe(401);
      expect(res.headers.get("content-type")).toBe("application/json");
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({ error: { code: "unauthorized", message: "missing or wrong credentials" } });
      expect(text).not.toContain(SECRET);
    }
  });
  test("lower-case header name is accepted", async () => {
    const res = await r.handle(kratosRequest("/hooks/welcome", { identity_id: ID, email: "c@b.co" }, { headers: { authorization: `Bearer ${SECRET}` } }));
    expect(res.status).toBe(204);
  });
  test("cookie api_key: cookie accepted, same key as a header refused", async () => {
    const body = { identity_id: ID, session_id: SID };
    expect((await r.handle(kratosRequest("/hooks/audit", body, { method: "PUT", headers: { Cookie: `kh_key=${SECRET}` } }))).status).toBe(204);
    expect((await r.handle(kratosRequest("/hooks/audit", body, { method: "PUT", headers: { kh_key: SECRET } }))).status).toBe(401);
  });
  test("basic_auth through the app", async () => {
    const good = `Basic ${Buffer.from(`kratos:${BASIC_PASSWORD}`).toString("base64")}`;
    expect((await r.handle(kratosRequest("/hooks/sync", { identity_id: ID }, { headers: { Authorization: good } }))).status).toBe(204);
    expect((await r.handle(kratosRequest("/hooks/sync", { identity_id: ID }, { headers: { Authorization: "Basic a3JhdG9zOng=" } }))).status).toBe(401);
  });
  test("auth runs before the body is looked at: bad JSON without credentials is 401", async () => {
    const res = await r.handle(kratosRequest("/hooks/welcome", null, { raw: "{nope" }));
    expect(res.status).toBe(401);
  });
  test("logs never hold the secret, cookies or auth headers", () => {
    const text = JSON.stringify(r.log.lines);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain("kh_key");
    expect(text.toLowerCase()).not.toContain("authorization");
  });
});
