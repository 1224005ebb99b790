// resolveDeferred copies only the containers on the way to a deferred string. These tests compare
// it with the deep-copy reference it replaced (structuredClone, then assign) over a table of
// templates and generated bodies: same output, the input left untouched, and no container of the
// output that was written to shared with the input.
import { describe, expect, test } from "bun:test";
import { buildJobPayload } from "../../src/actions/index.ts";
import { renderPhase1, resolveDeferred, type Deferred, type Env } from "../../src/template.ts";
import { emailAction, execAction, httpAction } from "../actions/helpers.ts";

/** The phase 2 that resolveDeferred replaced: a deep copy, then every deferred string assigned. */
function reference<T>(value: T, deferred: Deferred[], env: Env, secrets?: Set<string>): T {
  if (deferred.length === 0) return value;
  let root: unknown = structuredClone(value);
  for (const d of deferred) {
    let s = "";
    for (const p of d.parts) {
      if (typeof p === "string") s += p;
      else {
        const v = env[p.env];
        if (v === undefined) throw new Error(`missing ${p.env}`);
        if (v && secrets) secrets.add(v);
        s += v;
      }
    }
    if (d.path.length === 0) {
      root = s;
      continue;
    }
    let o = root as Record<string | number, unknown>;
    for (const k of d.path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
    o[d.path[d.path.length - 1]!] = s;
  }
  return root as T;
}

const env: Env = { TOKEN: "tok-123", HOST: "crm.local", EMPTY: "", A: "a-val" };

const templates: unknown[] = [
  "plain",
  "{{ env.TOKEN }}",
  "Bearer {{env.TOKEN}}",
  "{{env.HOST}}/{{body.id}}?t={{env.TOKEN}}",
  { a: "{{env.A}}", b: "{{body.n}}", c: { d: "{{env.TOKEN}} {{env.HOST}}", e: ["{{body.id}}", "{{env.EMPTY}}x"] } },
  { list: ["{{env.A}}", { deep: ["{{env.TOKEN}}", 1, null, true] }, "{{body.tags}}"], same: { x: "{{env.A}}", y: "{{env.A}}" } },
  [["{{env.A}}", "{{body.id}}"], ["{{env.HOST}}"], []],
  { n: 1, b: false, z: null, exact: "{{body.nested}}", env: "{{env.TOKEN}}" },
  JSON.parse('{ "__proto__": "{{env.A}}", "constructor": { "k": "{{env.TOKEN}}" } }'),
  { noEnv: "{{body.id}}", nested: { also: ["{{hook}}", "{{job.id}}"] } },
];

/** A small deterministic PRNG, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function randomBody(r: () => number): Record<string, unknown> {
  const word = () => ["ada", "{{ env.TOKEN }}", "x/y?z", "", "ünï", "a\"b"][Math.floor(r() * 6)]!;
  return {
    id: word(),
    n: Math.floor(r() * 1000),
    tags: Array.from({ length: Math.floor(r() * 3) }, word),
    nested: r() < 0.3 ? null : { k: word(), arr: [word(), Math.floor(r() * 9)] },
  };
}

describe("phase 2 copies only what it writes", () => {
  test("same output as the deep-copy reference for a table of templates and generated bodies; input untouched", () => {
    const r = rng(42);
    for (let i = 0; i < 300; i++) {
      const template = templates[i % templates.length];
      const ctx = { body: randomBody(r), hook: "h", jobId: `job-${i}` };
      const p1 = renderPhase1(template, ctx);
      const before = structuredClone(p1.value);
      const secretsA = new Set<string>();
      const secretsB = new Set<string>();
      const out = resolveDeferred(p1.value, p1.deferred, env, secretsA);
      expect(out).toEqual(reference(p1.value, p1.deferred, env, secretsB));
      expect([...secretsA].sort()).toEqual([...secretsB].sort());
      expect(p1.value).toEqual(before);
      // No env value leaked into the stored value.
      expect(JSON.stringify(p1.value)).not.toContain("tok-123");
    }
  });

  test("whole job payloads of every action kind, round-tripped through JSON like the store does", () => {
    const actions = [
      httpAction({ url: "https://{{env.HOST}}/c/{{body.id}}", headers: { Authorization: "Bearer {{env.TOKEN}}", "X-Id": "{{body.id}}" }, body: { email: "{{body.id}}", t: "{{env.TOKEN}}", list: ["{{env.A}}", "{{body.n}}"] } }),
      emailAction({ to: "{{body.id}}@{{env.HOST}}", subject: "Hi {{env.A}}", text: "token {{env.TOKEN}}" }),
      execAction({ command: ["/bin/echo", "{{env.TOKEN}}", "{{body.id}}"], env: { X: "{{env.A}}", Y: "{{body.n}}" } }),
    ];
    const r = rng(7);
    for (let i = 0; i < 60; i++) {
      const action = actions[i % actions.length]!;
      const payload = JSON.parse(JSON.stringify(buildJobPayload(action, { body: randomBody(r), hook: "h", jobId: `j${i}` })));
      const before = JSON.stringify(payload);
      const out = resolveDeferred(payload.input, payload.deferred, env);
      expect(out).toEqual(reference(payload.input, payload.deferred, env));
      expect(JSON.stringify(payload)).toBe(before);
    }
  });

  test("containers written to are fresh; the ones not on a deferred path are shared", () => {
    const p1 = renderPhase1({ h: { auth: "Bearer {{env.TOKEN}}" }, body: { big: ["{{body.id}}"] } }, { body: { id: "u1" }, hook: "h", jobId: "j" });
    const out = resolveDeferred(p1.value, p1.deferred, env) as { h: { auth: string }; body: unknown };
    const input = p1.value as typeof out;
    expect(out).not.toBe(input);
    expect(out.h).not.toBe(input.h);
    expect(out.body).toBe(input.body);
    out.h.auth = "changed";
    expect(input.h.auth).toBe("Bearer {{ env.TOKEN }}");
  });

  test("no deferred strings: the value itself is returned", () => {
    const v = { a: 1 };
    expect(resolveDeferred(v, [], env)).toBe(v);
    expect(resolveDeferred(v, undefined, env)).toBe(v);
  });

  test("a deferred path that does not fit the value fails instead of inventing containers", () => {
    expect(() => resolveDeferred({ a: null }, [{ path: ["a", "b"], parts: ["x"] }], env)).toThrow(TypeError);
    expect(() => resolveDeferred({ a: 1 }, [{ path: ["a", "b"], parts: ["x"] }], env)).toThrow(TypeError);
  });
});
