// The one behaviour suite every Store implementation must pass. sqlite.test.ts and
// postgres.test.ts call storeSuite() with a factory; nothing here knows the dialect. It also runs
// under Deno on node:sqlite (sqlite.deno.ts, through test/deno/bun-test.ts), so it uses nothing
// Bun-only.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { GroupCommitter } from "../../src/outbox/group-commit.ts";
import { newUuidV7 } from "../../src/server/job-id.ts";
import type { Acceptance, AttemptRecord, NewJob, Store } from "../../src/outbox/store.ts";

/** One isolated database (a temp file, a fresh schema). `open()` gives another connection to it. */
export type StoreEnv = { open(): Promise<Store>; cleanup(): Promise<void> };
export type StoreFactory = () => Promise<StoreEnv>;

const T0 = 1_750_000_000_000; // a fixed "now": tests pass time in, they never read the clock
const MIN = 60_000;

let seq = 0;
export function newJob(over: Partial<NewJob> = {}): NewJob {
  return { id: newUuidV7(), hook: "welcome", action: "welcome.mail", payload: { n: ++seq }, maxAttempts: 3, runAt: T0, ...over };
}

export function acceptance(key: string, over: Partial<Acceptance> = {}): Acceptance {
  return {
    hook: "welcome",
    key,
    response: { status: 200, body: `{"for":"${key}"}`, contentType: "application/json" },
    expiresAt: T0 + 10 * MIN,
    jobs: [newJob(), newJob({ action: "welcome.http" })],
    now: T0,
    ...over,
  };
}

export function storeSuite(name: string, factory: StoreFactory): void {
  describe(`${name} store`, () => {
    let env: StoreEnv;
    const opened: Store[] = [];
    /** Another connection to this test's database, not yet migrated. */
    const connect = async () => {
      const s = await env.open();
      opened.push(s);
      return s;
    };
    /** A migrated store on this test's database. */
    const fresh = async () => {
      const s = await connect();
      await s.migrate();
      return s;
    };

    beforeEach(async () => {
      env = await factory();
    });
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
      await env.cleanup();
    });

    describe("migrate", () => {
      test("is idempotent: running it again changes nothing and the store still works", async () => {
        const s = await fresh();
        await s.acceptBatch([acceptance("k1")]);
        await s.migrate();
        await s.migrate();
        expect((await s.stats(T0)).byState.pending).toBe(2);
      });

      test("two instances migrating the same database at once do not race", async () => {
        const [a, b] = [await connect(), await connect()];
        await Promise.all([a.migrate(), b.migrate()]);
        await a.acceptBatch([acceptance("k1")]);
        expect((await b.stats(T0)).byState.pending).toBe(2);
      });
    });

    describe("acceptBatch and dedupe", () => {
      test("a first acceptance is not a duplicate and enqueues its jobs as pending", async () => {
        const s = await fresh();
        const a = acceptance("k1");
        expect(await s.acceptBatch([a])).toEqual([{ duplicate: false }]);
        const jobs = await s.listJobs({});
        expect(jobs.map((j) => j.id).sort()).toEqual(a.jobs.map((j) => j.id).sort());
        const job = (await s.getJob(a.jobs[0]!.id))!;
        expect(job).toMatchObject({ state: "pending", attempts: 0, lastError: null, lockedBy: null, lockedUntil: null, createdAt: T0, updatedAt: T0, runAt: T0, maxAttempts: 3 });
        expect(job.payload).toEqual(a.jobs[0]!.payload);
      });

      test("the payload round-trips verbatim: key order, nesting, strings and null", async () => {
        const s = await fresh();
        const payloads = [{ z: 1, a: { y: [1, "two", null], b: true } }, "plain", 42, null];
        const jobs = payloads.map((payload) => newJob({ payload }));
        await s.acceptBatch([acceptance("k1", { jobs })]);
        for (const [i, j] of jobs.entries()) {
          const got = (await s.getJob(j.id))!.payload;
          expect(JSON.stringify(got)).toBe(JSON.stringify(payloads[i]));
        }
      });

      test("payloads with newlines, quotes, backslashes and non-ASCII text round-trip; jobs sharing one payload object each get it", async () => {
        const s = await fresh();
        const shared = { text: 'line one\nline "two"\\ \u2028 ünï😀', list: [1.5, -0, 1e21, "\u0000"] };
        const jobs = [newJob({ payload: shared }), newJob({ payload: shared, action: "welcome.http" }), newJob({ payload: "A\n{" }), newJob({ payload: shared })];
        await s.acceptBatch([acceptance("k1", { jobs: jobs.slice(0, 2) }), acceptance("k2", { jobs: jobs.slice(2) })]);
        for (const j of jobs) expect(JSON.stringify((await s.getJob(j.id))!.payload)).toBe(JSON.stringify(j.payload));
      });

      test("a payload JSON cannot represent fails its batch, and nothing of the batch is stored", async () => {
        const s = await fresh();
        const good = acceptance("k1");
        const bad = acceptance("k2", { jobs: [newJob({ payload: { n: 1n } })] });
        expect(await s.acceptBatch([good, bad]).then(() => "resolved", (err: Error) => err.name)).toBe("TypeError");
        expect(await s.acceptBatch([acceptance("k1")])).toEqual([{ duplicate: false }]);
        for (const j of good.jobs) expect(await s.getJob(j.id)).toBeUndefined();
      });

      test("a large batch of new keys, each with its own answer: every later repeat replays its own", async () => {
        const s = await fresh();
        // 45 = more than one multi-row statement on SQLite (accept-batch.ts); each record must keep its own answer.
        const keys = Array.from({ length: 45 }, (_, i) => `big-${i}`);
        const first = keys.map((k, i) => acceptance(k, { response: { status: 200 + (i % 3), body: `answer ${i}` }, jobs: [newJob()] }));
        expect(await s.acceptBatch(first)).toEqual(keys.map(() => ({ duplicate: false })));
        const repeats = [...keys].reverse().map((k) => acceptance(k, { now: T0 + MIN }));
        expect(await s.acceptBatch(repeats)).toEqual([...first].reverse().map((a) => ({ duplicate: true, response: a.response })));
        expect((await s.stats(T0)).byState.pending).toBe(45);
      });

      test("a repeat of a live key is a duplicate: the first response is replayed and nothing is enqueued", async () => {
        const s = await fresh();
        await s.acceptBatch([acceptance("k1")]);
        const repeat = acceptance("k1", { response: { status: 500, body: "other" }, now: T0 + MIN });
        expect(await s.acceptBatch([repeat])).toEqual([{ duplicate: true, response: { status: 200, body: '{"for":"k1"}', contentType: "application/json" } }]);
        expect((await s.stats(T0)).byState.pending).toBe(2);
        for (const j of repeat.jobs) expect(await s.getJob(j.id)).toBeUndefined();
      });

      test("keys and stored bodies survive verbatim, whatever their characters", async () => {
        const s = await fresh();
        const odd = ["NULL", "", 'quo"te,{x}', "back\\slash\nnew line", "ünï😀"];
        const batch = odd.map((text, i) => acceptance(`k-${text}`, { response: { status: 200 + i, body: text, contentType: text || undefined }, jobs: [newJob({ payload: text })] }));
        expect(await s.acceptBatch(batch)).toEqual(odd.map(() => ({ duplicate: false })));
        const replay = await s.acceptBatch(odd.map((text) => acceptance(`k-${text}`)));
        expect(replay).toEqual(batch.map((a) => ({ duplicate: true, response: a.response.contentType ? a.response : { status: a.response.status, body: a.response.body } })));
        expect((await s.listJobs({})).map((j) => j.payload).sort()).toEqual([...odd].sort());
      });

      test("a stored response without body or content type is replayed as such", async () => {
        const s = await fresh();
        await s.acceptBatch([acceptance("k1", { response: { status: 204, body: null } })]);
        expect(await s.acceptBatch([acceptance("k1")])).toEqual([{ duplicate: true, response: { status: 204, body: null } }]);
      });

      test("the same key under another hook is a different request", async () => {
        const s = await fresh();
        await s.acceptBatch([acceptance("k1")]);
        expect(await s.acceptBatch([acceptance("k1", { hook: "audit" })])).toEqual([{ duplicate: false }]);
      });

      test("an expired record is replaced: the repeat is new, enqueues again and stores its own response", async () => {
        const s = await fresh();
        await s.acceptBatch([acceptance("k1")]);
        const later = T0 + 10 * MIN; // expiresAt of the first record
        const again = acceptance("k1", { now: later, expiresAt: later + 10 * MIN, response: { status: 201, body: "second" } });
        expect(await s.acceptBatch([again])).toEqual([{ duplicate: false }]);
        expect((await s.stats(later)).byState.pending).toBe(4);
        expect(await s.acceptBatch([acceptance("k1", { now: later + 1 })])).toEqual([{ duplicate: true, response: { status: 201, body: "second" } }]);
      });

      test("within one batch, a repeated key is a duplicate of the earlier acceptance and enqueues nothing", async () => {
        const s = await fresh();
        const first = acceptance("k1");
        const second = acceptance("k1", { response: { status: 418, body: "no" } });
        const other = acceptance("k2");
        const results = await s.acceptBatch([first, second, other]);
        expect(results).toEqual([{ duplicate: false }, { duplicate: true, response: first.response }, { duplicate: false }]);
        expect((await s.stats(T0)).byState.pending).toBe(4);
        for (const j of second.jobs) expect(await s.getJob(j.id)).toBeUndefined();
      });

      test("a batch is one transaction: if one acceptance fails, none of the batch is stored", async () => {
        const s = await fresh();
        const clash = newJob();
        await s.acceptBatch([acceptance("k0", { jobs: [clash] })]);
        const good = acceptance("k1");
        const bad = acceptance("k2", { jobs: [newJob({ id: clash.id })] }); // primary key clash
        // Not `expect(...).rejects`: under bun test 1.4.5 it stops Worker messages from arriving,
        // so the store-thread run of this suite would never see the rejection.
        expect(await s.acceptBatch([good, bad]).then(() => "resolved", (err: Error) => err.message)).toMatch(/UNIQUE|unique|duplicate/);
        expect(await s.acceptBatch([acceptance("k1")])).toEqual([{ duplicate: false }]);
        for (const j of good.jobs) expect(await s.getJob(j.id)).toBeUndefined();
      });

      test("two store instances accepting the same key at once: exactly one wins, one set of jobs", async () => {
        await fresh();
        const [a, b] = [await connect(), await connect()];
        for (let round = 0; round < 5; round++) {
          const key = `race-${round}`;
          const [ra, rb] = await Promise.all([
            a.acceptBatch([acceptance(key, { response: { status: 200, body: "a" } })]),
            b.acceptBatch([acceptance(key, { response: { status: 200, body: "b" } })]),
          ]);
          const results = [ra[0]!, rb[0]!];
          expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
          const winner = results[0]!.duplicate ? "b" : "a";
          const loser = results.find((r) => r.duplicate)!;
          expect(loser).toEqual({ duplicate: true, response: { status: 200, body: winner } });
        }
        expect((await a.stats(T0)).byState.pending).toBe(10);
      });

      test("a key repeated in a batch after an earlier stored record: every occurrence replays the stored response", async () => {
        const s = await fresh();
        await s.acceptBatch([acceptance("k1", { response: { status: 200, body: "stored" } })]);
        const results = await s.acceptBatch([acceptance("k1"), acceptance("k2"), acceptance("k1")]);
        expect(results).toEqual([{ duplicate: true, response: { status: 200, body: "stored" } }, { duplicate: false }, { duplicate: true, response: { status: 200, body: "stored" } }]);
      });

      test("two instances committing overlapping keys in opposite orders both complete (no deadlock), each key won once", async () => {
        await fresh();
        const [a, b] = [await connect(), await connect()];
        for (let round = 0; round < 5; round++) {
          const keys = Array.from({ length: 20 }, (_, i) => `r${round}-${i}`);
          const [ra, rb] = await Promise.all([a.acceptBatch(keys.map((k) => acceptance(k))), b.acceptBatch([...keys].reverse().map((k) => acceptance(k)))]);
          const wins = keys.map((_, i) => Number(!ra[i]!.duplicate) + Number(!rb[keys.length - 1 - i]!.duplicate));
          expect(wins).toEqual(keys.map(() => 1));
        }
        expect((await a.stats(T0)).byState.pending).toBe(5 * 20 * 2);
      });

      test("an empty batch commits nothing and returns nothing", async () => {
        const s = await fresh();
        expect(await s.acceptBatch([])).toEqual([]);
      });
    });

    describe("claimDueJobs", () => {
      const claim = (s: Store, over: Partial<Parameters<Store["claimDueJobs"]>[0]> = {}) =>
        s.claimDueJobs({ worker: "w1", now: T0, leaseMs: MIN, limit: 10, ...over });

      test("leases only due jobs, in due order, counting an attempt", async () => {
        const s = await fresh();
        const late = newJob({ runAt: T0 + MIN });
        const early = newJob({ runAt: T0 - 2 });
        const now = newJob({ runAt: T0 });
        await s.acceptBatch([acceptance("k1", { jobs: [late, now, early] })]);
        const got = await claim(s, { leaseMs: 10 * MIN });
        expect(got.map((j) => j.id)).toEqual([early.id, now.id]);
        expect(got[0]).toMatchObject({ state: "running", attempts: 1, lockedBy: "w1", lockedUntil: T0 + 10 * MIN, updatedAt: T0 });
        expect(await claim(s, { worker: "w2" })).toEqual([]);
        expect((await claim(s, { worker: "w2", now: T0 + MIN })).map((j) => j.id)).toEqual([late.id]);
      });

      test("reclaims expired leases and due pending jobs in one claim, earliest run_at first, within `limit`", async () => {
        const s = await fresh();
        const leasedEarly = newJob({ runAt: T0 - 5 });
        await s.acceptBatch([acceptance("k1", { jobs: [leasedEarly] })]);
        await claim(s, { worker: "w1", leaseMs: MIN });
        const pending = [newJob({ runAt: T0 - 10 }), newJob({ runAt: T0 }), newJob({ runAt: T0 + 1 }), newJob({ runAt: T0 + 2 })];
        await s.acceptBatch([acceptance("k2", { jobs: pending })]);
        // At T0 + MIN the lease on leasedEarly has expired; every pending job is due.
        const got = await claim(s, { worker: "w2", now: T0 + MIN, limit: 3 });
        expect(got.map((j) => j.id)).toEqual([pending[0]!.id, leasedEarly.id, pending[1]!.id]);
        expect(got[1]).toMatchObject({ lockedBy: "w2", attempts: 2 });
        expect((await claim(s, { worker: "w2", now: T0 + MIN, limit: 10 })).map((j) => j.id)).toEqual([pending[2]!.id, pending[3]!.id]);
      });

      test("returns at most `limit` jobs", async () => {
        const s = await fresh();
        await s.acceptBatch([acceptance("k1", { jobs: [newJob(), newJob(), newJob()] })]);
        expect(await claim(s, { limit: 2 })).toHaveLength(2);
        expect(await claim(s, { limit: 2 })).toHaveLength(1);
        expect(await claim(s, { limit: 0 })).toEqual([]);
      });

      test("the actions filter leases only jobs of those actions; an empty list leases nothing", async () => {
        const s = await fresh();
        const mail = newJob({ action: "welcome.mail" });
        const http = newJob({ action: "welcome.http" });
        const exec = newJob({ action: "welcome.exec" });
        await s.acceptBatch([acceptance("k1", { jobs: [mail, http, exec] })]);
        expect(await claim(s, { actions: [] })).toEqual([]);
        expect((await claim(s, { actions: ["welcome.http", "welcome.exec"] })).map((j) => j.action).sort()).toEqual(["welcome.exec", "welcome.http"]);
        expect((await claim(s)).map((j) => j.id)).toEqual([mail.id]);
      });

      test("the actions filter holds for one action and for a long list (SQLite names up to 16 one parameter each, more as one JSON list)", async () => {
        const s = await fresh();
        const jobs = Array.from({ length: 24 }, (_, i) => newJob({ action: `welcome.a${i}` }));
        await s.acceptBatch([acceptance("k1", { jobs })]);
        expect((await claim(s, { actions: ["welcome.a3"] })).map((j) => j.id)).toEqual([jobs[3]!.id]);
        const sixteen = Array.from({ length: 16 }, (_, i) => `welcome.a${i + 4}`);
        expect((await claim(s, { limit: 50, actions: [...sixteen, "welcome.none"] })).map((j) => j.action).sort()).toEqual([...sixteen].sort());
        expect((await claim(s, { actions: ["welcome.a0", "welcome.a1", "welcome.none"] })).map((j) => j.action).sort()).toEqual(["welcome.a0", "welcome.a1"]);
        expect((await claim(s, { limit: 50 })).map((j) => j.action).sort()).toEqual(["welcome.a2", "welcome.a20", "welcome.a21", "welcome.a22", "welcome.a23"]);
      });

      test("two claimers at once never get the same job", async () => {
        await fresh();
        const [a, b] = [await connect(), await connect()];
        const jobs = Array.from({ length: 30 }, () => newJob());
        await a.acceptBatch([acceptance("k1", { jobs })]);
        const seen: string[] = [];
        for (let i = 0; i < 10; i++) {
          const [ja, jb] = await Promise.all([claim(a, { worker: "wa", limit: 2 }), claim(b, { worker: "wb", limit: 2 })]);
          seen.push(...ja.map((j) => j.id), ...jb.map((j) => j.id));
        }
        expect(new Set(seen).size).toBe(seen.length);
        expect(seen.sort()).toEqual(jobs.map((j) => j.id).sort());
      });

      test("a job whose lease expired is claimable again; the old holder can no longer finish it", async () => {
        const s = await fresh();
        const job = newJob();
        await s.acceptBatch([acceptance("k1", { jobs: [job] })]);
        await claim(s, { worker: "w1" });
        expect(await claim(s, { worker: "w2", now: T0 + MIN - 1 })).toEqual([]);
        const [re] = await claim(s, { worker: "w2", now: T0 + MIN });
        expect(re).toMatchObject({ id: job.id, lockedBy: "w2", attempts: 2, lockedUntil: T0 + 2 * MIN });
        expect(await s.completeJob(job.id, "w1", T0 + MIN)).toBe(false);
        expect(await s.completeJob(job.id, "w2", T0 + MIN)).toBe(true);
      });

      test("an expired lease on the last attempt buries the job instead of running it again", async () => {
        const s = await fresh();
        const job = newJob({ maxAttempts: 1 });
        await s.acceptBatch([acceptance("k1", { jobs: [job] })]);
        await claim(s);
        expect(await claim(s, { worker: "w2", now: T0 + MIN })).toEqual([]);
        expect(await s.getJob(job.id)).toMatchObject({ state: "dead", lockedBy: null, attempts: 1 });
        expect((await s.getJob(job.id))!.lastError).toContain("lease expired");
      });
    });

    describe("complete, fail, release", () => {
      const leased = async (s: Store, job = newJob()) => {
        await s.acceptBatch([acceptance(`k-${job.id}`, { jobs: [job] })]);
        await s.claimDueJobs({ worker: "w1", now: T0, leaseMs: MIN, limit: 10 });
        return job;
      };

      test("with a worker that does not hold the lease, each returns false and changes nothing", async () => {
        const s = await fresh();
        const job = await leased(s);
        const before = await s.getJob(job.id);
        expect(await s.completeJob(job.id, "w2", T0 + 1)).toBe(false);
        expect(await s.failJob(job.id, "w2", "boom", T0 + 5, T0 + 1)).toBe(false);
        expect(await s.releaseJob(job.id, "w2", T0 + 1)).toBe(false);
        expect(await s.completeJob("no-such-job", "w1", T0 + 1)).toBe(false);
        expect(await s.getJob(job.id)).toEqual(before);
      });

      test("complete marks the job done and drops the lease", async () => {
        const s = await fresh();
        const job = await leased(s);
        expect(await s.completeJob(job.id, "w1", T0 + 5)).toBe(true);
        expect(await s.getJob(job.id)).toMatchObject({ state: "done", lockedBy: null, lockedUntil: null, updatedAt: T0 + 5, attempts: 1 });
        expect(await s.completeJob(job.id, "w1", T0 + 6)).toBe(false);
      });

      test("completeJobs marks every job whose lease is held done in one call, and returns their ids", async () => {
        const s = await fresh();
        const jobs = Array.from({ length: 5 }, () => newJob());
        await s.acceptBatch([acceptance("k1", { jobs })]);
        await s.claimDueJobs({ worker: "w1", now: T0, leaseMs: MIN, limit: 10 });
        const done = await s.completeJobs(jobs.map((j) => ({ id: j.id, worker: "w1" })), T0 + 5);
        expect([...done].sort()).toEqual(jobs.map((j) => j.id).sort());
        for (const j of jobs) expect(await s.getJob(j.id)).toMatchObject({ state: "done", lockedBy: null, lockedUntil: null, updatedAt: T0 + 5, attempts: 1 });
        expect(await s.completeJobs(jobs.map((j) => ({ id: j.id, worker: "w1" })), T0 + 6)).toEqual([]);
      });

      test("completeJobs leaves a job whose lease was lost (reclaimed, wrong worker, not running, unknown) untouched and leaves it out of the result", async () => {
        const s = await fresh();
        const [mine, reclaimed, theirs, pending] = [newJob(), newJob(), newJob(), newJob({ runAt: T0 + 10 * MIN })];
        await s.acceptBatch([acceptance("k1", { jobs: [mine, reclaimed] })]);
        await s.claimDueJobs({ worker: "w1", now: T0, leaseMs: MIN, limit: 10 });
        // w1's lease on `reclaimed` runs out and w2 takes it over.
        await s.acceptBatch([acceptance("k2", { jobs: [theirs, pending] })]);
        await s.claimDueJobs({ worker: "w2", now: T0 + MIN, leaseMs: MIN, limit: 10, actions: ["welcome.mail"] });
        expect((await s.getJob(reclaimed.id))!.lockedBy).toBe("w2");
        expect((await s.getJob(mine.id))!.lockedBy).toBe("w2"); // both of w1's leases had expired
        const before = await Promise.all([mine, reclaimed, theirs, pending].map((j) => s.getJob(j.id)));
        const done = await s.completeJobs(
          [mine, reclaimed, theirs, pending].map((j) => ({ id: j.id, worker: "w1" })).concat({ id: "no-such-job", worker: "w1" }),
          T0 + MIN + 1,
        );
        expect(done).toEqual([]);
        expect(await Promise.all([mine, reclaimed, theirs, pending].map((j) => s.getJob(j.id)))).toEqual(before);
      });

      test("completeJobs with a mixed batch: each job is checked against its own worker; only held leases are completed", async () => {
        const s = await fresh();
        const [a1, a2, b1, lost] = [newJob(), newJob(), newJob({ action: "welcome.http" }), newJob({ action: "welcome.exec" })];
        await s.acceptBatch([acceptance("k1", { jobs: [a1, a2, b1, lost] })]);
        await s.claimDueJobs({ worker: "wa", now: T0, leaseMs: MIN, limit: 10, actions: ["welcome.mail"] });
        await s.claimDueJobs({ worker: "wb", now: T0, leaseMs: MIN, limit: 10, actions: ["welcome.http", "welcome.exec"] });
        const done = await s.completeJobs(
          [{ id: a1.id, worker: "wa" }, { id: b1.id, worker: "wb" }, { id: a2.id, worker: "wb" }, { id: lost.id, worker: "wa" }],
          T0 + 7,
        );
        expect([...done].sort()).toEqual([a1.id, b1.id].sort());
        expect(await s.getJob(a1.id)).toMatchObject({ state: "done", updatedAt: T0 + 7 });
        expect(await s.getJob(b1.id)).toMatchObject({ state: "done", updatedAt: T0 + 7 });
        expect(await s.getJob(a2.id)).toMatchObject({ state: "running", lockedBy: "wa" });
        expect(await s.getJob(lost.id)).toMatchObject({ state: "running", lockedBy: "wb" });
        expect(await s.completeJobs([], T0 + 8)).toEqual([]);
      });

      test("completeJobs with a few hundred jobs completes them all", async () => {
        const s = await fresh();
        const jobs = Array.from({ length: 300 }, () => newJob());
        await s.acceptBatch([acceptance("k1", { jobs })]);
        expect(await s.claimDueJobs({ worker: "w1", now: T0, leaseMs: MIN, limit: 300 })).toHaveLength(300);
        expect(await s.completeJobs(jobs.map((j) => ({ id: j.id, worker: "w1" })), T0 + 1)).toHaveLength(300);
        expect((await s.stats(T0 + 1)).byState).toEqual({ pending: 0, running: 0, done: 300, dead: 0 });
      });

      test("fail with retryAt puts the job back to pending at that time, with the error", async () => {
        const s = await fresh();
        const job = await leased(s);
        expect(await s.failJob(job.id, "w1", "HTTP 503", T0 + 30_000, T0 + 5)).toBe(true);
        expect(await s.getJob(job.id)).toMatchObject({ state: "pending", runAt: T0 + 30_000, lastError: "HTTP 503", attempts: 1, lockedBy: null });
        expect(await s.claimDueJobs({ worker: "w1", now: T0 + 29_999, leaseMs: MIN, limit: 10 })).toEqual([]);
        expect(await s.claimDueJobs({ worker: "w1", now: T0 + 30_000, leaseMs: MIN, limit: 10 })).toHaveLength(1);
      });

      test("fail without retryAt makes the job dead", async () => {
        const s = await fresh();
        const job = await leased(s);
        expect(await s.failJob(job.id, "w1", "HTTP 400", null, T0 + 5)).toBe(true);
        expect(await s.getJob(job.id)).toMatchObject({ state: "dead", lastError: "HTTP 400", runAt: T0, lockedBy: null });
        expect(await s.claimDueJobs({ worker: "w1", now: T0 + 10 * MIN, leaseMs: MIN, limit: 10 })).toEqual([]);
      });

      test("release gives the job back due as before, without counting the attempt", async () => {
        const s = await fresh();
        const job = await leased(s);
        expect(await s.releaseJob(job.id, "w1", T0 + 5)).toBe(true);
        expect(await s.getJob(job.id)).toMatchObject({ state: "pending", attempts: 0, runAt: T0, lockedBy: null, lockedUntil: null });
        expect(await s.claimDueJobs({ worker: "w2", now: T0 + 6, leaseMs: MIN, limit: 10 })).toHaveLength(1);
      });
    });

    describe("attempt history", () => {
      const attempt = (over: Partial<AttemptRecord> = {}): AttemptRecord => ({ startedAt: T0, durationMs: 12, outcome: "retry", code: 503, detail: "POST https://x/ answered 503: busy", ...over });
      const leased = async (s: Store, job = newJob()) => {
        await s.acceptBatch([acceptance(`k-${job.id}`, { jobs: [job] })]);
        await s.claimDueJobs({ worker: "w1", now: T0, leaseMs: MIN, limit: 10 });
        return job;
      };

      test("completeJobs records every kind of completion in one batch: plain delivered attempts, ones with a detail, none, and two workers", async () => {
        const s = await fresh();
        const jobs = [newJob(), newJob(), newJob(), newJob({ action: "welcome.http" }), newJob()];
        await s.acceptBatch([acceptance("k-kinds", { jobs })]);
        await s.claimDueJobs({ worker: "wa", now: T0, leaseMs: MIN, limit: 10, actions: ["welcome.mail"] });
        await s.claimDueJobs({ worker: "wb", now: T0, leaseMs: MIN, limit: 10, actions: ["welcome.http"] });
        const [plain, detailed, bare, theirs, alsoPlain] = jobs as [NewJob, NewJob, NewJob, NewJob, NewJob];
        const items = [
          { id: plain.id, worker: "wa", attempt: attempt({ startedAt: T0 + 1, outcome: "delivered", code: 200, detail: null, durationMs: 4 }) },
          { id: detailed.id, worker: "wa", attempt: attempt({ startedAt: T0 + 2, outcome: "delivered", code: 202, detail: "accepted: queued", durationMs: 5 }) },
          { id: bare.id, worker: "wa" },
          { id: theirs.id, worker: "wb", attempt: attempt({ startedAt: T0 + 3, outcome: "delivered", code: 204, detail: null, durationMs: 6 }) },
          { id: alsoPlain.id, worker: "wa", attempt: attempt({ startedAt: T0 + 4, outcome: "delivered", code: null, detail: null, durationMs: 7 }) },
        ];
        expect([...(await s.completeJobs(items, T0 + 9))].sort()).toEqual(jobs.map((j) => j.id).sort());
        for (const j of jobs) expect(await s.getJob(j.id)).toMatchObject({ state: "done", updatedAt: T0 + 9, lockedBy: null });
        expect(await s.listAttempts(plain.id)).toEqual([{ jobId: plain.id, n: 1, startedAt: T0 + 1, durationMs: 4, outcome: "delivered", code: 200, detail: null }]);
        expect(await s.listAttempts(detailed.id)).toEqual([{ jobId: detailed.id, n: 1, startedAt: T0 + 2, durationMs: 5, outcome: "delivered", code: 202, detail: "accepted: queued" }]);
        expect(await s.listAttempts(bare.id)).toEqual([]);
        expect(await s.listAttempts(theirs.id)).toEqual([{ jobId: theirs.id, n: 1, startedAt: T0 + 3, durationMs: 6, outcome: "delivered", code: 204, detail: null }]);
        expect(await s.listAttempts(alsoPlain.id)).toEqual([{ jobId: alsoPlain.id, n: 1, startedAt: T0 + 4, durationMs: 7, outcome: "delivered", code: null, detail: null }]);
      });

      test("completeJobs whose first completion lost its lease still records the rest of the batch, and names only those", async () => {
        const s = await fresh();
        const [lost, held, other] = [newJob(), newJob(), newJob({ action: "welcome.http" })];
        await s.acceptBatch([acceptance("k-first-lost", { jobs: [lost, held, other] })]);
        await s.claimDueJobs({ worker: "wa", now: T0, leaseMs: MIN, limit: 10, actions: ["welcome.mail"] });
        await s.claimDueJobs({ worker: "wb", now: T0, leaseMs: MIN, limit: 10, actions: ["welcome.http"] });
        const plain = (startedAt: number) => attempt({ startedAt, outcome: "delivered", code: 200, detail: null, durationMs: 1 });
        const done = await s.completeJobs(
          [{ id: lost.id, worker: "wz", attempt: plain(T0 + 1) }, { id: held.id, worker: "wa", attempt: plain(T0 + 2) }, { id: other.id, worker: "wb", attempt: plain(T0 + 3) }],
          T0 + 5,
        );
        expect([...done].sort()).toEqual([held.id, other.id].sort());
        expect(await s.getJob(lost.id)).toMatchObject({ state: "running", lockedBy: "wa" });
        expect(await s.listAttempts(lost.id)).toEqual([]);
        expect(await s.listAttempts(held.id)).toHaveLength(1);
      });

      test("failJob and completeJobs record the attempt with the outcome, numbered over the job's life", async () => {
        const s = await fresh();
        const job = await leased(s);
        expect(await s.failJob(job.id, "w1", "busy", T0 + 10, T0 + 1, attempt())).toBe(true);
        await s.claimDueJobs({ worker: "w1", now: T0 + 10, leaseMs: MIN, limit: 10 });
        expect(await s.completeJobs([{ id: job.id, worker: "w1", attempt: attempt({ startedAt: T0 + 10, outcome: "delivered", code: 204, detail: null, durationMs: 3 }) }], T0 + 20)).toEqual([job.id]);
        expect(await s.listAttempts(job.id)).toEqual([
          { jobId: job.id, n: 1, startedAt: T0, durationMs: 12, outcome: "retry", code: 503, detail: "POST https://x/ answered 503: busy" },
          { jobId: job.id, n: 2, startedAt: T0 + 10, durationMs: 3, outcome: "delivered", code: 204, detail: null },
        ]);
        expect(await s.getJob(job.id)).toMatchObject({ state: "done", attempts: 2, attemptsRecorded: 2, lastError: null });
      });

      test("completeThenClaim: the completions as completeJobs records them (lease checked, attempt kept), then the claim, in one transaction", async () => {
        const s = await fresh();
        if (!s.completeThenClaim) return expect(s.kind).toBe("postgres"); // Postgres records completions with completeJobs
        const [a, b, c] = [newJob(), newJob(), newJob()];
        await s.acceptBatch([acceptance("k-ctc", { jobs: [a, b, c] })]);
        await s.claimDueJobs({ worker: "w1", now: T0, leaseMs: MIN, limit: 2 });
        const later = newJob({ runAt: T0 + 5, payload: { s: "ünï\n😀" } });
        await s.acceptBatch([acceptance("k-ctc2", { jobs: [later], now: T0 + 5 })]);
        const r = await s.completeThenClaim(
          [
            { id: a.id, worker: "w1", attempt: attempt({ outcome: "delivered", code: 204, detail: null, durationMs: 3 }) },
            { id: b.id, worker: "w2", attempt: attempt({ outcome: "delivered", code: 204, detail: null }) }, // not its lease
            { id: c.id, worker: "w1" }, // not claimed: not running
          ],
          T0 + 10,
          { worker: "w1", now: T0 + 10, leaseMs: MIN, limit: 10 },
        );
        expect(r.completed).toEqual([a.id]);
        // The claim came after the completions: the completed job is not claimed again, the others are due.
        expect(r.jobs.map((j) => j.id).sort()).toEqual([c.id, later.id].sort());
        expect(r.jobs.find((j) => j.id === later.id)).toMatchObject({ payload: later.payload, state: "running", lockedBy: "w1", attempts: 1 });
        expect(await s.getJob(a.id)).toMatchObject({ state: "done", attemptsRecorded: 1 });
        expect(await s.listAttempts(a.id)).toEqual([{ jobId: a.id, n: 1, startedAt: T0, durationMs: 3, outcome: "delivered", code: 204, detail: null }]);
        expect(await s.getJob(b.id)).toMatchObject({ state: "running", lockedBy: "w1" });
        expect(await s.listAttempts(b.id)).toEqual([]);
        // Nothing to complete: a plain claim.
        expect(await s.completeThenClaim([], T0 + 11, { worker: "w1", now: T0 + 11, leaseMs: MIN, limit: 10 })).toEqual({ completed: [], jobs: [] });
        // Every lease held: every id comes back, in the completions' order.
        const all = [later.id, c.id].map((id, i) => ({ id, worker: "w1", attempt: attempt({ startedAt: T0 + 12 + i, outcome: "delivered", code: 200, detail: null, durationMs: 1 }) }));
        expect(await s.completeThenClaim(all, T0 + 13, { worker: "w1", now: T0 + 13, leaseMs: MIN, limit: 10 })).toEqual({ completed: [later.id, c.id], jobs: [] });
        expect(await s.listAttempts(later.id)).toEqual([{ jobId: later.id, n: 1, startedAt: T0 + 12, durationMs: 1, outcome: "delivered", code: 200, detail: null }]);
      });

      test("an attempt whose lease was lost is not recorded (its outcome is not either)", async () => {
        const s = await fresh();
        const job = await leased(s);
        expect(await s.failJob(job.id, "w2", "busy", T0 + 10, T0 + 1, attempt())).toBe(false);
        expect(await s.completeJobs([{ id: job.id, worker: "w2", attempt: attempt({ outcome: "delivered" }) }], T0 + 1)).toEqual([]);
        expect(await s.listAttempts(job.id)).toEqual([]);
      });

      test("retry keeps the history and gives a fresh budget; the attempts recorded still count every one", async () => {
        const s = await fresh();
        const job = await leased(s, newJob({ maxAttempts: 1 }));
        await s.failJob(job.id, "w1", "gone", null, T0 + 1, attempt({ outcome: "dead", code: 410 }));
        expect(await s.getJob(job.id)).toMatchObject({ state: "dead", attempts: 1, attemptsRecorded: 1, lastError: "gone" });
        expect(await s.retryJobs({ ids: [job.id] }, T0 + 5)).toBe(1);
        expect(await s.getJob(job.id)).toMatchObject({ state: "pending", attempts: 0, attemptsRecorded: 1 });
        await s.claimDueJobs({ worker: "w1", now: T0 + 5, leaseMs: MIN, limit: 10 });
        await s.failJob(job.id, "w1", "gone again", null, T0 + 6, attempt({ outcome: "dead", code: 410, startedAt: T0 + 5 }));
        expect((await s.listAttempts(job.id)).map((a) => [a.n, a.startedAt])).toEqual([[1, T0], [2, T0 + 5]]);
        expect(await s.getJob(job.id)).toMatchObject({ state: "dead", attempts: 1, attemptsRecorded: 2, lastError: "gone again" });
      });

      test("a delivered job retried and delivered again keeps both deliveries, and every attempt's fields", async () => {
        const s = await fresh();
        const job = await leased(s);
        const delivered = (startedAt: number, detail: string | null = null) => attempt({ startedAt, outcome: "delivered", code: 200, detail, durationMs: 4 });
        expect(await s.completeJobs([{ id: job.id, worker: "w1", attempt: delivered(T0) }], T0 + 1)).toEqual([job.id]);
        expect(await s.getJob(job.id)).toMatchObject({ state: "done", attemptsRecorded: 1 });
        expect(await s.retryJobs({ ids: [job.id] }, T0 + 5)).toBe(1);
        expect(await s.getJob(job.id)).toMatchObject({ state: "pending", attempts: 0, attemptsRecorded: 1 });
        await s.claimDueJobs({ worker: "w1", now: T0 + 5, leaseMs: MIN, limit: 10 });
        expect(await s.completeJobs([{ id: job.id, worker: "w1", attempt: delivered(T0 + 5, "answered 200: ok") }], T0 + 6)).toEqual([job.id]);
        expect(await s.listAttempts(job.id)).toEqual([
          { jobId: job.id, n: 1, startedAt: T0, durationMs: 4, outcome: "delivered", code: 200, detail: null },
          { jobId: job.id, n: 2, startedAt: T0 + 5, durationMs: 4, outcome: "delivered", code: 200, detail: "answered 200: ok" },
        ]);
        expect(await s.getJob(job.id)).toMatchObject({ state: "done", attempts: 1, attemptsRecorded: 2 });
      });

      test("a done job shows no stale error from an earlier failed attempt", async () => {
        const s = await fresh();
        const job = await leased(s);
        await s.failJob(job.id, "w1", "busy", T0 + 10, T0 + 1, attempt());
        await s.claimDueJobs({ worker: "w1", now: T0 + 10, leaseMs: MIN, limit: 10 });
        expect(await s.completeJob(job.id, "w1", T0 + 11)).toBe(true);
        expect((await s.getJob(job.id))!.lastError).toBeNull();
      });

      test("purging a job deletes its attempts", async () => {
        const s = await fresh();
        const job = await leased(s, newJob({ maxAttempts: 1 }));
        await s.failJob(job.id, "w1", "gone", null, T0 + 1, attempt({ outcome: "dead" }));
        expect(await s.purgeJobs({ ids: [job.id] })).toBe(1);
        expect(await s.listAttempts(job.id)).toEqual([]);
        const other = await leased(s, newJob({ maxAttempts: 1 }));
        await s.failJob(other.id, "w1", "gone", null, T0 + 1, attempt({ outcome: "dead" }));
        expect(await s.expireJobs("dead", T0 + 2, 10)).toBe(1);
        expect(await s.listAttempts(other.id)).toEqual([]);
      });
    });

    describe("operator actions", () => {
      /** One job in each state: pending, running, done, dead. */
      const oneOfEach = async (s: Store, key = "k1") => {
        const [pending, running, done, dead] = [newJob({ runAt: T0 + MIN }), newJob(), newJob(), newJob({ action: "welcome.http" })];
        await s.acceptBatch([acceptance(key, { jobs: [pending, running, done, dead] })]);
        await s.claimDueJobs({ worker: "w1", now: T0, leaseMs: MIN, limit: 10 });
        await s.completeJob(done.id, "w1", T0 + 1);
        await s.failJob(dead.id, "w1", "gave up", null, T0 + 1);
        return { pending, running, done, dead };
      };

      test("listJobs filters by state, hook, action and ids, newest first, with a limit", async () => {
        const s = await fresh();
        const j = await oneOfEach(s);
        expect((await s.listJobs({ state: "dead" })).map((x) => x.id)).toEqual([j.dead.id]);
        expect((await s.listJobs({ action: "welcome.http" })).map((x) => x.id)).toEqual([j.dead.id]);
        expect(await s.listJobs({ hook: "other" })).toEqual([]);
        expect((await s.listJobs({ ids: [j.done.id, j.pending.id] })).map((x) => x.id).sort()).toEqual([j.done.id, j.pending.id].sort());
        expect((await s.listJobs({ limit: 2 })).map((x) => x.id)).toEqual([j.dead.id, j.done.id]);
      });

      test("listJobs finds jobs by trigger id, identity id and creation time, and pages with beforeId", async () => {
        const s = await fresh();
        const jobs = Array.from({ length: 5 }, (_, i) => newJob({ triggerId: `t-${i % 2}`, identityId: i === 3 ? "id-3" : null, traceparent: null }));
        for (const [i, job] of jobs.entries()) await s.acceptBatch([acceptance(`k${i}`, { jobs: [job], now: T0 + i * MIN })]);
        const ids = (f: Parameters<Store["listJobs"]>[0]) => s.listJobs(f).then((l) => l.map((x) => x.id));
        const newest = [...jobs].reverse().map((x) => x.id);
        expect(await ids({})).toEqual(newest);
        expect(await ids({ triggerId: "t-1" })).toEqual([jobs[3]!.id, jobs[1]!.id]);
        expect(await ids({ identityId: "id-3" })).toEqual([jobs[3]!.id]);
        expect(await ids({ createdFrom: T0 + MIN, createdBefore: T0 + 3 * MIN })).toEqual([jobs[2]!.id, jobs[1]!.id]);
        const page1 = await ids({ limit: 2 });
        const page2 = await ids({ limit: 2, beforeId: page1.at(-1)! });
        const page3 = await ids({ limit: 2, beforeId: page2.at(-1)! });
        expect([...page1, ...page2, ...page3]).toEqual(newest);
        expect(await s.getJob(jobs[3]!.id)).toMatchObject({ triggerId: "t-1", identityId: "id-3", traceparent: null, attemptsRecorded: 0 });
      });

      test("retryJobs without ids revives dead jobs: pending, attempts reset, due now", async () => {
        const s = await fresh();
        const j = await oneOfEach(s);
        expect(await s.retryJobs({}, T0 + 2 * MIN)).toBe(1);
        expect(await s.getJob(j.dead.id)).toMatchObject({ state: "pending", attempts: 0, runAt: T0 + 2 * MIN, updatedAt: T0 + 2 * MIN });
        expect((await s.getJob(j.done.id))!.state).toBe("done");
        const claimed = await s.claimDueJobs({ worker: "w2", now: T0 + 2 * MIN, leaseMs: MIN, limit: 10, actions: ["welcome.http"] });
        expect(claimed.map((x) => x.id)).toEqual([j.dead.id]);
      });

      test("retryJobs with ids takes any state except running", async () => {
        const s = await fresh();
        const j = await oneOfEach(s);
        const ids = [j.pending.id, j.running.id, j.done.id, j.dead.id];
        expect(await s.retryJobs({ ids }, T0 + 5)).toBe(3);
        expect((await s.getJob(j.running.id))!).toMatchObject({ state: "running", lockedBy: "w1" });
        for (const id of [j.pending.id, j.done.id, j.dead.id]) expect(await s.getJob(id)).toMatchObject({ state: "pending", attempts: 0, runAt: T0 + 5 });
      });

      test("purgeJobs deletes done and dead jobs by default, anything named by id", async () => {
        const s = await fresh();
        const j = await oneOfEach(s);
        expect(await s.purgeJobs({ state: "pending" })).toBe(0);
        expect(await s.purgeJobs({})).toBe(2);
        expect((await s.listJobs({})).map((x) => x.id).sort()).toEqual([j.pending.id, j.running.id].sort());
        expect(await s.purgeJobs({ ids: [j.pending.id] })).toBe(1);
        expect(await s.getJob(j.pending.id)).toBeUndefined();
      });

      test("purgeJobs honours state and limit", async () => {
        const s = await fresh();
        await oneOfEach(s, "k1");
        await oneOfEach(s, "k2");
        expect(await s.purgeJobs({ state: "dead", limit: 1 })).toBe(1);
        expect((await s.stats(T0)).byState).toEqual({ pending: 2, running: 2, done: 2, dead: 1 });
      });

      test("updatedBefore keeps only jobs last changed before the cutoff (purge --older-than)", async () => {
        const s = await fresh();
        const j = await oneOfEach(s); // done and dead finished at T0 + 1
        expect((await s.listJobs({ updatedBefore: T0 + 1 })).map((x) => x.id).sort()).toEqual([j.pending.id, j.running.id].sort());
        expect(await s.purgeJobs({ updatedBefore: T0 + 1 })).toBe(0);
        expect(await s.purgeJobs({ state: "done", updatedBefore: T0 + 2 })).toBe(1);
        expect((await s.getJob(j.dead.id))!.state).toBe("dead");
      });

      test("expireJobs deletes at most `limit` jobs of one state finished before the cutoff, with their attempts", async () => {
        const s = await fresh();
        await oneOfEach(s, "k1");
        await oneOfEach(s, "k2");
        await oneOfEach(s, "k3"); // three done and three dead, finished at T0 + 1
        expect(await s.expireJobs("done", T0 + 1, 10)).toBe(0);
        expect(await s.expireJobs("done", T0 + 2, 2)).toBe(2);
        expect(await s.expireJobs("done", T0 + 2, 2)).toBe(1);
        expect(await s.expireJobs("done", T0 + 2, 2)).toBe(0);
        expect((await s.stats(T0)).byState).toEqual({ pending: 3, running: 3, done: 0, dead: 3 });
        expect(await s.expireJobs("dead", T0 + 2, 10)).toBe(3);
        expect((await s.stats(T0)).byState).toEqual({ pending: 3, running: 3, done: 0, dead: 0 });
      });

      test("purgeExpiredDedupe drops expired records only, so their keys are new again", async () => {
        const s = await fresh();
        await s.acceptBatch([acceptance("short", { expiresAt: T0 + MIN }), acceptance("long", { expiresAt: T0 + 10 * MIN })]);
        expect(await s.purgeExpiredDedupe(T0 + MIN - 1)).toBe(0);
        expect(await s.purgeExpiredDedupe(T0 + MIN)).toBe(1);
        expect((await s.acceptBatch([acceptance("long", { now: T0 + MIN })]))[0]!.duplicate).toBe(true);
      });

      test("stats counts jobs by state and the age of the oldest due pending job", async () => {
        const s = await fresh();
        expect(await s.stats(T0)).toEqual({ byState: { pending: 0, running: 0, done: 0, dead: 0 }, oldestDueAgeMs: 0 });
        await oneOfEach(s); // its pending job is due at T0 + MIN, so not yet due
        expect(await s.stats(T0 + 30_000)).toEqual({ byState: { pending: 1, running: 1, done: 1, dead: 1 }, oldestDueAgeMs: 0 });
        await s.acceptBatch([acceptance("k2", { jobs: [newJob({ runAt: T0 - 500 })] })]);
        expect((await s.stats(T0 + 2 * MIN)).oldestDueAgeMs).toBe(2 * MIN + 500);
      });

      test("ping answers", async () => {
        const s = await fresh();
        expect(await s.ping()).toBeUndefined();
      });
    });

    describe("group commit", () => {
      test("concurrent accepts share transactions: fewer commits than requests, each caller gets its own result", async () => {
        const s = await fresh();
        let commits = 0;
        const gc = new GroupCommitter({ acceptBatch: (b) => (commits++, s.acceptBatch(b)) }, { maxWaitMs: 2, maxBatch: 64 });
        const keys = Array.from({ length: 20 }, (_, i) => `k${i % 15}`); // 5 repeats of earlier keys
        const results = await Promise.all(keys.map((k) => gc.accept(acceptance(k, { response: { status: 200, body: k } }))));
        expect(commits).toBeLessThan(keys.length);
        expect(gc.stats).toMatchObject({ batches: commits, accepted: 20 });
        expect(results.slice(0, 15).every((r) => !r.duplicate)).toBe(true);
        expect(results.slice(15)).toEqual(keys.slice(15).map((k) => ({ duplicate: true, response: { status: 200, body: k } })));
        expect((await s.stats(T0)).byState.pending).toBe(30);
      });

      test("maxBatch bounds a transaction", async () => {
        const s = await fresh();
        const sizes: number[] = [];
        const gc = new GroupCommitter({ acceptBatch: (b) => (sizes.push(b.length), s.acceptBatch(b)) }, { maxWaitMs: 50, maxBatch: 4 });
        await Promise.all(Array.from({ length: 10 }, (_, i) => gc.accept(acceptance(`k${i}`))));
        expect(sizes).toEqual([4, 4, 2]);
      });

      test("close commits what is queued, then refuses new acceptances", async () => {
        const s = await fresh();
        const gc = new GroupCommitter(s, { maxWaitMs: 60_000 }); // only close() can commit these
        const queued = [gc.accept(acceptance("k1")), gc.accept(acceptance("k2"))];
        await gc.close();
        expect(await Promise.all(queued)).toEqual([{ duplicate: false }, { duplicate: false }]);
        expect(gc.stats).toMatchObject({ batches: 1, accepted: 2 });
        await expect(gc.accept(acceptance("k3"))).rejects.toThrow(/closed/);
      });

      test("goWhenIdle (serve's SQLite setting): acceptances made while nothing commits go at once, as one batch, not after maxWaitMs", async () => {
        const s = await fresh();
        const gc = new GroupCommitter(s, { maxWaitMs: 60_000, goWhenIdle: true });
        expect(await Promise.all([gc.accept(acceptance("k1")), gc.accept(acceptance("k2"))])).toEqual([{ duplicate: false }, { duplicate: false }]);
        expect(gc.stats).toMatchObject({ batches: 1, accepted: 2 });
      });

      test("maxWaitMs 0 still groups the acceptances made in the same tick", async () => {
        const s = await fresh();
        const gc = new GroupCommitter(s, { maxWaitMs: 0 });
        await Promise.all([gc.accept(acceptance("k1")), gc.accept(acceptance("k2")), gc.accept(acceptance("k3"))]);
        expect(gc.stats.batches).toBe(1);
      });

      test("a failing batch rejects every caller in it, and the next batch works", async () => {
        const s = await fresh();
        const clash = newJob();
        await s.acceptBatch([acceptance("k0", { jobs: [clash] })]);
        const gc = new GroupCommitter(s, { maxWaitMs: 2 });
        const calls = [gc.accept(acceptance("k1")), gc.accept(acceptance("k2", { jobs: [newJob({ id: clash.id })] })), gc.accept(acceptance("k3"))];
        const settled = await Promise.allSettled(calls);
        expect(settled.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
        expect(await gc.accept(acceptance("k1"))).toEqual({ duplicate: false });
      });
    });
  });
}
