// Response builders, byte-compatible with the real Kratos examples (CONTRACT §5.3 E2-E4).
import { describe, expect, test } from "bun:test";
import { DENY_STATUS, identityUpdateBody, instancePtrFor, mayAnswerIdentity, messagesBody, MESSAGE_ID_MAX, MESSAGE_ID_MIN } from "../../src/kratos/responses.ts";

describe("messages body (CONTRACT §5.2)", () => {
  test("E2: integration-test interrupt body", () => {
    expect(messagesBody([{ instancePtr: "#/traits/username", messages: [{ id: 1234, text: "error message", type: "info" }] }])).toBe(
      '{"messages":[{"instance_ptr":"#/traits/username","messages":[{"id":1234,"text":"error message","type":"info"}]}]}',
    );
  });
  test("E2: e2e mock interrupt body", () => {
    expect(messagesBody([{ instancePtr: "#/traits/email", messages: [{ id: 1234, text: "email could not be validated", type: "error" }] }])).toBe(
      '{"messages":[{"instance_ptr":"#/traits/email","messages":[{"id":1234,"text":"email could not be validated","type":"error"}]}]}',
    );
  });
  test("context goes last and only when given", () => {
    expect(messagesBody([{ instancePtr: "#/", messages: [{ id: 9000002, text: "t", type: "error", context: { reason: "x" } }] }])).toBe(
      '{"messages":[{"instance_ptr":"#/","messages":[{"id":9000002,"text":"t","type":"error","context":{"reason":"x"}}]}]}',
    );
  });
  test("zero messages is refused (Kratos: got no validation errors)", () => {
    expect(() => messagesBody([])).toThrow();
    expect(() => messagesBody([{ instancePtr: "#/", messages: [] }])).toThrow();
  });
  test("instance_ptr: traits → #/traits/<x>, anything else → #/", () => {
    expect(instancePtrFor(["identity", "traits", "email"])).toBe("#/traits/email");
    expect(instancePtrFor(["identity", "traits", "name", "first"])).toBe("#/traits/name/first");
    expect(instancePtrFor(["identity", "traits", "a/b"])).toBe("#/traits/a~1b");
    expect(instancePtrFor(["flow", "transient_payload", "consent"])).toBe("#/");
    expect(instancePtrFor(["identity", "traits"])).toBe("#/");
    expect(instancePtrFor(undefined)).toBe("#/");
  });
  test("deny status is a 4xx Kratos parses (not 429)", () => {
    expect(DENY_STATUS).toBeGreaterThanOrEqual(400);
    expect(DENY_STATUS).toBeLessThan(500);
    expect(DENY_STATUS).not.toBe(429);
    expect([MESSAGE_ID_MIN, MESSAGE_ID_MAX]).toEqual([9000000, 9099999]);
  });
});

describe("identity update body (CONTRACT §5.1)", () => {
  test("E4: metadata_public replaced", () => {
    expect(identityUpdateBody({ metadata_public: { useful: "metadata" } })).toBe('{"identity":{"metadata_public":{"useful":"metadata"}}}');
  });
  test("E4: metadata_admin, state, traits, external_id", () => {
    expect(identityUpdateBody({ metadata_admin: { useful: "admin metadata" } })).toBe('{"identity":{"metadata_admin":{"useful":"admin metadata"}}}');
    expect(identityUpdateBody({ state: "inactive" })).toBe('{"identity":{"state":"inactive"}}');
    expect(identityUpdateBody({ traits: { email: "some@other-example.org" } })).toBe('{"identity":{"traits":{"email":"some@other-example.org"}}}');
    expect(identityUpdateBody({ external_id: "" })).toBe('{"identity":{"external_id":""}}');
  });
  test("E3: keys come out in Kratos's order whatever order they are given in", () => {
    const e3 =
      '{"identity":{"traits":{"email":"updated-a@b.co"},"verifiable_addresses":[{"via":"email","value":"updated-a@b.co","verified":true}],"recovery_addresses":[{"via":"email","value":"updated-a@b.co"}],"metadata_public":{"some":"public fields"}}}';
    expect(
      identityUpdateBody({
        metadata_public: { some: "public fields" },
        recovery_addresses: [{ via: "email", value: "updated-a@b.co" }],
        verifiable_addresses: [{ via: "email", value: "updated-a@b.co", verified: true }],
        traits: { email: "updated-a@b.co" },
      }),
    ).toBe(e3);
  });
  test("nothing to say → undefined (answer 204, never an empty 200); nulls are dropped", () => {
    expect(identityUpdateBody({})).toBeUndefined();
    expect(identityUpdateBody({ metadata_public: null as never })).toBeUndefined();
  });
  test("identity answers only at after points", () => {
    expect(mayAnswerIdentity("registration.after")).toBe(true);
    expect(mayAnswerIdentity("registration.before")).toBe(false);
    expect(mayAnswerIdentity("settings.before")).toBe(false);
  });
});
