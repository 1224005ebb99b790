// The shared Store suite on the real Postgres at 127.0.0.1:5432 (database `test`), each test in
// a freshly created schema dropped afterwards, plus what only Postgres has: a pool that must
// survive failed transactions, terminated backends and a server that goes away and comes back.
// Postgres must be running (CI starts it); if it is not, this file fails, it does not skip.
import { SQL } from "bun";
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { StoreUnavailableError } from "../../src/outbox/errors.ts";
import { openStore } from "../../src/outbox/open-store.ts";
import { PostgresStore } from "../../src/outbox/postgres/store.ts";
import { acceptance, newJob, storeSuite } from "./store.suite.ts";
import { TcpProxy } from "./tcp-proxy.ts";

const PG_USER = process.env.PGUSER ?? process.env.USER ?? "postgres";
const PG_URL = process.env.KH_TEST_POSTGRES_URL ?? `postgres://${PG_USER}@127.0.0.1:5432/test`;

const admin = new SQL(PG_URL, { max: 2, connectionTimeout: 5 });
try {
  await admin`SELECT 1`;
} catch (err) {
  throw new Error(
    `Postgres is not reachable at ${PG_URL.replace(/:[^:@/]*@/, ":***@")} (${(err as { code?: string }).code ?? err}). ` +
      "These tests need it: start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, " +
      "or set KH_TEST_POSTGRES_URL.",
  );
}
afterAll(() => admin.close());

let n = 0;
/** A schema name unique to this process and test; also the application_name of its connections. */
const uniqueSchema = () => `kh_test_${process.pid}_${Date.now().toString(36)}_${++n}`;
const dropSchema = (schema: string) => admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);

/**
 * pg_terminate_backend on every connection of one store, from a separate connection. Narrowed by
 * application_name (unique per test) rather than "every pid but mine", because other suites share
 * this database and must not lose their connections.
 */
async function terminateBackends(applicationName: string): Promise<number> {
  const [row] = await admin`
    SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = ${applicationName}`;
  return (row as { n: number }).n;
}

storeSuite("postgres", async () => {
  const schema = uniqueSchema();
  return {
    open: async () => new PostgresStore(PG_URL, { schema, applicationName: schema, poolMax: 4 }),
    cleanup: async () => void (await dropSchema(schema)),
  };
});

describe("postgres specifics", () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const store = async (opts: { poolMax?: number; url?: string; connectTimeoutMs?: number } = {}) => {
    const schema = uniqueSchema();
    const s = new PostgresStore(opts.url ?? PG_URL, { schema, applicationName: schema, poolMax: opts.poolMax ?? 4, connectTimeoutMs: opts.connectTimeoutMs });
    cleanups.push(() => dropSchema(schema), () => s.close());
    return { s, schema };
  };

  test("openStore parses postgres:// and creates the schema with its tables", async () => {
    const schema = uniqueSchema();
    cleanups.push(() => dropSchema(schema));
    const s = await openStore(PG_URL, { schema });
    cleanups.push(() => s.close());
    expect(s.kind).toBe("postgres");
    expect(await s.acceptBatch([acceptance("k1")])).toEqual([{ duplicate: false }]);
    const tables = await admin`SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema} ORDER BY 1`;
    expect(tables.map((t: { table_name: string }) => t.table_name)).toEqual(["dedupe", "job_attempts", "jobs", "rate_limits", "schema_migrations"]);
  });

  test("epoch-ms times are stored as bigint and read back as exact numbers", async () => {
    const { s, schema } = await store();
    await s.migrate();
    const job = newJob({ runAt: 8_640_000_000_000 - 1 }); // far beyond int4, still a safe integer
    await s.acceptBatch([acceptance("k1", { jobs: [job] })]);
    expect((await s.getJob(job.id))!.runAt).toBe(8_640_000_000_000 - 1);
    const [col] = await admin`SELECT data_type FROM information_schema.columns WHERE table_schema = ${schema} AND table_name = 'jobs' AND column_name = 'run_at'`;
    expect(col).toEqual({ data_type: "bigint" });
  });

  test("after a failed transaction the pool still works (the aborted connection is not reused)", async () => {
    const { s } = await store({ poolMax: 1 }); // one connection: a poisoned one would fail the next call
    await s.migrate();
    const clash = newJob();
    await s.acceptBatch([acceptance("k0", { jobs: [clash] })]);
    for (let i = 0; i < 3; i++) {
      await expect(s.acceptBatch([acceptance(`bad${i}`, { jobs: [newJob({ id: clash.id })] })])).rejects.toMatchObject({ errno: "23505" });
      expect(await s.acceptBatch([acceptance(`good${i}`)])).toEqual([{ duplicate: false }]);
    }
    expect((await s.stats(0)).byState.pending).toBe(1 + 3 * 2);
  });

  test("terminated backends: the next calls reconnect by themselves", async () => {
    const { s, schema } = await store({ poolMax: 4 });
    await s.migrate();
    await Promise.all([s.ping(), s.ping(), s.ping(), s.ping()]); // fill the pool
    expect(await terminateBackends(schema)).toBeGreaterThan(0);
    // Bun notices a dead pooled connection only when it sends on it (57P01); the store retries those.
    expect(await s.acceptBatch([acceptance("k1")])).toEqual([{ duplicate: false }]);
    expect(await s.claimDueJobs({ worker: "w", now: Date.now(), leaseMs: 1000, limit: 10 })).toHaveLength(2);
    expect((await s.stats(Date.now())).byState.running).toBe(2);
  });

  test("a server-side idle_session_timeout closing pooled connections does not surface to callers", async () => {
    const url = new URL(PG_URL);
    url.searchParams.set("idle_session_timeout", "100"); // Bun sends URL parameters as startup settings
    const { s } = await store({ url: url.toString(), poolMax: 3 });
    await s.migrate();
    await Promise.all([s.ping(), s.ping(), s.ping()]);
    await Bun.sleep(300); // every pooled connection is now closed by the server (57P05)
    expect(await s.acceptBatch([acceptance("k1")])).toEqual([{ duplicate: false }]);
    expect((await s.stats(0)).byState.pending).toBe(2);
  });

  test("a transaction cut mid-way is rolled back and retried once the backend is gone", async () => {
    const { s, schema } = await store({ poolMax: 2 });
    await s.migrate();
    // Another session holds the dedupe key uncommitted, so the store's upsert waits on it.
    const holder = await admin.reserve();
    cleanups.push(async () => holder.release());
    await holder.unsafe(`BEGIN; INSERT INTO "${schema}".dedupe VALUES ('welcome', 'k1', 500, 'held', NULL, 0, 0)`);
    const accepted = s.acceptBatch([acceptance("k1")]);
    await waitFor(async () => (await admin`SELECT 1 FROM pg_stat_activity WHERE application_name = ${schema} AND wait_event_type = 'Lock'`).length === 1);
    expect(await terminateBackends(schema)).toBeGreaterThan(0);
    await waitFor(async () => (await admin`SELECT 1 FROM pg_stat_activity WHERE application_name = ${schema} AND wait_event_type = 'Lock'`).length === 1);
    await holder`ROLLBACK`;
    expect(await accepted).toEqual([{ duplicate: false }]);
    expect((await s.stats(0)).byState.pending).toBe(2);
  });

  test("a database that goes away surfaces StoreUnavailableError on every operation, and the same store recovers when it is back", async () => {
    const proxy = new TcpProxy("127.0.0.1", 5432).start();
    cleanups.push(async () => proxy.stop());
    const url = new URL(PG_URL);
    url.port = String(proxy.port);
    url.password = "not-a-real-secret";
    const { s } = await store({ url: url.toString(), connectTimeoutMs: 2000 });
    await s.migrate();
    await s.acceptBatch([acceptance("k1")]);

    proxy.stop(); // every connection cut, new ones refused
    const ops: Array<[string, () => Promise<unknown>]> = [
      ["acceptBatch", () => s.acceptBatch([acceptance("k2")])],
      ["claimDueJobs", () => s.claimDueJobs({ worker: "w", now: 0, leaseMs: 1, limit: 1 })],
      ["completeJob", () => s.completeJob("x", "w", 0)],
      ["failJob", () => s.failJob("x", "w", "e", null, 0)],
      ["releaseJob", () => s.releaseJob("x", "w", 0)],
      ["getJob", () => s.getJob("x")],
      ["listJobs", () => s.listJobs({})],
      ["retryJobs", () => s.retryJobs({}, 0)],
      ["purgeJobs", () => s.purgeJobs({})],
      ["purgeExpiredDedupe", () => s.purgeExpiredDedupe(0)],
      ["stats", () => s.stats(0)],
      ["ping", () => s.ping()],
      ["migrate", () => s.migrate()],
    ];
    for (const [name, op] of ops) {
      const err = await op().then(() => undefined, (e: unknown) => e);
      expect({ name, error: err instanceof StoreUnavailableError }).toEqual({ name, error: true });
      expect((err as Error).message).toContain(name === "migrate" ? "migrate" : name);
      expect((err as Error).message).not.toContain("not-a-real-secret");
    }

    proxy.start(); // the "server" is back on the same port
    expect(await s.acceptBatch([acceptance("k2")])).toEqual([{ duplicate: false }]);
    expect((await s.stats(0)).byState.pending).toBe(4);
  });

  test("a connection lost during COMMIT is StoreUnavailableError with commitUnknown, and retrying the acceptance replays it", async () => {
    const proxy = new TcpProxy("127.0.0.1", 5432).start();
    cleanups.push(async () => proxy.stop());
    const url = new URL(PG_URL);
    url.port = String(proxy.port);
    const { s } = await store({ url: url.toString() });
    await s.migrate();
    const a = acceptance("k1");

    proxy.cutAfterNextCommit = true;
    const err = await s.acceptBatch([a]).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as StoreUnavailableError).commitUnknown).toBe(true);

    // It did commit. Kratos retries the 503 with the same key: the first answer, jobs enqueued once.
    expect(await s.acceptBatch([a])).toEqual([{ duplicate: true, response: a.response }]);
    expect((await s.listJobs({})).map((j) => j.id).sort()).toEqual(a.jobs.map((j) => j.id).sort());
  });

  test("nothing listening at all is StoreUnavailableError from the first call", async () => {
    const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = closed.port;
    closed.stop(true);
    const url = new URL(PG_URL);
    url.port = String(port);
    const { s } = await store({ url: url.toString(), connectTimeoutMs: 1000 });
    await expect(s.migrate()).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  describe("claimDueJobsWithin: rate limits every worker on the store shares", () => {
    const T0 = 1_700_000_000_000;
    /** Two stores (two pools, as two serve processes) on one migrated schema, with `n` due jobs of each action. */
    const twoStores = async (jobs: Record<string, number>) => {
      const { s: a, schema } = await store();
      await a.migrate();
      const b = new PostgresStore(PG_URL, { schema, applicationName: schema, poolMax: 4 });
      cleanups.push(() => b.close());
      const all = Object.entries(jobs).flatMap(([action, count]) => Array.from({ length: count }, () => newJob({ action, runAt: T0 })));
      await a.acceptBatch([acceptance("fill", { jobs: all, now: T0 })]);
      return { a, b };
    };
    const claim = (s: PostgresStore, now: number, limits: { key: string; rate: number; actions: string[] }[], limit = 100) =>
      s.claimDueJobsWithin({ worker: `w${now}`, now, leaseMs: 60_000, limit }, limits);

    test("a bucket starts with its burst (a tenth of a second's worth) and refills at its rate, whichever store claims", async () => {
      const { a, b } = await twoStores({ "welcome.http": 30 });
      const crm = [{ key: "destination:http://crm", rate: 20, actions: ["welcome.http"] }];
      expect((await claim(a, T0, crm)).jobs).toHaveLength(2);
      // Empty for the other store too, and both are told when the next token is due (1/20 s).
      expect(await claim(b, T0, crm)).toEqual({ jobs: [], nextTokenAt: { "destination:http://crm": T0 + 50 } });
      expect((await claim(b, T0 + 50, crm)).jobs).toHaveLength(1);
      expect((await claim(a, T0 + 60, crm)).jobs).toHaveLength(0);
      expect((await claim(a, T0 + 100, crm)).jobs).toHaveLength(1);
      // An idle second refills no more than the burst.
      expect((await claim(b, T0 + 1100, crm)).jobs).toHaveLength(2);
      // A clock behind the bucket's refills nothing (time never goes back).
      expect((await claim(a, T0 + 900, crm)).jobs).toHaveLength(0);
    });

    test("claims racing on one bucket from two pools never take more than its tokens together", async () => {
      const { a, b } = await twoStores({ "welcome.http": 100 });
      const crm = [{ key: "destination:http://crm", rate: 80, actions: ["welcome.http"] }];
      const claims = await Promise.all(Array.from({ length: 16 }, (_, i) => claim(i % 2 ? a : b, T0, crm, 5)));
      expect(claims.reduce((n, c) => n + c.jobs.length, 0)).toBe(8);
      expect(new Set(claims.flatMap((c) => c.jobs.map((j) => j.id))).size).toBe(8);
    });

    test("each bucket is charged for the claimed jobs of its own actions; the emptiest one caps the claim", async () => {
      const { a } = await twoStores({ "welcome.http": 5, "welcome.mail": 5 });
      const limits = [
        { key: "destination:http://crm", rate: 100, actions: ["welcome.http", "welcome.mail"] },
        { key: "action:welcome.http", rate: 30, actions: ["welcome.http"] },
      ];
      const first = await claim(a, T0, limits);
      // Capped by the action's burst of 3, taken oldest first whatever the action.
      expect(first.jobs).toHaveLength(3);
      const http = first.jobs.filter((j) => j.action === "welcome.http").length;
      const rows = await admin.unsafe(`SELECT key, tokens FROM "${(a as PostgresStore).schema}".rate_limits ORDER BY key`);
      expect(rows.map((r: { key: string; tokens: number }) => [r.key, Number(r.tokens)])).toEqual([
        ["action:welcome.http", 3 - http],
        ["destination:http://crm", 10 - 3],
      ]);
    });
  });

  test("a schema name that is not a plain identifier is refused", () => {
    expect(() => new PostgresStore(PG_URL, { schema: 'x"; DROP TABLE y; --' })).toThrow(/must match/);
  });
});

/** Polls a condition on the database (bounded: 5 s), for synchronising with another session. */
async function waitFor(cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await cond()) return;
    await Bun.sleep(10);
  }
  throw new Error("condition not reached within 5 s");
}
