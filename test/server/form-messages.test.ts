// A blocking hook whose body fails its declaration because of what the user entered answers with
// a form message Kratos shows at the field (CONTRACT §5.2), not a 400 that Kratos turns into a
// generic error page (§4.3); a mismatch the user did not cause stays a 400.
import { describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config/load.ts";
import { ConfigErrors } from "../../src/errors.ts";
import { kratosRequest, loadTestConfig, testApp } from "./helpers.ts";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ID = "5ff66179-c240-4703-b0d8-494592cefff5";

const YAML = `
kratos: { version: v26.2.0 }
receiver: { url: http://127.0.0.1:4459 }
hooks:
  gate:
    on: registration.after
    methods: [password]
    mode: interrupt
    body:
      flow_id: flow.id
      nick: { from: identity.traits.nick, max_length: 8 }
      consent: { from: flow.transient_payload.consent, type: boolean }
    rules:
      - when: { field: nick, equals: root }
        deny: { field: nick, text: Reserved. }
  plan:
    on: registration.after
    methods: [password]
    mode: enrich
    body:
      email: { from: identity.traits.email, format: email }
    enrich:
      - metadata_public: { plan: free }
  note:
    on: registration.after
    methods: [password]
    mode: notify
    body:
      nick: { from: identity.traits.nick, max_length: 8 }
`;

const message = (ptr: string, text: string, reason: string) =>
  JSON.stringify({ messages: [{ instance_ptr: ptr, messages: [{ id: 9099900, text, type: "error", context: { reason } }] }] });

describe("a blocking hook's body that the user's input does not fit", () => {
  const r = testApp({ config: loadTestConfig(YAML) });
  const post = async (path: string, body: unknown) => {
    const res = await r.handle(kratosRequest(path, body));
    return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
  };

  test("a trait longer than max_length: 422 with a message at the trait, nothing stored", async () => {
    const res = await post("/hooks/gate", { flow_id: ID, nick: "much-too-long", consent: true });
    expect(res.status).toBe(422);
    expect(res.type).toBe("application/json");
    expect(res.text).toBe(message("#/traits/nick", "Enter at most 8 characters.", "body.nick: expected string length less or equal to 8"));
    expect(r.mem.accepted).toHaveLength(0);
    const line = r.log.lines.at(-1)!;
    expect(line).toMatchObject({ level: "warn", msg: "request", hook: "gate", status: 422, error: "invalid_value", field: "body.nick" });
  });

  test("a required trait the user left out: 'This field is required.' at the trait", async () => {
    const res = await post("/hooks/gate", { flow_id: ID, consent: true });
    expect(res.status).toBe(422);
    expect(res.text).toBe(message("#/traits/nick", "This field is required.", "body.nick: required field is missing"));
  });

  test("a transient_payload value of the wrong type: a form-level message (#/)", async () => {
    const res = await post("/hooks/gate", { flow_id: ID, nick: "ann", consent: "yes" });
    expect(res.status).toBe(422);
    expect(JSON.parse(res.text).messages[0]).toMatchObject({ instance_ptr: "#/", messages: [{ id: 9099900, text: "This value is not valid here.", type: "error" }] });
  });

  test("an enrich hook answers the same way (Kratos parses messages for response.parse too)", async () => {
    const res = await post("/hooks/plan", { email: "not-an-address" });
    expect(res.status).toBe(422);
    expect(res.text).toBe(message("#/traits/email", "Enter a valid email address.", "body.email: expected string in email format"));
  });

  test("a field the user does not control (flow.id) stays a 400 naming it: a misconfiguration", async () => {
    const res = await post("/hooks/gate", { nick: "ann", consent: true });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toEqual({ error: { code: "invalid_body", message: "body.flow_id: required field is missing", field: "body.flow_id" } });
  });

  test("an undeclared field stays a 400", async () => {
    const res = await post("/hooks/gate", { flow_id: ID, nick: "ann", consent: true, extra: 1 });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).error.code).toBe("invalid_body");
  });

  test("a notify hook keeps the 400: Kratos does not parse its answer (it does not block the flow)", async () => {
    const res = await post("/hooks/note", { nick: "much-too-long" });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).error).toMatchObject({ code: "invalid_body", field: "body.nick" });
  });

  test("input that fits goes on to the rules as before", async () => {
    expect((await post("/hooks/gate", { flow_id: ID, nick: "root", consent: true })).status).toBe(422);
    expect((await post("/hooks/gate", { flow_id: ID, nick: "ann", consent: true })).status).toBe(204);
  });
});

describe("message ids", () => {
  test("a rule may not use the receiver's own ids (9099900-9099999)", () => {
    const dir = mkdtempSync(join(tmpdir(), "kh-ids-"));
    const file = join(dir, "hooks.yaml");
    writeFileSync(file, YAML.replace("deny: { field: nick, text: Reserved. }", "deny: { field: nick, id: 9099950, text: Reserved. }"));
    let error: unknown;
    try {
      loadConfig(file, { env: {}, cwd: dir });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigErrors);
    expect(String((error as Error).message)).toContain("message id 9099950 is one of the receiver's own (9099900-9099999)");
  });
});
