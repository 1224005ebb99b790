// `serve` on Postgres while the database misbehaves under load, without touching the shared
// server: first its backends are terminated (pg_terminate_backend on this test's application_name
// only), then a TCP relay between serve and Postgres (test/store/tcp-proxy.ts) is cut for a few
// seconds, twice, and restored on the same port (a Postgres restart as serve sees it).
// While the database is away every webhook gets 503 with Retry-After (Kratos retries 5xx,
// CONTRACT §4.2), never another 5xx and never a 2xx; the process stays up, its worker backs off
// and reconnects, and afterwards every acknowledged webhook's jobs are delivered, effects once.
import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { TcpProxy } from "../store/tcp-proxy.ts";
import { DENY_BODY, gateAuth, serveEnv, welcomeAuth, writeHooksYaml, pathsOf, type Kind } from "./hooks.ts";
import { isAck, sendLikeKratos, waitUntil, type Attempt, type Execution } from "./kratos-client.ts";
import { dropSchema, freshSchema, jobsByTrigger, storeUrl, terminateBackends, waitForDrain, cleanupsAfterAll } from "./postgres.ts";
import { ServeProcess, stablePort } from "./serve-process.ts";
import { startRecordingSink } from "./sink.ts";

/** Mean gap between new triggers: ~25 per second. */
const GAP_MS = 40;
const TERMINATIONS = 3;
const OUTAGES_MS = [3000, 2500];

const cleanups = cleanupsAfterAll();

type Send = { kind: Kind; trigger: string; id: string; email: string };

describe("serve on Postgres: dropped connections and outages under load", () => {
  test("503 while the database is away, never a lost 2xx; the worker reconnects and delivers every acknowledged job", async () => {
    const t0 = performance.now();
    const sink = startRecordingSink({ maxDelayMs: 10 });
    cleanups.push(sink.stop);
    const { dir, file } = writeHooksYaml(sink.url, { lease: "2s" });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const schema = freshSchema();
    cleanups.push(() => dropSchema(schema));
    // A fixed port outside the ephemeral range, so the relay can listen on it again after a cut.
    const proxy = new TcpProxy("127.0.0.1", 5432);
    proxy.port = stablePort();
    proxy.start();
    cleanups.push(() => proxy.stop());
    const serve = await ServeProcess.start({ config: file, store: storeUrl(schema, proxy.port), env: serveEnv("a") });

    const sends: Send[] = [];
    const executions: Array<{ send: Send; ex: Execution }> = [];
    const send = async (s: Send) => {
      const ex = await sendLikeKratos({
        port: () => serve.port,
        path: s.kind === "welcome" ? "/hooks/welcome" : "/hooks/gate",
        body: s.kind === "welcome" ? { identity_id: s.id, email: s.email } : { flow_id: s.id, email: s.email },
        headers: s.kind === "welcome" ? welcomeAuth : gateAuth,
        trigger: s.trigger,
      });
      executions.push({ send: s, ex });
    };
    let loadOn = true;
    const load = (async () => {
      const running: Promise<void>[] = [];
      for (let i = 0; loadOn; i++) {
        const r = i % 10;
        const kind: Kind = r < 7 ? "welcome" : r < 9 ? "gate-allow" : "gate-deny";
        const s: Send = { kind, trigger: crypto.randomUUID(), id: crypto.randomUUID(), email: kind === "gate-deny" ? `u${i}@yopmail.com` : `u${i}@example.org` };
        sends.push(s);
        running.push(send(s));
        if (i % 10 === 4) running.push(send(s)); // the same trigger twice at once
        await Bun.sleep(Math.random() * 2 * GAP_MS);
      }
      await Promise.all(running);
    })();

    // Phase 1: this serve's backends terminated, a few times.
    await Bun.sleep(1000);
    const terminated: number[] = [];
    const terminatingFrom = Date.now();
    for (let i = 0; i < TERMINATIONS; i++) {
      terminated.push(await terminateBackends(schema));
      await Bun.sleep(600);
    }
    const terminatingUntil = Date.now();
    // Phase 2: the database goes away (every connection cut, new ones refused) and comes back.
    const outages: Array<{ cutAt: number; restoredAt: number; ready: number }> = [];
    for (const ms of OUTAGES_MS) {
      await Bun.sleep(1000);
      const cutAt = Date.now();
      proxy.stop();
      await Bun.sleep(ms / 2);
      const ready = (await fetch(`${serve.url}/health/ready`)).status;
      await Bun.sleep(ms / 2);
      expect(serve.alive).toBe(true);
      const restoredAt = Date.now();
      proxy.start();
      outages.push({ cutAt, restoredAt, ready });
      await waitUntil(async () => (await fetch(`${serve.url}/health/ready`)).status === 200, "readiness after the database is back", 15_000);
    }
    await Bun.sleep(1500);
    loadOn = false;
    await load;
    const loadMs = performance.now() - t0;

    // Every job in the outbox (acknowledged or not) is delivered once the worker is back.
    const committed = await waitForDrain(schema, serve, sink, "the outbox to drain");
    expect(serve.alive).toBe(true);

    expect(terminated.every((n) => n > 0)).toBe(true);
    expect(outages.map((o) => o.ready)).toEqual(OUTAGES_MS.map(() => 503));
    // The worker met the outage and backed off instead of exiting.
    const claimErrors = serve.logs("worker error").filter((l) => l.op === "claim");
    expect(claimErrors.length).toBeGreaterThan(0);
    expect(claimErrors.every((l) => typeof l.retry_in_ms === "number" && l.retry_in_ms > 0)).toBe(true);

    // Answers: 204 / the deny, or 503 with Retry-After; nothing else, and no connection left unanswered.
    const attempts = executions.flatMap((e) => e.ex.attempts);
    const statuses = new Map<string, number>();
    for (const a of attempts) statuses.set(String(a.status), (statuses.get(String(a.status)) ?? 0) + 1);
    expect([...statuses.keys()].filter((s) => !["204", "422", "503"].includes(s))).toEqual([]);
    expect(attempts.filter((a) => a.status === 503 && a.retryAfter !== "2")).toEqual([]);
    for (const { send: s, ex } of executions) if (ex.final.status === 422) expect({ kind: s.kind, body: ex.final.body }).toEqual({ kind: "gate-deny", body: DENY_BODY });
    // Within an outage (sent after the cut, answered before the restore) only 503.
    const inOutage = (a: Attempt) => outages.some((o) => a.sentAt >= o.cutAt + 50 && a.at < o.restoredAt);
    const outageAnswers = attempts.filter(inOutage);
    expect(outageAnswers.length).toBeGreaterThan(0);
    expect(outageAnswers.filter((a) => a.status !== 503).map((a) => a.status)).toEqual([]);
    // Terminated backends are mostly retried away inside the store (stale pooled connections); a 503 is allowed, any other 5xx is not.
    const duringTerminations = attempts.filter((a) => a.sentAt >= terminatingFrom && a.sentAt < terminatingUntil);
    expect(serve.logs("internal error")).toEqual([]);

    // Acknowledged → delivered, each effect once; one set of jobs per trigger, all done.
    const jobs = await jobsByTrigger(schema);
    const byTarget = sink.keysByTarget();
    const acked = executions.filter(({ ex }) => isAck(ex.final));
    expect(acked.length).toBeGreaterThan(0);
    for (const { send: s } of acked) {
      const expected = s.kind === "welcome" ? ["welcome.audit", "welcome.crm"] : ["gate.note"];
      expect({ trigger: s.trigger, jobs: jobs.get(s.trigger)?.actions }).toEqual({ trigger: s.trigger, jobs: expected });
      for (const path of pathsOf(s.kind)) expect({ target: `${s.id} ${path}`, keys: byTarget.get(`${s.id} ${path}`)?.size }).toEqual({ target: `${s.id} ${path}`, keys: 1 });
    }
    for (const s of sends) {
      const j = jobs.get(s.trigger);
      if (s.kind === "gate-deny") expect(j).toBeUndefined();
      if (j) expect({ trigger: s.trigger, actions: j.actions, done: j.states.every((x) => x === "done") }).toEqual({ trigger: s.trigger, actions: s.kind === "welcome" ? ["welcome.audit", "welcome.crm"] : ["gate.note"], done: true });
      for (const path of pathsOf(s.kind)) expect(byTarget.get(`${s.id} ${path}`)?.size ?? 0).toBeLessThanOrEqual(1);
    }
    expect(await serve.stop()).toBe(0);

    const ackedTriggers = new Set(acked.map((a) => a.send.trigger));
    const gaveUp = sends.filter((s) => !executions.some((e) => e.send.trigger === s.trigger && (isAck(e.ex.final) || e.ex.final.status === 422)));
    console.log(
      `[resilience] postgres outage: backends terminated ${JSON.stringify(terminated)}; outages ${JSON.stringify(outages.map((o) => o.restoredAt - o.cutAt))} ms; ` +
        `${sends.length} triggers, ${executions.length} Kratos executions, ${attempts.length} HTTP attempts ${JSON.stringify(Object.fromEntries(statuses))}; ` +
        `${outageAnswers.length} attempts inside an outage, all 503, answered in ≤ ${Math.max(...outageAnswers.map((a) => a.at - a.sentAt))} ms; ${duringTerminations.length} attempts while backends were terminated ` +
        `(${duringTerminations.filter((a) => a.status === 503).length} got 503); ${ackedTriggers.size} triggers acked, ${gaveUp.length} given up after 3 attempts ` +
        `(${gaveUp.filter((s) => jobs.has(s.trigger)).length} of them committed anyway and delivered); ${committed} jobs, ${sink.effects.size} delivered (effects), ` +
        `${sink.deliveries.length} deliveries, ${sink.duplicateDeliveries()} duplicate deliveries; ${claimErrors.length} worker claim errors (backed off); ` +
        `load ${Math.round(loadMs)} ms, total ${Math.round(performance.now() - t0)} ms`,
    );
  }, 90_000);
});
