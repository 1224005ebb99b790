// W3C traceparent from Kratos: kept with the jobs of the request and logged as trace_id when it is
// well formed; anything else is request input that is dropped, never stored or echoed.
import { describe, expect, test } from "bun:test";
import { parseTraceparent } from "../../src/trace-context.ts";
import { bearer, kratosRequest, testApp } from "./helpers.ts";

const VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("traceparent on a webhook", () => {
  test("a valid one is stored with every job of the request and its trace id logged on the request line", async () => {
    const t = testApp();
    const res = await t.handle(kratosRequest("/hooks/welcome", { identity_id: "b1c4a2e0-0000-4000-8000-000000000001", email: "ann@example.com" }, { triggerId: "trig-1", headers: { ...bearer, traceparent: VALID } }));
    expect(res.status).toBe(204);
    expect(t.mem.jobs().map((j) => [j.traceparent, j.triggerId, j.identityId])).toEqual([
      [VALID, "trig-1", "b1c4a2e0-0000-4000-8000-000000000001"],
      [VALID, "trig-1", "b1c4a2e0-0000-4000-8000-000000000001"],
    ]);
    expect(t.log.lines.find((l) => l.msg === "request")).toMatchObject({ trace_id: "4bf92f3577b34da6a3ce929d0e0e4736", trigger_id: "trig-1" });
  });

  test("a malformed or hostile one is dropped: not stored, not logged", async () => {
    const t = testApp();
    const hostile = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01<script>";
    await t.handle(kratosRequest("/hooks/welcome", { identity_id: "b1c4a2e0-0000-4000-8000-000000000002", email: "bob@example.com" }, { headers: { ...bearer, traceparent: hostile } }));
    expect(t.mem.jobs().map((j) => j.traceparent)).toEqual([null, null]);
    expect(JSON.stringify(t.log.lines)).not.toContain("script");
  });

  test("parseTraceparent: version 00 only, lower-case hex, ids not all zero", () => {
    expect(parseTraceparent(VALID)).toBe(VALID);
    expect(parseTraceparent(` ${VALID} `)).toBe(VALID);
    for (const bad of [null, "", VALID.toUpperCase(), VALID.replace(/^00/, "ff"), `00-${"0".repeat(32)}-00f067aa0ba902b7-01`, `00-4bf92f3577b34da6a3ce929d0e0e4736-${"0".repeat(16)}-01`, "00-abc-def-01"]) {
      expect(parseTraceparent(bad)).toBeNull();
    }
  });
});
