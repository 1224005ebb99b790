// Scale out (issue 4): two `serve` processes on one Postgres schema (and, as docs/durability.md
// allows, on one SQLite file), on different ports, each trigger sent to both at the same moment
// (as if Kratos's attempt and its retry raced, or two replicas behind a balancer got one each). The unique (hook, key) constraint must decide: one set
// of jobs per trigger, the same answer from both instances (byte-identical for a deny), every job
// delivered, and no job delivered by two workers at once while a lease is live (CONTRACT §4.2,
// docs/durability.md "Dedupe holds across instances", "Claims").
import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { openStore } from "../../src/outbox/open-store.ts";
import { DENY_BODY, gateAuth, serveEnv, welcomeAuth, WELCOME_PATHS, writeHooksYaml, pathsOf, type Kind } from "./hooks.ts";
import { pool, sendLikeKratos, waitUntil, type Execution } from "./kratos-client.ts";
import { dropSchema, freshSchema, jobsByTrigger, storeUrl, waitForDrain, cleanupsAfterAll } from "./postgres.ts";
import { ServeProcess } from "./serve-process.ts";
import { startRecordingSink } from "./sink.ts";

const TRIGGERS = 300;
const CONCURRENT_TRIGGERS = 12;

const cleanups = cleanupsAfterAll();


/** A store two processes share, and each trigger's jobs as the store holds them. */
type SharedStore = { url: string; jobsByTrigger(): Promise<Map<string, { actions: string[]; states: string[] }>> };

function postgresSchema(): SharedStore {
  const schema = freshSchema();
  cleanups.push(() => dropSchema(schema));
  return { url: storeUrl(schema), jobsByTrigger: () => jobsByTrigger(schema) };
}

/** One SQLite file for both (docs/durability.md: BEGIN IMMEDIATE and busy_timeout serialize the writers). */
function sqliteFile(dir: string): SharedStore {
  const url = `sqlite:${join(dir, "outbox.db")}`;
  return {
    url,
    async jobsByTrigger() {
      const store = await openStore(url, { migrate: false });
      const jobs = await store.listJobs({});
      await store.close();
      const m = new Map<string, { actions: string[]; states: string[] }>();
      for (const j of jobs.sort((x, y) => (x.action < y.action ? -1 : 1))) {
        const trigger = (j.payload as { trigger_id: string }).trigger_id;
        const e = m.get(trigger) ?? { actions: [], states: [] };
        e.actions.push(j.action);
        e.states.push(j.state);
        m.set(trigger, e);
      }
      return m;
    },
  };
}

function bothAtOnce(kind: "postgres" | "sqlite") {
  return async () => {
    const t0 = performance.now();
    // Quick answers, and 1 in 10 deliveries refused so jobs also go through retries (and change hands).
    const sink = startRecordingSink({ maxDelayMs: 15, failRate: 0.1 });
    cleanups.push(sink.stop);
    const { dir, file } = writeHooksYaml(sink.url, { lease: "2s" });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const shared = kind === "postgres" ? postgresSchema() : sqliteFile(dir);
    const store = shared.url;
    // Started together: migrations serialize (Postgres: advisory lock; SQLite: BEGIN IMMEDIATE).
    const [a, b] = await Promise.all([ServeProcess.start({ config: file, store, env: serveEnv("a") }), ServeProcess.start({ config: file, store, env: serveEnv("b") })]);
    expect(a.port).not.toBe(b.port);

    const sends = Array.from({ length: TRIGGERS }, (_, i) => {
      const kind: Kind = i % 5 < 3 ? "welcome" : i % 5 === 3 ? "gate-allow" : "gate-deny";
      return { kind, trigger: crypto.randomUUID(), id: crypto.randomUUID(), email: kind === "gate-deny" ? `u${i}@yopmail.com` : `u${i}@example.org` };
    });
    const results = await pool(sends, CONCURRENT_TRIGGERS, async (s) => {
      const one = (to: ServeProcess): Promise<Execution> =>
        sendLikeKratos({
          port: () => to.port,
          path: s.kind === "welcome" ? "/hooks/welcome" : "/hooks/gate",
          body: s.kind === "welcome" ? { identity_id: s.id, email: s.email } : { flow_id: s.id, email: s.email },
          headers: s.kind === "welcome" ? welcomeAuth : gateAuth,
          trigger: s.trigger,
        });
      const [fromA, fromB] = await Promise.all([one(a), one(b)]);
      return { send: s, fromA, fromB };
    });
    const loadMs = performance.now() - t0;

    // Both instances answer every trigger alike: 204, or the deny byte for byte.
    for (const { send: s, fromA, fromB } of results) {
      const expected = s.kind === "gate-deny" ? { status: 422, body: DENY_BODY } : { status: 204, body: "" };
      expect({ trigger: s.trigger, a: { status: fromA.final.status, body: fromA.final.body }, b: { status: fromB.final.status, body: fromB.final.body } }).toEqual({
        trigger: s.trigger,
        a: expected,
        b: expected,
      });
    }
    const attempts = results.flatMap((r) => [...r.fromA.attempts, ...r.fromB.attempts]);
    expect(attempts.filter((x) => x.status !== 204 && x.status !== 422).map((x) => x.status)).toEqual([]);
    // Each trigger was a duplicate on exactly one of the two instances.
    const dedupeHits = (await a.metricSum("kratos_hooks_dedupe_hits_total")) + (await b.metricSum("kratos_hooks_dedupe_hits_total"));
    expect(dedupeHits).toBe(TRIGGERS);

    const expectedJobs = sends.reduce((n, s) => n + pathsOf(s.kind).length, 0);
    await waitUntil(
      async () => {
        const j = await a.jobsByState();
        return sink.effects.size === expectedJobs && j.pending === 0 && j.running === 0;
      },
      "every job to be delivered",
      45_000,
      () => `${sink.effects.size}/${expectedJobs} effects`,
    );

    // One set of jobs per trigger in the shared outbox, all done; none for a deny.
    const jobs = await shared.jobsByTrigger();
    for (const s of sends) {
      const expected = s.kind === "welcome" ? { actions: ["welcome.audit", "welcome.crm"], states: ["done", "done"] } : s.kind === "gate-allow" ? { actions: ["gate.note"], states: ["done"] } : undefined;
      expect({ trigger: s.trigger, jobs: jobs.get(s.trigger) }).toEqual({ trigger: s.trigger, jobs: expected });
    }
    // Every job's effect happened once; no trigger has a second job for the same action.
    const byTarget = sink.keysByTarget();
    for (const s of sends) for (const path of pathsOf(s.kind)) expect({ target: `${s.id} ${path}`, keys: byTarget.get(`${s.id} ${path}`)?.size }).toEqual({ target: `${s.id} ${path}`, keys: 1 });
    expect(sink.effects.size).toBe(expectedJobs);
    // No job was being delivered by two workers at the same time.
    expect(sink.overlaps().map(([x, y]) => `${x.key}: ${x.instance} ${x.start}-${x.end} / ${y.instance} ${y.start}-${y.end}`)).toEqual([]);
    // Both workers took part.
    const byInstance = { a: sink.deliveries.filter((d) => d.instance === "a").length, b: sink.deliveries.filter((d) => d.instance === "b").length };
    expect(byInstance.a).toBeGreaterThan(0);
    expect(byInstance.b).toBeGreaterThan(0);
    const instancesOf = new Map<string, Set<string>>();
    for (const d of sink.deliveries) instancesOf.set(d.key, (instancesOf.get(d.key) ?? new Set()).add(d.instance));
    const handedOver = [...instancesOf.values()].filter((s) => s.size > 1).length;

    expect([...a.logs("internal error"), ...b.logs("internal error")]).toEqual([]);
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
    console.log(
      `[resilience] ${kind} scale-out: ${TRIGGERS} triggers × 2 instances = ${TRIGGERS * 2} executions, ${attempts.length} HTTP attempts, all answered alike; ` +
        `${dedupeHits} dedupe hits; ${expectedJobs} jobs, ${sink.effects.size} delivered (effects), ${sink.deliveries.length} deliveries ` +
        `(${sink.deliveries.filter((d) => !d.ok).length} refused by the sink and retried; by instance ${JSON.stringify(byInstance)}; ` +
        `${handedOver} jobs tried by both instances), ${sink.duplicateDeliveries()} duplicate deliveries, ${sink.overlaps().length} overlaps; ` +
        `load ${Math.round(loadMs)} ms, total ${Math.round(performance.now() - t0)} ms`,
    );
  };
}

describe("two serve instances on one store", () => {
  test("Postgres: a trigger sent to both at once: one set of jobs, identical answers, every job delivered, no overlapping deliveries", bothAtOnce("postgres"), 90_000);
  test("SQLite file: the same", bothAtOnce("sqlite"), 90_000);

  test("Postgres: one instance SIGKILLed mid-delivery: the other takes over its requests and, after the lease, its jobs; no job delivered by both at once", async () => {
    const t0 = performance.now();
    // Slow enough that the killed instance has deliveries in flight, well inside the 2 s lease.
    const sink = startRecordingSink({ minDelayMs: 100, maxDelayMs: 400 });
    cleanups.push(sink.stop);
    const { dir, file } = writeHooksYaml(sink.url, { lease: "2s" });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const schema = freshSchema();
    cleanups.push(() => dropSchema(schema));
    const store = storeUrl(schema);
    const [a, b] = await Promise.all([ServeProcess.start({ config: file, store, env: serveEnv("a") }), ServeProcess.start({ config: file, store, env: serveEnv("b") })]);

    // Webhooks go to a while it lives, then to b (a balancer failing over; Kratos retries the same trigger).
    const sends = Array.from({ length: 120 }, (_, i) => ({ trigger: crypto.randomUUID(), id: crypto.randomUUID(), email: `k${i}@example.org` }));
    let killedAt = 0;
    const killer = (async () => {
      await waitUntil(() => (sink.inFlight.get("a") ?? 0) >= 3, "a to have deliveries in flight", 30_000);
      killedAt = performance.now();
      await a.kill();
    })();
    const results = await pool(sends, 6, (s) =>
      sendLikeKratos({ port: () => (a.alive ? a.port : b.port), path: "/hooks/welcome", body: { identity_id: s.id, email: s.email }, headers: welcomeAuth, trigger: s.trigger }),
    );
    await killer;
    expect(a.alive).toBe(false);
    expect(results.map((r) => r.final.status).filter((x) => x !== 204)).toEqual([]);

    const committed = await waitForDrain(schema, b, sink, "b to deliver every job, a's leased ones included");
    const jobs = await jobsByTrigger(schema);
    const byTarget = sink.keysByTarget();
    for (const s of sends) {
      expect({ trigger: s.trigger, jobs: jobs.get(s.trigger) }).toEqual({ trigger: s.trigger, jobs: { actions: ["welcome.audit", "welcome.crm"], states: ["done", "done"] } });
      for (const path of WELCOME_PATHS) expect({ target: `${s.id} ${path}`, keys: byTarget.get(`${s.id} ${path}`)?.size }).toEqual({ target: `${s.id} ${path}`, keys: 1 });
    }
    expect(sink.overlaps().map(([x, y]) => `${x.key}: ${x.instance} ${x.start}-${x.end} / ${y.instance} ${y.start}-${y.end}`)).toEqual([]);
    // The jobs a was delivering when it died were delivered again by b (at least once), after a's attempt ended.
    const cutShort = sink.deliveries.filter((d) => d.instance === "a" && d.start < killedAt && d.end > killedAt);
    const redelivered = cutShort.filter((d) => sink.deliveries.some((x) => x.key === d.key && x.instance === "b"));
    expect(cutShort.length).toBeGreaterThan(0);
    expect(redelivered.length).toBe(cutShort.length);
    const gaps = redelivered.map((d) => Math.min(...sink.deliveries.filter((x) => x.key === d.key && x.instance === "b").map((x) => x.start)) - d.start);
    expect(b.logs("internal error")).toEqual([]);
    expect(await b.stop()).toBe(0);
    console.log(
      `[resilience] postgres takeover: ${sends.length} triggers, ${results.reduce((n, r) => n + r.attempts.length, 0)} HTTP attempts, all acked; a SIGKILLed with ` +
        `${cutShort.length} deliveries in flight, all redelivered by b ${Math.round(Math.min(...gaps))}-${Math.round(Math.max(...gaps))} ms after a started them (lease 2 s); ` +
        `${committed} jobs, ${sink.effects.size} delivered (effects), ${sink.deliveries.length} deliveries, ${sink.duplicateDeliveries()} duplicate deliveries, 0 overlaps; ` +
        `total ${Math.round(performance.now() - t0)} ms`,
    );
  }, 90_000);
});
