// Body handling: methods, content type, size limit, JSON syntax, and the schema derived from the
// hook's body declaration (one declaration: the Jsonnet emitter uses the same fields).
import { describe, expect, test } from "bun:test";
import { readBodyLimited } from "../../src/server/body-limit.ts";
import { bodySchema, compileBodyValidator } from "../../src/server/body-schema.ts";
import { fewBrackets, jsonErrorAt, MAX_DEPTH, nestingDepth, parseJsonBody } from "../../src/server/json-body.ts";
import { HttpError } from "../../src/errors.ts";
import { bearer, kratosJson, kratosRequest, testApp } from "./helpers.ts";

const ID = "5ff66179-c240-4703-b0d8-494592cefff5";

async function errorOf(res: Response) {
  return ((await res.json()) as { error: { code: string; message: string; field?: string } }).error;
}

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(new TextEncoder().encode(ch));
      c.close();
    },
  });
}

describe("body limit", () => {
  test("a declared Content-Length over the limit is refused before reading", async () => {
    const req = new Request("http://localhost/x", { method: "POST", headers: { "content-length": "5000" }, body: "x" });
    await expect(readBodyLimited(req, 100)).rejects.toMatchObject({ status: 413, code: "body_too_large" });
  });
  test("a streamed body is counted and refused once over the limit", async () => {
    const req = new Request("http://localhost/x", { method: "POST", body: streamOf(["a".repeat(60), "b".repeat(60)]) });
    await expect(readBodyLimited(req, 100)).rejects.toMatchObject({ status: 413 });
  });
  test("a body at the limit is read whole", async () => {
    const req = new Request("http://localhost/x", { method: "POST", body: streamOf(["a".repeat(50), "b".repeat(50)]) });
    expect((await readBodyLimited(req, 100)).byteLength).toBe(100);
  });
  test("through the app: 413 with a JSON error", async () => {
    const r = testApp();
    const big = { identity_id: ID, email: "a@b.co", name: "x".repeat(3000) };
    const res = await r.handle(kratosRequest("/hooks/welcome", big, { headers: bearer }));
    expect(res.status).toBe(413);
    expect((await errorOf(res)).message).toContain("2048 bytes");
    expect(r.mem.accepted).toHaveLength(0);
  });
});

describe("JSON syntax", () => {
  test("pretty-printed JSON with a trailing newline parses", () => {
    expect(parseJsonBody(new TextEncoder().encode(kratosJson({ a: [1, { b: "c" }] })))).toEqual({ a: [1, { b: "c" }] });
  });
  test("invalid JSON names line, column and offset", () => {
    let err: unknown;
    try {
      parseJsonBody(new TextEncoder().encode('{\n   "email": "a@b.co",\n   "x": tru\n}\n'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).message).toBe('invalid JSON at line 3 column 12 (offset 35): unexpected character "\\n"');
  });
  test("the scanner agrees with JSON.parse on what is valid", () => {
    for (const t of ['{"a":1,}', "[1,2", '{"a" 1}', "{} x", '{"a":01}', '"\\x"', "", "nul", '{"a":"\u0001"}']) {
      expect(() => JSON.parse(t)).toThrow();
      expect(jsonErrorAt(t).reason).not.toBe("not valid JSON");
    }
  });
  test("empty body and invalid UTF-8 are 400", () => {
    expect(() => parseJsonBody(new Uint8Array())).toThrow(/empty/);
    expect(() => parseJsonBody(new Uint8Array([0x7b, 0xff, 0x7d]))).toThrow(/UTF-8/);
  });
  test("nesting depth counts brackets outside strings only", () => {
    expect(nestingDepth('{"a":[{"b":"[[[{{{\\"]]"}]}')).toBe(3);
    expect(nestingDepth("[]")).toBe(1);
    expect(nestingDepth('"x"')).toBe(0);
  });
  test("a body nested deeper than MAX_DEPTH is a 400, not a stack overflow later", async () => {
    const at = `{"a":${"[".repeat(MAX_DEPTH)}${"]".repeat(MAX_DEPTH)}}`;
    expect(() => parseJsonBody(new TextEncoder().encode(at))).toThrow(/nests deeper than 128 levels/);
    const r = testApp();
    const config = { ...r.config, serve: { ...r.config.serve, bodyLimitBytes: 1_000_000 } };
    const big = testApp({ config });
    const res = await big.handle(kratosRequest("/hooks/raw", null, { raw: `{"a":${"[".repeat(200_000)}${"]".repeat(200_000)}}` }));
    expect(res.status).toBe(400);
    const ok = await big.handle(kratosRequest("/hooks/raw", null, { raw: `{"a":${"[".repeat(MAX_DEPTH - 1)}${"]".repeat(MAX_DEPTH - 1)}}` }));
    expect(ok.status).toBe(204);
  });
  test("the scan is skipped only when the brackets, in strings or not, are too few to nest deeper than MAX_DEPTH", () => {
    expect(fewBrackets(`{"a":${"[".repeat(MAX_DEPTH - 1)}${"]".repeat(MAX_DEPTH - 1)}}`, MAX_DEPTH)).toBe(true);
    expect(fewBrackets(`{"a":${"[".repeat(MAX_DEPTH)}${"]".repeat(MAX_DEPTH)}}`, MAX_DEPTH)).toBe(false);
    expect(fewBrackets(`{"a":"${"{[".repeat(MAX_DEPTH)}"}`, MAX_DEPTH)).toBe(false);
    // Many brackets, all inside a string: counted, so the scan runs, and it finds the body shallow.
    const shallow = `{"a":"${"[{".repeat(MAX_DEPTH)}"}`;
    expect(parseJsonBody(new TextEncoder().encode(shallow))).toEqual({ a: "[{".repeat(MAX_DEPTH) });
  });
  test("deep nesting does not overflow the scanner", () => {
    expect(jsonErrorAt("[".repeat(200_000)).reason).toBe("unexpected end of input");
  });
});

describe("schema derived from the body declaration", () => {
  const r = testApp();
  const welcome = r.config.hooks.find((h) => h.name === "welcome")!;
  const validate = compileBodyValidator(welcome);
  const fieldOf = (body: unknown) => validate(body);
  test("a valid body passes", () => expect(fieldOf({ identity_id: ID, email: "a@b.co", name: "Ann", age: 3 })).toBeUndefined());
  test("the all-zero pre-persist identity id is a uuid (CONTRACT §3.3)", () => expect(fieldOf({ identity_id: "00000000-0000-0000-0000-000000000000", email: "a@b.co" })).toBeUndefined());
  test("emails Kratos accepts pass: IDN, dotless domain, plus, quoted local part", () => {
    for (const email of ["用户@例子.广告", "user@localhost", "a+tag@Example.COM", '"a@b"@example.org']) expect(fieldOf({ identity_id: ID, email })).toBeUndefined();
  });
  test("the published schema keeps standard format names", () => {
    expect((bodySchema(welcome) as unknown as { properties: { email: { format: string } } }).properties.email.format).toBe("email");
  });
  test("max_length counts characters (code points), as JSON Schema does: 20 emoji fit in 20, 21 do not", () => {
    expect(fieldOf({ identity_id: ID, email: "a@b.co", name: "😀".repeat(20) })).toBeUndefined();
    const err = fieldOf({ identity_id: ID, email: "a@b.co", name: "😀".repeat(21) })!;
    expect(err.message).toBe("body.name: expected string of at most 20 characters or null");
    expect(err.userText).toBe("Enter at most 20 characters.");
  });
  test("optional fields may be absent or null", () => expect(fieldOf({ identity_id: ID, email: "a@b.co", name: null })).toBeUndefined());
  const cases: Array<[string, unknown, string, string]> = [
    ["wrong type names the field", { identity_id: ID, email: 5 }, "body.email", "body.email: expected string"],
    ["format", { identity_id: ID, email: "not-an-email" }, "body.email", "body.email: expected string in email format"],
    ["uuid format", { identity_id: "123", email: "a@b.co" }, "body.identity_id", "body.identity_id: expected string in uuid format"],
    ["missing required field", { email: "a@b.co" }, "body.identity_id", "body.identity_id: required field is missing"],
    ["unknown extra field", { identity_id: ID, email: "a@b.co", extra: 1 }, "body.extra", "body.extra: unexpected field (not declared in the hook's body)"],
    ["optional field of the wrong type", { identity_id: ID, email: "a@b.co", age: "3" }, "body.age", "body.age: expected integer or null"],
    ["max_length", { identity_id: ID, email: "a@b.co", name: "x".repeat(21) }, "body.name", "body.name: expected string of at most 20 characters or null"],
    ["not an object", [1, 2], "body", "body: expected a JSON object"],
  ];
  for (const [name, body, field, message] of cases) {
    test(`${name} → 400 ${message}`, () => {
      const err = fieldOf(body)!;
      expect(err.status).toBe(400);
      expect(err.field).toBe(field);
      expect(err.message).toBe(message);
    });
  }
  test("jsonnet escape hatch without a body declaration accepts any object", () => {
    const raw = r.config.hooks.find((h) => h.name === "raw")!;
    expect(compileBodyValidator(raw)({ anything: { goes: [1] } })).toBeUndefined();
    expect(compileBodyValidator(raw)("text")?.message).toBe("body: expected a JSON object");
  });
  test("jsonnet escape hatch with a body declaration checks declared fields, allows others", () => {
    const typed = r.config.hooks.find((h) => h.name === "typed")!;
    expect(compileBodyValidator(typed)({ identity_id: ID, extra: 1 })).toBeUndefined();
    expect(compileBodyValidator(typed)({ identity_id: 1 })?.field).toBe("body.identity_id");
  });
  test("the schema is a plain JSON Schema object (for docs and the emitter)", () => {
    const s = bodySchema(welcome) as unknown as { type: string; required: string[]; additionalProperties: boolean };
    expect(s.type).toBe("object");
    expect(s.required).toEqual(["identity_id", "email"]);
    expect(s.additionalProperties).toBe(false);
  });
  test("through the app: 400 names the field, nothing accepted", async () => {
    const res = await r.handle(kratosRequest("/hooks/welcome", { identity_id: ID, email: 5 }, { headers: bearer }));
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toEqual({ code: "invalid_body", message: "body.email: expected string", field: "body.email" });
    expect(r.mem.accepted).toHaveLength(0);
  });
  test("through the app: invalid JSON → 400 naming the position", async () => {
    const res = await r.handle(kratosRequest("/hooks/welcome", null, { headers: bearer, raw: '{"identity_id": }' }));
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toBe('invalid JSON at line 1 column 17 (offset 16): unexpected character "}"');
  });
});

describe("content type and methods", () => {
  const r = testApp();
  const body = { identity_id: ID, email: "a@b.co" };
  test("application/json with a charset is accepted", async () => {
    const res = await r.handle(kratosRequest("/hooks/welcome", body, { headers: { ...bearer, "Content-Type": "application/json; charset=utf-8" } }));
    expect(res.status).toBe(204);
  });
  test("a missing content type is accepted when the body is JSON", async () => {
    const req = new Request("http://127.0.0.1/hooks/welcome", { method: "POST", headers: bearer, body: new Blob([kratosJson(body)]) });
    expect(req.headers.get("content-type")).toBeNull();
    expect((await r.handle(req)).status).toBe(204);
  });
  test("other content types are 415", async () => {
    for (const ct of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      const res = await r.handle(kratosRequest("/hooks/welcome", body, { headers: { ...bearer, "Content-Type": ct } }));
      expect(res.status).toBe(415);
    }
  });
  test("a compressed request body is 415", async () => {
    const res = await r.handle(kratosRequest("/hooks/welcome", body, { headers: { ...bearer, "Content-Encoding": "gzip" } }));
    expect(res.status).toBe(415);
  });
  test("every method but TRACE carries the body (CONTRACT §8.16)", async () => {
    for (const method of ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
      const res = await r.handle(kratosRequest("/hooks/welcome", { ...body, identity_id: crypto.randomUUID() }, { method, headers: bearer }));
      expect(res.status).toBe(204);
    }
  });
  test("TRACE is 405 with an Allow header", async () => {
    const res = await r.handle(new Request("http://127.0.0.1/hooks/welcome", { method: "TRACE", headers: bearer }));
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toContain("POST");
  });
  test("an unknown path is a JSON 404", async () => {
    const res = await r.handle(new Request("http://127.0.0.1/hooks/nope", { method: "POST" }));
    expect(res.status).toBe(404);
    expect((await errorOf(res)).code).toBe("not_found");
  });
});
