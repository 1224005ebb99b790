// src/kratos/ctx.ts: field types per ctx path, availability per hook point, and the example ctx
// `render` evaluates bodies against. Each case follows CONTRACT §3.2-§3.4.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { canonicalHeaderName, ctxFieldType, ctxPathAvailable, DEFAULT_HEADER_ALLOWLIST, exampleCtx, headerAllowlistAt, requestHeaderKey } from "../../src/kratos/ctx.ts";
import { ctxPresence, type Point } from "../../src/kratos/hook-points.ts";
import { KNOWN_TAGS, parseVersion } from "../../src/kratos/versions.ts";

const FIXTURES = join(import.meta.dir, "../fixtures/ctx");
const V = (t: string) => parseVersion(t)!;
const POINTS = ["registration", "login", "settings", "recovery", "verification"].flatMap((f) => [`${f}.before`, `${f}.after`]) as Point[];
const NIL = "00000000-0000-0000-0000-000000000000";

describe("ctxFieldType", () => {
  test("Kratos fixes the type of well-known paths", () => {
    expect(ctxFieldType(["identity", "id"])).toEqual({ type: "string", format: "uuid" });
    expect(ctxFieldType(["flow", "id"])).toEqual({ type: "string", format: "uuid" });
    expect(ctxFieldType(["flow", "type"])).toEqual({ type: "string" });
    expect(ctxFieldType(["session", "id"])).toEqual({ type: "string", format: "uuid" });
    expect(ctxFieldType(["session", "authenticator_assurance_level"])).toEqual({ type: "string" });
    expect(ctxFieldType(["session", "identity", "id"])).toEqual({ type: "string", format: "uuid" });
    expect(ctxFieldType(["flow", "identity", "traits", "email"])).toEqual({ type: "string" });
  });
  test("request headers are lists of strings, cookies are strings", () => {
    expect(ctxFieldType(["request_headers", "User-Agent"])).toEqual({ type: "array" });
    expect(ctxFieldType(["request_cookies", "csrf_token"])).toEqual({ type: "string" });
  });
  test("traits default to string; metadata_public (may be null), transient_payload and unknown paths are any", () => {
    expect(ctxFieldType(["identity", "traits", "name", "first"])).toEqual({ type: "string" });
    expect(ctxFieldType(["identity", "metadata_public"])).toEqual({ type: "any" });
    expect(ctxFieldType(["flow", "transient_payload", "x"])).toEqual({ type: "any" });
    expect(ctxFieldType(["flow", "something_new"])).toEqual({ type: "any" });
  });
});

describe("ctxPathAvailable", () => {
  test("no identity at before hooks, no session at registration after", () => {
    expect(ctxPathAvailable(["identity", "id"], "login.before", false, V("v26.2.0")).ok).toBe(false);
    expect(ctxPathAvailable(["session", "id"], "registration.after", false, V("v26.2.0")).ok).toBe(false);
    expect(ctxPathAvailable(["identity", "id"], "registration.after", true, V("v26.2.0")).ok).toBe(true);
  });
  test("session per version: login.after since v1.2.0, settings post-persist since v25.4.0, pre-persist and before since v26.2.0", () => {
    expect(ctxPathAvailable(["session", "id"], "login.after", false, V("v1.1.0")).ok).toBe(false);
    expect(ctxPathAvailable(["session", "id"], "login.after", false, V("v1.2.0")).ok).toBe(true);
    expect(ctxPathAvailable(["session", "id"], "settings.after", false, V("v1.3.1")).ok).toBe(false);
    expect(ctxPathAvailable(["session", "id"], "settings.after", false, V("v25.4.0")).ok).toBe(true);
    expect(ctxPathAvailable(["session", "id"], "settings.after", true, V("v25.4.0")).ok).toBe(false);
    expect(ctxPathAvailable(["session", "id"], "settings.after", true, V("v26.2.0")).ok).toBe(true);
    expect(ctxPathAvailable(["session", "id"], "settings.before", false, V("v26.2.0")).ok).toBe(true);
  });
  test("flow.identity only in settings flows", () => {
    expect(ctxPathAvailable(["flow", "identity", "id"], "settings.before", false, V("v1.0.0")).ok).toBe(true);
    expect(ctxPathAvailable(["flow", "identity", "id"], "login.after", false, V("v26.2.0")).ok).toBe(false);
  });
});

describe("request header keys", () => {
  test("Go canonicalises header names", () => {
    expect(canonicalHeaderName("x-request-id")).toBe("X-Request-Id");
    expect(canonicalHeaderName("USER-AGENT")).toBe("User-Agent");
    expect(canonicalHeaderName("sec-ch-ua")).toBe("Sec-Ch-Ua");
    expect(canonicalHeaderName("odd_name")).toBe("odd_name");
  });
  test("v25.4.x keeps the allowlist entry's spelling; v26.2.0 and older versions use the canonical name", () => {
    expect(requestHeaderKey("User-Agent", V("v25.4.0"), ["user-agent"])).toBe("user-agent");
    expect(requestHeaderKey("user-agent", V("v26.2.0"), ["user-agent"])).toBe("User-Agent");
    expect(requestHeaderKey("user-agent", V("v1.3.1"), DEFAULT_HEADER_ALLOWLIST)).toBe("User-Agent");
    expect(requestHeaderKey("x-forwarded-for", V("v1.0.0"), undefined)).toBe("X-Forwarded-For");
  });
});

describe("header allowlist", () => {
  test("none before v1.3.0, the fixed list in v1.3.x, the configured list from v25.4.0", () => {
    expect(headerAllowlistAt(V("v1.2.0"), undefined)).toBeUndefined();
    expect(headerAllowlistAt(V("v1.3.1"), ["X-A"])).toEqual(DEFAULT_HEADER_ALLOWLIST);
    expect(headerAllowlistAt(V("v25.4.0"), undefined)).toEqual(DEFAULT_HEADER_ALLOWLIST);
    expect(headerAllowlistAt(V("v25.4.0"), ["X-A"])).toEqual(["X-A"]);
  });
});

describe("exampleCtx", () => {
  for (const tag of KNOWN_TAGS) {
    const v = V(tag);
    for (const point of POINTS) {
      for (const blocking of [false, true]) {
        test(`${point} ${blocking ? "interrupt/enrich" : "notify"} at ${tag} follows the presence matrix`, () => {
          const ctx = exampleCtx(point, blocking, v);
          const presence = ctxPresence(point, blocking, v);
          expect(Object.keys(ctx).sort()).toEqual(["flow", "request_cookies", "request_headers", "request_method", "request_url", ...(presence.identity ? ["identity"] : []), ...(presence.session ? ["session"] : [])].sort());
          const identity = ctx.identity as Record<string, unknown> | undefined;
          if (identity) {
            expect(identity.id === NIL).toBe(presence.identityIdIsNil);
            expect(identity).not.toHaveProperty("credentials");
            expect(identity).not.toHaveProperty("metadata_admin");
          }
          const flow = ctx.flow as Record<string, unknown>;
          expect("identity" in flow).toBe(point.startsWith("settings."));
          const after = point.endsWith(".after");
          expect("transient_payload" in flow).toBe(after && (point.startsWith("registration") || tag !== "v1.0.0" && tag !== "v1.1.0"));
          expect(ctx.request_method).toBe(after ? "POST" : "GET");
          const headers = Object.keys(ctx.request_headers as object);
          // Unfiltered up to v1.2.0: Cookie and X-Forwarded-For reach the template (CONTRACT §3.4).
          expect(headers.includes("Cookie")).toBe(["v1.0.0", "v1.1.0", "v1.2.0"].includes(tag));
        });
      }
    }
  }

  test("options set the method, traits and transient payload (null = the client sent none)", () => {
    const ctx = exampleCtx("login.after", false, V("v26.2.0"), { method: "oidc", traits: { email: "ada@example.org", name: "Ada" }, transientPayload: null });
    expect((ctx.flow as Record<string, unknown>).active).toBe("oidc");
    expect((ctx.flow as Record<string, unknown>).transient_payload).toBeUndefined();
    expect((ctx.identity as Record<string, unknown>).traits).toEqual({ email: "ada@example.org", name: "Ada" });
    expect((ctx.session as { authentication_methods: Array<{ method: string }> }).authentication_methods[0]!.method).toBe("oidc");
  });

  test("a configured header allowlist decides the headers, spelt as v25.4.x spells them", () => {
    const headers = (tag: string) => exampleCtx("login.after", false, V(tag), { headerAllowlist: ["x-request-id", "User-Agent"] }).request_headers;
    expect(Object.keys(headers("v25.4.0") as object)).toEqual(["User-Agent", "x-request-id"]);
    expect(Object.keys(headers("v26.2.0") as object)).toEqual(["User-Agent", "X-Request-Id"]);
    // Before v25.4.0 the key does not exist and the fixed list applies.
    expect(Object.keys(headers("v1.3.1") as object)).toEqual(["Accept", "Content-Type", "Origin", "User-Agent"]);
  });

  const snapshots: Array<[string, Point, boolean, string]> = [
    ["login.after.v26.2.0.json", "login.after", false, "v26.2.0"],
    ["registration.after.pre-persist.v26.2.0.json", "registration.after", true, "v26.2.0"],
    ["registration.after.post-persist.v1.2.0.json", "registration.after", false, "v1.2.0"],
    ["settings.before.v26.2.0.json", "settings.before", false, "v26.2.0"],
  ];
  for (const [file, point, blocking, tag] of snapshots) {
    test(`matches test/fixtures/ctx/${file}`, () => {
      expect(exampleCtx(point, blocking, V(tag))).toEqual(JSON.parse(readFileSync(join(FIXTURES, file), "utf8")));
    });
  }

  test("every required body field of config/hooks.yaml exists in the example ctx of its hook point", () => {
    const config = loadConfig(join(import.meta.dir, "../../config/hooks.yaml"), { env: {} });
    for (const hook of config.hooks) {
      const ctx = exampleCtx(hook.point, hook.mode !== "notify", config.kratos.version, { method: hook.methods[0] });
      for (const field of hook.fields.filter((f) => f.from && !f.optional)) {
        const value = field.from!.reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined), ctx);
        expect({ hook: hook.name, field: field.name, present: value !== undefined }).toEqual({ hook: hook.name, field: field.name, present: true });
      }
    }
  });
});
