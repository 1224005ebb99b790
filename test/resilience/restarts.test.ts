// Crash safety: `serve` on a SQLite file is SIGKILLed at random moments under concurrent
// Kratos-shaped load and restarted on the same file and port (and, as a deploy would, stopped
// with SIGTERM; and on a Postgres schema, SIGKILLed). An answer of 2xx means the dedupe
// record and the jobs were committed (docs/durability.md), so every acknowledged webhook's jobs
// must reach the sink; the sink applies effects once per Idempotency-Key (deliveries may repeat,
// effects may not), and a Trigger-Id sent again, or twice at once, yields one set of jobs.
import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { openStore } from "../../src/outbox/open-store.ts";
import { DENY_BODY, gateAuth, serveEnv, welcomeAuth, writeHooksYaml, pathsOf, type Kind } from "./hooks.ts";
import { isAck, sendLikeKratos, waitUntil, type Execution } from "./kratos-client.ts";
import { dropSchema, freshSchema, storeUrl as pgStoreUrl, cleanupsAfterAll } from "./postgres.ts";
import { ServeProcess, stablePort, type Runtime } from "./serve-process.ts";
import { startRecordingSink } from "./sink.ts";

const TRIGGERS = 240;
/** Mean gap between new triggers: ~30 per second, so the load spans the kills. */
const GAP_MS = 33;
const KILLS = 4;

const cleanups = cleanupsAfterAll();

type Send = { kind: Kind; trigger: string; id: string; email: string };

function plan(i: number): Send {
  const r = i % 10;
  const kind: Kind = r < 7 ? "welcome" : r < 9 ? "gate-allow" : "gate-deny";
  const id = crypto.randomUUID();
  return { kind, trigger: crypto.randomUUID(), id, email: kind === "gate-deny" ? `u${i}@yopmail.com` : `u${i}@example.org` };
}


/**
 * Stops serve KILLS times at random moments under load, with SIGKILL (a crash: nothing flushed,
 * leases left to expire) or SIGTERM (a deploy: graceful drain, exit 0), restarting it on the same
 * file and port each time; then checks that nothing acknowledged was lost or doubled.
 */
function restartsUnderLoad(signal: "SIGKILL" | "SIGTERM", kind: "sqlite" | "postgres" = "sqlite", runtime: Runtime = "bun") {
  return async () => {
    const t0 = performance.now();
    const sink = startRecordingSink({ maxDelayMs: 20 });
    cleanups.push(sink.stop);
    const { dir, file } = writeHooksYaml(sink.url);
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    let storeUrl = `sqlite:${join(dir, "outbox.db")}`;
    if (kind === "postgres") {
      const schema = freshSchema();
      cleanups.push(() => dropSchema(schema));
      storeUrl = pgStoreUrl(schema);
    }
    let port = stablePort();
    const start = async () => {
      try {
        return await ServeProcess.start({ config: file, store: storeUrl, port, env: serveEnv("a"), runtime });
      } catch {
        // Someone else took the port while serve was down: carry on elsewhere (the client follows `port`).
        port = stablePort();
        return await ServeProcess.start({ config: file, store: storeUrl, port, env: serveEnv("a"), runtime });
      }
    };
    let serve = await start();
    const started = [serve];

    const executions: Array<{ send: Send; ex: Execution }> = [];
    const send = async (s: Send) => {
      const ex = await sendLikeKratos({
        port: () => port,
        path: s.kind === "welcome" ? "/hooks/welcome" : "/hooks/gate",
        body: s.kind === "welcome" ? { identity_id: s.id, email: s.email } : { flow_id: s.id, email: s.email },
        headers: s.kind === "welcome" ? welcomeAuth : gateAuth,
        trigger: s.trigger,
      });
      executions.push({ send: s, ex });
    };

    let loadDone = false;
    const sends: Send[] = [];
    const load = (async () => {
      const running: Promise<void>[] = [];
      for (let i = 0; i < TRIGGERS; i++) {
        const s = plan(i);
        sends.push(s);
        running.push(send(s));
        // 1 in 10 is sent twice at once; 1 in 7 again once its first execution is over (an answer lost on the way back).
        if (i % 10 === 3) running.push(send(s));
        if (i % 7 === 5) running.push(running.at(-1)!.then(() => Bun.sleep(Math.random() * 800)).then(() => send(s)));
        await Bun.sleep(Math.random() * 2 * GAP_MS);
      }
      await Promise.all(running);
      loadDone = true;
    })();

    let kills = 0;
    const exitCodes: Array<number | null> = [];
    const killer = (async () => {
      while (kills < KILLS && !loadDone) {
        await Bun.sleep(900 + Math.random() * 900);
        if (signal === "SIGKILL") await serve.kill();
        else exitCodes.push(await serve.stop());
        kills++;
        await Bun.sleep(Math.random() * 400);
        serve = await start();
        started.push(serve);
      }
    })();
    await Promise.all([load, killer]);
    const loadMs = performance.now() - t0;

    // Drain: the last serve reclaims the jobs the killed ones held once their leases (2 s) end.
    await waitUntil(
      async () => {
        const j = await serve.jobsByState();
        return j.pending === 0 && j.running === 0;
      },
      "the outbox to drain",
      45_000,
      () => JSON.stringify(serve.lines.slice(-5)),
    );
    expect(serve.alive).toBe(true);
    expect(started.flatMap((p) => p.logs("internal error"))).toEqual([]);
    expect(await serve.stop()).toBe(0);

    // What the store holds after the crashes: every job done, none dead, one set per trigger.
    const store = await openStore(storeUrl);
    const jobs = await store.listJobs({});
    await store.close();
    expect(jobs.filter((j) => j.state !== "done").map((j) => `${j.id} ${j.state} ${j.lastError}`)).toEqual([]);
    const jobsByTrigger = new Map<string, string[]>();
    for (const j of jobs) {
      const trigger = (j.payload as { trigger_id: string }).trigger_id;
      jobsByTrigger.set(trigger, [...(jobsByTrigger.get(trigger) ?? []), j.action]);
    }
    for (const [trigger, actions] of jobsByTrigger) {
      const s = sends.find((x) => x.trigger === trigger)!;
      expect({ trigger, actions: actions.sort() }).toEqual({ trigger, actions: s.kind === "welcome" ? ["welcome.audit", "welcome.crm"] : ["gate.note"] });
    }
    // Every committed job reached the sink, and the sink saw nothing that is not a job.
    expect(new Set(sink.effects.keys())).toEqual(new Set(jobs.map((j) => j.id)));

    // Answers: 2xx only once committed; a refused or cut connection, or a 503, is Kratos's to retry.
    const statuses = new Map<string, number>();
    for (const { ex } of executions) for (const a of ex.attempts) statuses.set(String(a.status), (statuses.get(String(a.status)) ?? 0) + 1);
    expect([...statuses.keys()].filter((s) => !["204", "422", "503", "undefined"].includes(s))).toEqual([]);
    for (const { send: s, ex } of executions) {
      if (s.kind === "gate-deny" && ex.final.status === 422) expect(ex.final.body).toBe(DENY_BODY);
      if (s.kind !== "gate-deny") expect(ex.final.status === 422).toBe(false);
    }

    // Acknowledged → delivered, each effect once; denied → nothing enqueued.
    const byTarget = sink.keysByTarget();
    const acked = executions.filter(({ ex }) => isAck(ex.final));
    expect(acked.length).toBeGreaterThan(TRIGGERS / 2);
    for (const { send: s } of acked) {
      for (const path of pathsOf(s.kind)) expect({ target: `${s.id} ${path}`, keys: byTarget.get(`${s.id} ${path}`)?.size }).toEqual({ target: `${s.id} ${path}`, keys: 1 });
    }
    for (const s of sends) {
      if (s.kind === "gate-deny") expect(jobsByTrigger.has(s.trigger)).toBe(false);
      for (const path of pathsOf(s.kind)) expect(byTarget.get(`${s.id} ${path}`)?.size ?? 0).toBeLessThanOrEqual(1);
    }
    // A trigger answered twice got the same answer both times.
    const answers = new Map<string, string>();
    for (const { send: s, ex } of executions) {
      if (!isAck(ex.final) && ex.final.status !== 422) continue;
      const a = `${ex.final.status} ${ex.final.body}`;
      expect({ trigger: s.trigger, answer: answers.get(s.trigger) ?? a }).toEqual({ trigger: s.trigger, answer: a });
      answers.set(s.trigger, a);
    }
    expect(kills).toBeGreaterThanOrEqual(3);
    // A graceful stop drains and exits 0 every time.
    expect(exitCodes).toEqual(signal === "SIGTERM" ? exitCodes.map(() => 0) : []);
    // The stops landed under load: some attempts found no server or a draining one (Kratos retries those).
    expect((statuses.get("undefined") ?? 0) + (statuses.get("503") ?? 0)).toBeGreaterThan(0);

    console.log(
      `[resilience] ${runtime} ${kind} ${signal}: ${kills} stops (pids ${started.map((p) => p.pid).join(",")}); ${sends.length} triggers, ${executions.length} Kratos executions, ` +
        `${executions.reduce((n, e) => n + e.ex.attempts.length, 0)} HTTP attempts ${JSON.stringify(Object.fromEntries(statuses))}; ` +
        `${acked.length} executions acked (${new Set(acked.map((a) => a.send.trigger)).size} triggers); ${jobs.length} jobs committed, ` +
        `${sink.effects.size} delivered (effects), ${sink.deliveries.length} deliveries, ${sink.duplicateDeliveries()} duplicate deliveries; ` +
        `${started.reduce((n, p) => n + p.logs("job released at shutdown").length, 0)} jobs released at shutdown; ` +
        `load ${Math.round(loadMs)} ms, total ${Math.round(performance.now() - t0)} ms`,
    );
  };
}

describe("serve restarted under load", () => {
  test("SQLite, SIGKILL at random moments: every acknowledged webhook is delivered, effects once, one set of jobs per Trigger-Id", restartsUnderLoad("SIGKILL"), 90_000);
  test("SQLite, SIGTERM at random moments (deploys): each stop drains and exits 0, and the same holds", restartsUnderLoad("SIGTERM"), 90_000);
  test("Postgres, SIGKILL at random moments: the same holds", restartsUnderLoad("SIGKILL", "postgres"), 90_000);
});

// The same test with serve run by Deno (`deno run -A src/cli.ts serve`, node:sqlite on its store
// thread); the checks at the end read the file back through bun:sqlite.
describe("serve on Deno restarted under load", () => {
  test("Deno, SQLite, SIGKILL at random moments: every acknowledged webhook is delivered, effects once, one set of jobs per Trigger-Id", restartsUnderLoad("SIGKILL", "sqlite", "deno"), 90_000);
  test("Deno, SQLite, SIGTERM at random moments (deploys): each stop drains and exits 0, and the same holds", restartsUnderLoad("SIGTERM", "sqlite", "deno"), 90_000);
});
