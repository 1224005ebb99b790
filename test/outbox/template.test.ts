import { describe, expect, test } from "bun:test";
import { Redactor } from "../../src/secrets.ts";
import { renderNow, renderPhase1, renderTextPhase1, resolveDeferred, templateRefs, MissingEnvError, TemplateError } from "../../src/template.ts";

const ctx = {
  body: { email: "ada@example.com", count: 3, vip: true, tags: ["a", "b"], profile: { city: "Paris", zip: null }, name: undefined as unknown },
  hook: "welcome",
  jobId: "0190-job",
};

describe("template refs", () => {
  test("lists body, env, hook and job refs in strings anywhere in a JSON template", () => {
    const refs = templateRefs({ a: "{{body.email}}", b: ["x {{ env.CRM_TOKEN }} y", { c: "{{hook}}/{{ job.id }}" }], d: 3, e: "{{ body.profile.city }}" });
    expect(refs.map((r) => r.kind)).toEqual(["body", "env", "hook", "job", "body"]);
    expect(refs[0]).toMatchObject({ kind: "body", path: ["email"] });
    expect(refs[1]).toMatchObject({ kind: "env", name: "CRM_TOKEN", text: "{{ env.CRM_TOKEN }}" });
    expect(refs[4]).toMatchObject({ kind: "body", path: ["profile", "city"] });
  });

  test("reports refs outside the syntax as invalid with a reason", () => {
    const refs = templateRefs(["{{ identity.id }}", "{{ env.bad-name }}", "{{ job.attempt }}", "{{ body }}"]);
    expect(refs.every((r) => r.kind === "invalid")).toBe(true);
    expect(refs.map((r) => (r.kind === "invalid" ? r.reason : ""))[0]).toContain("body.<field>");
  });

  test("text without braces has no refs", () => {
    expect(templateRefs("plain text { not a ref }")).toEqual([]);
  });
});

describe("phase 1 rendering", () => {
  test("an exact ref in a JSON template keeps the value's type", () => {
    const { value } = renderPhase1({ n: "{{body.count}}", v: "{{ body.vip }}", t: "{{body.tags}}", p: "{{body.profile}}", first: "{{body.tags.0}}" }, ctx);
    expect(value).toEqual({ n: 3, v: true, t: ["a", "b"], p: { city: "Paris", zip: null }, first: "a" });
  });

  test("anything else interpolates as text; objects as JSON", () => {
    const { value } = renderPhase1({ s: "n={{body.count}} vip={{body.vip}} tags={{body.tags}} {{hook}}:{{job.id}}" }, ctx);
    expect(value).toEqual({ s: 'n=3 vip=true tags=["a","b"] welcome:0190-job' });
  });

  test("a missing optional value is null for an exact ref and empty in text", () => {
    const { value } = renderPhase1({ exact: "{{ body.name }}", text: "Hi {{body.name}}!", deep: "{{body.profile.country}}", nul: "{{body.profile.zip}}" }, ctx);
    expect(value).toEqual({ exact: null, text: "Hi !", deep: null, nul: null });
  });

  test("non-string JSON values pass through", () => {
    expect(renderPhase1({ a: 1, b: [true, null], c: "lit" }, ctx).value).toEqual({ a: 1, b: [true, null], c: "lit" });
  });

  test("text templates never keep types", () => {
    expect(renderTextPhase1("{{body.count}}", ctx).value).toBe("3");
  });

  test("an encoder applies to body values, not to the literal text", () => {
    const r = renderTextPhase1("http://h/c/{{body.id}}?x=1", { ...ctx, body: { id: "a/b?c" } }, { encode: encodeURIComponent });
    expect(r.value).toBe("http://h/c/a%2Fb%3Fc?x=1");
  });

  test("an invalid ref is a TemplateError", () => {
    expect(() => renderPhase1("{{ ctx.identity }}", ctx)).toThrow(TemplateError);
  });
});

describe("env refs resolve only at delivery", () => {
  const env = { CRM_TOKEN: "s3cr3t-token", HOST: "crm.local" };

  test("the stored value holds the ref text, never the env value", () => {
    const r = renderPhase1({ auth: "Bearer {{env.CRM_TOKEN}}", exact: "{{ env.CRM_TOKEN }}", email: "{{body.email}}" }, ctx);
    const stored = JSON.stringify(r);
    expect(stored).not.toContain("s3cr3t-token");
    expect(r.value).toEqual({ auth: "Bearer {{ env.CRM_TOKEN }}", exact: "{{ env.CRM_TOKEN }}", email: "ada@example.com" });
    expect(r.deferred).toEqual([
      { path: ["auth"], parts: ["Bearer ", { env: "CRM_TOKEN" }] },
      { path: ["exact"], parts: [{ env: "CRM_TOKEN" }] },
    ]);
  });

  test("phase 2 assembles the deferred strings and reports the secrets used", () => {
    const r = renderPhase1({ h: { auth: "Bearer {{env.CRM_TOKEN}}" }, u: ["https://{{env.HOST}}/{{body.email}}"] }, ctx);
    const secrets = new Set<string>();
    const out = resolveDeferred(r.value, r.deferred, env, secrets);
    expect(out).toEqual({ h: { auth: "Bearer s3cr3t-token" }, u: ["https://crm.local/ada@example.com"] });
    expect([...secrets].sort()).toEqual(["crm.local", "s3cr3t-token"]);
    // The stored value is not modified.
    expect(r.value).toEqual({ h: { auth: "Bearer {{ env.CRM_TOKEN }}" }, u: ["https://{{ env.HOST }}/ada@example.com"] });
  });

  test("a body value that looks like an env ref is delivered as literal text", () => {
    const evil = { ...ctx, body: { name: "{{ env.CRM_TOKEN }}" } };
    const r = renderPhase1({ greeting: "Hi {{body.name}} from {{env.HOST}}", exact: "{{body.name}}" }, evil);
    const out = resolveDeferred(r.value, r.deferred, env) as Record<string, string>;
    expect(out.greeting).toBe("Hi {{ env.CRM_TOKEN }} from crm.local");
    expect(out.exact).toBe("{{ env.CRM_TOKEN }}");
  });

  test("a variable that is not set fails by name", () => {
    const r = renderTextPhase1("{{env.NOPE}}", ctx);
    expect(() => resolveDeferred(r.value, r.deferred, {})).toThrow(MissingEnvError);
    expect(() => resolveDeferred(r.value, r.deferred, {})).toThrow("NOPE");
  });

  test("a whole text template can be deferred", () => {
    const r = renderTextPhase1("{{ env.HOST }}", ctx);
    expect(resolveDeferred(r.value, r.deferred, env)).toBe("crm.local");
  });

  test("renderNow does both phases", () => {
    expect(renderNow({ plan: "{{body.count}}", h: "{{env.HOST}}" }, ctx, env)).toEqual({ plan: 3, h: "crm.local" });
  });

  test("redact removes secret values from text", () => {
    expect(new Redactor(["s3cr3t-token"]).redact("echo: Bearer s3cr3t-token!")).toBe("echo: Bearer ***!");
  });
});
