// What the receiver records for the admin page's Webhooks view, through the real request pipeline.
import { describe, expect, test } from "bun:test";
import { RecentRequests } from "../../src/admin/recent-requests.ts";
import { bearer, hooksKey, kratosRequest, testApp } from "../server/helpers.ts";

const ANN = "b1c4a2e0-0000-4000-8000-0000000000a1";

describe("recent requests", () => {
  test("accepted, duplicate, denied and refused requests are recorded with their ids and jobs, newest first, searchable", async () => {
    const recent = new RecentRequests();
    const t = testApp({ recent });
    const welcome = (trigger: string, headers: Record<string, string> = bearer) => t.handle(kratosRequest("/hooks/welcome", { identity_id: ANN, email: "ann@example.com" }, { triggerId: trigger, headers }));
    expect((await welcome("t-1")).status).toBe(204);
    t.advance(1);
    expect((await welcome("t-1")).status).toBe(204); // the same identity: a repeat (dedupe key identity_id)
    t.advance(1);
    expect((await t.handle(kratosRequest("/hooks/gate", { email: "x@mailinator.com", consent: true }, { triggerId: "t-2", headers: hooksKey }))).status).toBe(422);
    t.advance(1);
    expect((await welcome("t-3", {})).status).toBe(401);

    const all = recent.list();
    expect(all.map((r) => [r.hook, r.outcome, r.duplicate, r.status, r.triggerId])).toEqual([
      ["welcome", "error", false, 401, "t-3"],
      ["gate", "denied", false, 422, "t-2"],
      ["welcome", "accepted", true, 204, "t-1"],
      ["welcome", "accepted", false, 204, "t-1"],
    ]);
    expect(all[3]!.identityId).toBe(ANN);
    expect(all[3]!.jobIds).toEqual(t.mem.jobs().map((j) => j.id));
    expect(all[2]!.jobIds).toEqual([]);
    expect(all[0]!.error).toBe("unauthorized");
    expect(recent.list({ q: "t-2" }).map((r) => r.hook)).toEqual(["gate"]);
    expect(recent.list({ q: ANN })).toHaveLength(2); // the refused one was never read, so has no identity
    expect(recent.list({ q: "duplicate" })).toHaveLength(1);
    expect(recent.list({ hook: "gate" })).toHaveLength(1);
  });

  test("each hook keeps its last N; older ones drop off", () => {
    const recent = new RecentRequests(3);
    for (let i = 0; i < 5; i++) recent.record({ at: i, hook: "a", status: 204, outcome: "accepted", duplicate: false, triggerId: `t${i}`, requestId: null, identityId: null, traceId: null, error: null, jobIds: [] });
    recent.record({ at: 9, hook: "b", status: 204, outcome: "accepted", duplicate: false, triggerId: "b", requestId: null, identityId: null, traceId: null, error: null, jobIds: [] });
    expect(recent.list({ hook: "a" }).map((r) => r.triggerId)).toEqual(["t4", "t3", "t2"]);
    expect(recent.list().map((r) => r.triggerId)).toEqual(["b", "t4", "t3", "t2"]);
  });
});
