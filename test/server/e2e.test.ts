// End to end over real HTTP on 127.0.0.1 with a real store behind the GroupCommitter (SQLite
// file, and the real Postgres at 127.0.0.1:5432 in a schema of its own): requests shaped exactly
// as Kratos sends them (CONTRACT §4.1), three attempts of one trigger.
import { SQL } from "bun";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GroupCommitter } from "../../src/outbox/group-commit.ts";
import { openStore } from "../../src/outbox/open-store.ts";
import type { Store } from "../../src/outbox/store.ts";
import { createApp, type ReceiverApp } from "../../src/server/app.ts";
import { memoryLogger } from "../../src/server/log.ts";
import { ENV, kratosJson, listenReceiver, loadTestConfig, SECRET } from "./helpers.ts";
import { goRequest, rawRequest } from "./raw-http.ts";

const PG_URL = process.env.KH_TEST_POSTGRES_URL ?? `postgres://${process.env.PGUSER ?? process.env.USER ?? "postgres"}@127.0.0.1:5432/test`;
const PG_SCHEMA = `kh_server_e2e_${process.pid}_${Date.now().toString(36)}`;

type Opened = { store: Store; cleanup(): Promise<void> };
const STORES: Record<string, () => Promise<Opened>> = {
  sqlite: async () => {
    const dir = mkdtempSync(join(tmpdir(), "kh-e2e-"));
    const store = await openStore(`sqlite:${join(dir, "outbox.db")}`, { synchronous: "full" });
    return { store, cleanup: () => store.close() };
  },
  postgres: async () => {
    const store = await openStore(PG_URL, { schema: PG_SCHEMA });
    return {
      store,
      cleanup: async () => {
        await store.close();
        const admin = new SQL(PG_URL, { max: 1 });
        await admin.unsafe(`DROP SCHEMA IF EXISTS "${PG_SCHEMA}" CASCADE`);
        await admin.close();
      },
    };
  },
};

let store: Store;
let receiver: ReceiverApp;
let port: number;

const IDENTITY = "5ff66179-c240-4703-b0d8-494592cefff5";

/** Kratos's three attempts: a new Request-Id each, the same Trigger-Id and body. */
async function threeAttempts(path: string, body: unknown, headers: Record<string, string>) {
  const trigger = crypto.randomUUID();
  const text = kratosJson(body);
  const out = [];
  for (let i = 0; i < 3; i++) {
    const res = await rawRequest(
      port,
      goRequest("POST", path, port, text, { "Content-Type": "application/json", ...headers, "Ory-Webhook-Request-Id": crypto.randomUUID(), "Ory-Webhook-Trigger-Id": trigger }),
    );
    out.push({ status: res!.status, body: res!.body, contentType: res!.headers["content-type"] });
  }
  return out;
}

for (const [kind, open] of Object.entries(STORES)) {
  describe(`Kratos-shaped deliveries over HTTP with ${kind}`, () => {
    let opened: Opened;
    let listening: ReturnType<typeof listenReceiver>;
    beforeAll(async () => {
      opened = await open();
      store = opened.store;
      listening = listenReceiver(store, loadTestConfig());
      ({ receiver, port } = listening);
    });
    afterAll(async () => {
      await listening.stop();
      await opened.cleanup();
    });

    test("notify: three attempts → one set of jobs, three identical 204s", async () => {
      const answers = await threeAttempts("/hooks/welcome", { identity_id: IDENTITY, email: "ann@example.org", name: "Ann" }, { Authorization: `Bearer ${SECRET}` });
      expect(answers.map((a) => [a.status, a.body])).toEqual([[204, ""], [204, ""], [204, ""]]);
      const jobs = await store.listJobs({ hook: "welcome" });
      expect(jobs.map((j) => j.action).sort()).toEqual(["welcome.crm", "welcome.email"]);
      expect(jobs.every((j) => j.state === "pending")).toBe(true);
      expect((jobs[0]!.payload as { body: unknown }).body).toEqual({ identity_id: IDENTITY, email: "ann@example.org", name: "Ann" });
    });
    test("interrupt deny: the stored answer is replayed byte for byte, no jobs", async () => {
      const answers = await threeAttempts("/hooks/gate", { email: "x@yopmail.com", consent: true }, { "X-Hooks-Key": SECRET });
      expect(answers[0]!.status).toBe(422);
      expect(answers[0]!.contentType).toBe("application/json");
      expect(answers[0]!.body).toBe(
        '{"messages":[{"instance_ptr":"#/traits/email","messages":[{"id":9000001,"text":"Please sign up with a permanent email address.","type":"error","context":{"reason":"disposable"}}]}]}',
      );
      expect(answers[1]).toEqual(answers[0]!);
      expect(answers[2]).toEqual(answers[0]!);
      expect(await store.listJobs({ hook: "gate" })).toEqual([]);
    });
    test("20 concurrent copies of one delivery (one group commit): one set of jobs, 20 identical answers", async () => {
      const identity = crypto.randomUUID();
      const trigger = crypto.randomUUID();
      const hitsBefore = receiver.metrics.dedupeHitCount("welcome");
      const body = kratosJson({ identity_id: identity, email: "twenty@example.org" });
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          fetch(`http://127.0.0.1:${port}/hooks/welcome`, {
            method: "POST",
            headers: { "Content-Type": "application/json", Authorization: `Bearer ${SECRET}`, "Ory-Webhook-Trigger-Id": trigger, "Ory-Webhook-Request-Id": crypto.randomUUID() },
            body,
          }).then(async (r) => `${r.status} ${await r.text()}`),
        ),
      );
      expect(answers).toEqual(Array.from({ length: 20 }, () => "204 "));
      const jobs = (await store.listJobs({ hook: "welcome" })).filter((j) => (j.payload as { body: { identity_id: string } }).body.identity_id === identity);
      expect(jobs.map((j) => j.action).sort()).toEqual(["welcome.crm", "welcome.email"]);
      expect(receiver.metrics.dedupeHitCount("welcome") - hitsBefore).toBe(19);
    });
    test("interrupt allow: 204 and the action's job", async () => {
      const answers = await threeAttempts("/hooks/gate", { email: "ok@example.org", consent: true }, { "X-Hooks-Key": SECRET });
      expect(answers.map((a) => a.status)).toEqual([204, 204, 204]);
      expect((await store.listJobs({ hook: "gate" })).map((j) => j.action)).toEqual(["gate.note"]);
    });
    test("enrich: the 200 identity answer is replayed identically from the store", async () => {
      const answers = await threeAttempts("/hooks/plan", { email: "bo@acme.com", current: { keep: 1 } }, { "X-Hooks-Key": SECRET });
      expect(answers[0]).toEqual({ status: 200, contentType: "application/json", body: '{"identity":{"metadata_public":{"keep":1,"plan":"free","org":"acme","seats":5}}}' });
      expect(answers[1]).toEqual(answers[0]!);
      expect(answers[2]).toEqual(answers[0]!);
    });
    test("cookie auth and PUT over the wire, as Go's AddCookie sends it", async () => {
      const res = await rawRequest(
        port,
        goRequest("PUT", "/hooks/audit", port, kratosJson({ identity_id: IDENTITY, session_id: crypto.randomUUID() }), { "Content-Type": "application/json", Cookie: `kh_key=${SECRET}` }),
      );
      expect(res!.status).toBe(204);
    });
    test("chunked body over the limit → 413; health and metrics over HTTP", async () => {
      const chunk = "a".repeat(1500);
      const raw = `POST /hooks/open HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`;
      expect((await rawRequest(port, raw))!.status).toBe(413);
      expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      // welcome 2 + 2 (the concurrent copies), gate 1, audit 1.
      expect(metrics).toContain('kratos_hooks_jobs{state="pending"} 6');
      expect(metrics).toContain('kratos_hooks_dedupe_hits_total{hook="welcome"} 21');
    });
  });
}

describe("when the SQLite store goes away", () => {
  test("deliveries and readiness answer 503, liveness stays 200", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kh-e2e-down-"));
    const s = await openStore(`sqlite:${join(dir, "outbox.db")}`);
    const c = new GroupCommitter(s, { maxWaitMs: 1 });
    const r = createApp({ config: loadTestConfig(), accept: (a) => c.accept(a), store: s, env: ENV, log: memoryLogger() });
    const ok = await r.handle(new Request("http://127.0.0.1/hooks/open", { method: "POST", body: kratosJson({ identity_id: IDENTITY }) }));
    expect(ok.status).toBe(204);
    await s.close();
    const res = await r.handle(new Request("http://127.0.0.1/hooks/open", { method: "POST", body: kratosJson({ identity_id: crypto.randomUUID() }) }));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("2");
    expect((await r.handle(new Request("http://127.0.0.1/health/ready"))).status).toBe(503);
    expect((await r.handle(new Request("http://127.0.0.1/health/live"))).status).toBe(200);
  });
});
