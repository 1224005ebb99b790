// `serve` on Postgres when one pooled connection goes silent mid-transaction (no FIN, no RST, no
// bytes: a dropped NAT/conntrack entry, a partition), under load. The webhook whose batch was on
// it must get an answer Kratos can act on within its 30 s per-attempt timeout (CONTRACT §4.2):
// 503 after the store's operation timeout, not silence; the webhooks queued behind that batch go
// through on the other connections; Kratos's retry of the victim is accepted once; nothing
// acknowledged is lost.
import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { OPERATION_TIMEOUT_MS } from "../../src/outbox/postgres/connection.ts";
import { serveEnv, welcomeAuth, WELCOME_PATHS, writeHooksYaml } from "./hooks.ts";
import { isAck, sendLikeKratos, waitUntil, type Execution } from "./kratos-client.ts";
import { dropSchema, freshSchema, jobsByTrigger, storeUrl, terminateBackends, cleanupsAfterAll } from "./postgres.ts";
import { ServeProcess, stablePort } from "./serve-process.ts";
import { SilencingRelay } from "./silencing-relay.ts";
import { startRecordingSink } from "./sink.ts";

/** Kratos's per-attempt timeout (CONTRACT §4.2). */
const KRATOS_ATTEMPT_TIMEOUT_MS = 30_000;

const cleanups = cleanupsAfterAll();

/** A recording sink, and `serve` on a fresh schema whose every Postgres connection goes through a SilencingRelay. */
async function serveBehindRelay(sinkOpts: Parameters<typeof startRecordingSink>[0]) {
  const sink = startRecordingSink(sinkOpts);
  cleanups.push(sink.stop);
  const { dir, file } = writeHooksYaml(sink.url);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const schema = freshSchema();
  cleanups.push(() => dropSchema(schema));
  const relay = new SilencingRelay("127.0.0.1", 5432);
  relay.port = stablePort();
  relay.start();
  // Runs before the schema is dropped: a silent backend sits idle in its transaction until then.
  cleanups.push(async () => {
    relay.stop();
    await terminateBackends(schema);
  });
  const serve = await ServeProcess.start({ config: file, store: storeUrl(schema, relay.port), env: serveEnv("a") });
  return { sink, schema, relay, serve };
}

describe("serve on Postgres: a pooled connection goes silent", () => {
  test("the webhook on it gets 503 within Kratos's timeout, the ones queued behind it go through, the retry is accepted once", async () => {
    const t0 = performance.now();
    const { sink, schema, relay, serve } = await serveBehindRelay({ maxDelayMs: 10 });

    const executions: Execution[] = [];
    const send = async (trigger: string, id: string) => {
      const ex = await sendLikeKratos({
        port: () => serve.port,
        path: "/hooks/welcome",
        body: { identity_id: id, email: `${id.slice(0, 8)}@example.org` },
        headers: welcomeAuth,
        trigger,
        timeoutMs: KRATOS_ATTEMPT_TIMEOUT_MS,
      });
      executions.push(ex);
      return ex;
    };
    const ids = new Map<string, string>();
    let loadOn = true;
    const load = (async () => {
      const running: Promise<unknown>[] = [];
      while (loadOn) {
        const trigger = crypto.randomUUID();
        ids.set(trigger, crypto.randomUUID());
        running.push(send(trigger, ids.get(trigger)!));
        await Bun.sleep(Math.random() * 100);
      }
      await Promise.all(running);
    })();

    await Bun.sleep(800);
    // The victim: its trigger id travels to Postgres as a bound parameter of the dedupe upsert.
    const victim = crypto.randomUUID();
    ids.set(victim, crypto.randomUUID());
    relay.silenceNext(victim);
    const stalledFrom = Date.now();
    const victimEx = await send(victim, ids.get(victim)!);
    expect(relay.silenced).toBe(1);
    await Bun.sleep(1000);
    loadOn = false;
    await load;

    // The victim's first attempt was answered, with 503 and Retry-After, before Kratos's timeout; its retry was accepted.
    expect(victimEx.attempts[0]).toMatchObject({ status: 503, retryAfter: "2" });
    expect(victimEx.final.status).toBe(204);
    // Every attempt got an answer (none ran into Kratos's timeout): 204, or 503 for the batch on the silent connection.
    const attempts = executions.flatMap((e) => e.attempts);
    expect(attempts.filter((a) => a.status !== 204 && a.status !== 503).map((a) => a.status)).toEqual([]);
    const stalledBehind = attempts.filter((a) => a.sentAt >= stalledFrom && a.sentAt < stalledFrom + OPERATION_TIMEOUT_MS);
    expect(stalledBehind.length).toBeGreaterThan(1);
    expect(executions.every((e) => isAck(e.final))).toBe(true);

    // Every webhook's jobs delivered once, the victim's included; one set of jobs per trigger.
    await waitUntil(
      async () => {
        const j = await serve.jobsByState();
        return j.pending === 0 && j.running === 0 && sink.effects.size === ids.size * WELCOME_PATHS.length;
      },
      "every job to be delivered",
      45_000,
      () => `${sink.effects.size}/${ids.size * WELCOME_PATHS.length} effects`,
    );
    const jobs = await jobsByTrigger(schema);
    const byTarget = sink.keysByTarget();
    for (const [trigger, id] of ids) {
      expect({ trigger, jobs: jobs.get(trigger)?.actions }).toEqual({ trigger, jobs: ["welcome.audit", "welcome.crm"] });
      for (const path of WELCOME_PATHS) expect({ target: `${id} ${path}`, keys: byTarget.get(`${id} ${path}`)?.size }).toEqual({ target: `${id} ${path}`, keys: 1 });
    }
    expect((await fetch(`${serve.url}/health/ready`)).status).toBe(200);
    expect(serve.logs("internal error")).toEqual([]);
    expect(serve.alive).toBe(true);

    const statuses: Record<string, number> = {};
    for (const a of attempts) statuses[String(a.status)] = (statuses[String(a.status)] ?? 0) + 1;
    console.log(
      `[resilience] postgres silent connection: ${ids.size} triggers, ${attempts.length} HTTP attempts ${JSON.stringify(statuses)}; ` +
        `victim answered ${victimEx.attempts[0]!.status} after ${victimEx.attempts[0]!.at - victimEx.attempts[0]!.sentAt} ms (store timeout ${OPERATION_TIMEOUT_MS} ms), ` +
        `then ${victimEx.final.status}; ${stalledBehind.length} attempts sent during the stall, slowest answered in ` +
        `${Math.max(...stalledBehind.map((a) => a.at - a.sentAt))} ms; ${sink.effects.size} jobs delivered, ${sink.duplicateDeliveries()} duplicate deliveries; ` +
        `total ${Math.round(performance.now() - t0)} ms`,
    );
    expect(await serve.stop()).toBe(0);
  }, 90_000);

  test("the worker's claim on a silent connection: after the timeout it claims again on another one and delivers everything", async () => {
    const t0 = performance.now();
    const { sink, relay, serve } = await serveBehindRelay({});

    // The worker id (host:pid:random) travels as a bound parameter of every claim; while the
    // process is idle, the next statement carrying it is the worker's poll.
    relay.silenceNext(`:${serve.pid}:`);
    await waitUntil(() => relay.silenced === 1, "the worker's next claim", 10_000);
    const stalledAt = performance.now();
    const ids = Array.from({ length: 20 }, () => ({ trigger: crypto.randomUUID(), id: crypto.randomUUID() }));
    const answers = await Promise.all(
      ids.map((t) => sendLikeKratos({ port: () => serve.port, path: "/hooks/welcome", body: { identity_id: t.id, email: "w@example.org" }, headers: welcomeAuth, trigger: t.trigger })),
    );
    expect(answers.map((a) => a.final.status)).toEqual(ids.map(() => 204));

    await waitUntil(() => sink.effects.size === ids.length * WELCOME_PATHS.length, "every job to be delivered", 45_000, () => `${sink.effects.size} effects`);
    const byTarget = sink.keysByTarget();
    for (const t of ids) for (const path of WELCOME_PATHS) expect(byTarget.get(`${t.id} ${path}`)?.size).toBe(1);
    const claimTimeouts = serve.logs("worker error").filter((l) => l.op === "claim" && String(l.error).includes("no answer within"));
    expect(claimTimeouts.length).toBe(1);
    expect(serve.alive).toBe(true);
    console.log(
      `[resilience] postgres silent claim: the worker's claim hung on a silent connection; ${ids.length} webhooks acked meanwhile, ` +
        `their ${sink.effects.size} jobs delivered from ${Math.round(Math.min(...sink.deliveries.map((d) => d.start)) - stalledAt)} ms after the stall ` +
        `(store timeout ${OPERATION_TIMEOUT_MS} ms); total ${Math.round(performance.now() - t0)} ms`,
    );
    expect(await serve.stop()).toBe(0);
  }, 90_000);
});
