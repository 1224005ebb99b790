// The shared Store suite on a real SQLite file in a temp dir, plus what only SQLite has:
// pragmas, URL parsing, and a lock held by another process surfacing as StoreUnavailableError.
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../../src/errors.ts";
import { StoreUnavailableError } from "../../src/outbox/errors.ts";
import { SQLITE_MIGRATIONS } from "../../src/outbox/migrations/sqlite.ts";
import { jobIdsIn } from "../../src/outbox/sqlite/job-filter.ts";
import { listJobsSql } from "../../src/outbox/sqlite/read-jobs.ts";
import type { JobFilter } from "../../src/outbox/store.ts";
import { retryableStates } from "../../src/outbox/store-rules.ts";
import { openStore } from "../../src/outbox/open-store.ts";
import { sqlitePath } from "../../src/outbox/sqlite/connection.ts";
import { SqliteStore } from "../../src/outbox/sqlite/store.ts";
import { SqliteThreadStore } from "../../src/outbox/sqlite/thread-store.ts";
import { acceptance, storeSuite } from "./store.suite.ts";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "kh-store-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

storeSuite("sqlite", async () => {
  const path = join(tempDir(), "outbox.db");
  return { open: async () => new SqliteStore(path), cleanup: async () => {} };
});

// The same suite with the dedupe key index flushed after every batch (dedupe-log.ts), so lookups
// go through dedupe_index and not only through the in-memory recent map.
storeSuite("sqlite (dedupe index flushed after every batch)", async () => {
  const path = join(tempDir(), "outbox.db");
  return { open: async () => new SqliteStore(path, { dedupeFlushRows: 1 }), cleanup: async () => {} };
});

// What `serve` runs: the same SqliteStore on its own thread (thread-store.ts), every call a message.
storeSuite("sqlite on a store thread", async () => {
  const path = join(tempDir(), "outbox.db");
  return { open: async () => new SqliteThreadStore(path), cleanup: async () => {} };
});

describe("sqlite specifics", () => {
  const pragma = (path: string, name: string) => new Database(path).query(`PRAGMA ${name}`).get() as Record<string, unknown>;

  test("openStore parses sqlite:<path>, creates the parent directory, uses WAL and migrates", async () => {
    const path = join(tempDir(), "nested", "dir", "x.db");
    const store = await openStore(`sqlite:${path}`);
    try {
      expect(store.kind).toBe("sqlite");
      expect(await store.acceptBatch([acceptance("k1")])).toEqual([{ duplicate: false }]);
      expect(pragma(path, "journal_mode")).toEqual({ journal_mode: "wal" });
    } finally {
      await store.close();
    }
  });

  test("store URLs: sqlite:<relative>, sqlite:<absolute>, sqlite:///<absolute>, sqlite::memory:", () => {
    expect(sqlitePath("sqlite:./var/x.db")).toBe("./var/x.db");
    expect(sqlitePath("sqlite:/srv/x.db")).toBe("/srv/x.db");
    expect(sqlitePath("sqlite:///srv/x.db")).toBe("/srv/x.db");
    expect(sqlitePath("sqlite::memory:")).toBe(":memory:");
    expect(() => sqlitePath("sqlite:")).toThrow(UsageError);
  });

  test("sqlite::memory: works for throwaway use", async () => {
    const store = await openStore("sqlite::memory:");
    expect(await store.acceptBatch([acceptance("k1")])).toEqual([{ duplicate: false }]);
    await store.close();
  });

  test("PRAGMA synchronous follows the option: FULL by default, NORMAL when asked", async () => {
    // synchronous is per connection, so it is read through the store's own connection.
    const full = new SqliteStore(join(tempDir(), "a.db"));
    const normal = new SqliteStore(join(tempDir(), "b.db"), { synchronous: "normal" });
    expect(full.synchronous()).toBe("full");
    expect(normal.synchronous()).toBe("normal");
    await full.close();
    await normal.close();
  });

  test("acknowledgements commit at the configured level, the worker's bookkeeping at NORMAL, alternating on one connection", async () => {
    const store = new SqliteStore(join(tempDir(), "levels.db"));
    await store.migrate();
    expect(await store.acceptBatch([acceptance("k1")])).toEqual([{ duplicate: false }]);
    expect(store.bookkeepingSynchronous()).toBe("normal");
    const claimed = await store.claimDueJobs({ worker: "w", now: Date.now() + 1000, leaseMs: 30_000, limit: 10 });
    expect(claimed.length).toBeGreaterThan(0);
    // Back to FULL for the next acknowledgement, and it still commits.
    expect(store.synchronous()).toBe("full");
    expect(await store.acceptBatch([acceptance("k2")])).toEqual([{ duplicate: false }]);
    expect(await store.completeJobs(claimed.map((j) => ({ id: j.id, worker: "w" })), Date.now())).toHaveLength(claimed.length);
    expect(store.synchronous()).toBe("full");
    await store.close();
  });

  const stores = [
    ["in-process", (path: string) => new SqliteStore(path, { busyTimeoutMs: 50 })],
    ["on a store thread (the error crosses the thread)", (path: string) => new SqliteThreadStore(path, { busyTimeoutMs: 50 })],
  ] as const;
  test.each(stores)("a write lock held by another process past busy_timeout is StoreUnavailableError, and the store recovers: %s", async (_, open) => {
    const path = join(tempDir(), "busy.db");
    const store = open(path);
    await store.migrate();
    const other = new Database(path);
    other.run("BEGIN IMMEDIATE");
    try {
      const err = await store.acceptBatch([acceptance("k1")]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as Error).message).toContain("SQLITE_BUSY");
    } finally {
      other.run("ROLLBACK");
      other.close();
    }
    expect(await store.acceptBatch([acceptance("k1")])).toEqual([{ duplicate: false }]);
    await store.close();
  });

  test("migration 3 drops the (state, created_at) index; counts by state stay right through the partial indexes", async () => {
    const path = join(tempDir(), "v2.db");
    const raw = new Database(path);
    raw.run("PRAGMA journal_mode = WAL");
    raw.run("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    for (const m of SQLITE_MIGRATIONS.slice(0, 2)) {
      raw.run(m.sql);
      m.after?.(raw);
      raw.query("INSERT INTO schema_migrations VALUES (?, ?, 0)").run(m.version, m.name);
    }
    const insert = raw.query(`INSERT INTO jobs (id, hook, action, payload, state, attempts, max_attempts, run_at, created_at, updated_at, locked_by, locked_until)
      VALUES (?, 'welcome', 'welcome.http', '{}', ?, 0, 5, ?, ?, ?, ?, ?)`);
    const states = { pending: 3, running: 2, done: 4, dead: 1 } as const;
    let n = 0;
    for (const [state, count] of Object.entries(states))
      for (let i = 0; i < count; i++, n++) insert.run(`job-${n}`, state, 1000 + n, 1000 + n, 1000 + n, state === "running" ? "w" : null, state === "running" ? 9e15 : null);
    raw.close();

    const store = new SqliteStore(path);
    await store.migrate();
    expect((await store.stats(5000)).byState).toEqual(states);
    const indexes = new Database(path).query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' AND name NOT LIKE 'sqlite_%' ORDER BY name").values().flat();
    expect(indexes).toEqual(["jobs_dead", "jobs_done", "jobs_due", "jobs_lease"]);
    expect((await store.listJobs({ state: "dead" })).map((j) => j.id)).toEqual(["job-9"]);
    // A new job and a claim move the counts as before.
    await store.acceptBatch([acceptance("k1", { jobs: [{ id: "new", hook: "welcome", action: "welcome.http", payload: {}, maxAttempts: 5, runAt: 0 }] })]);
    await store.claimDueJobs({ worker: "w2", now: 5000, leaseMs: 1000, limit: 2 });
    expect((await store.stats(5000)).byState).toEqual({ pending: 2, running: 4, done: 4, dead: 1 });
    await store.close();
  });

  test("migration 4 on a v3 store: done jobs lose their stale error, every job gets an empty history and no ids", async () => {
    const path = join(tempDir(), "v3.db");
    const raw = new Database(path);
    raw.run("PRAGMA journal_mode = WAL");
    raw.run("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    for (const m of SQLITE_MIGRATIONS.slice(0, 3)) {
      raw.run(m.sql);
      m.after?.(raw);
      raw.query("INSERT INTO schema_migrations VALUES (?, ?, 0)").run(m.version, m.name);
    }
    const insert = raw.query(`INSERT INTO jobs (id, hook, action, payload, state, attempts, max_attempts, run_at, created_at, updated_at, last_error)
      VALUES (?, 'welcome', 'welcome.http', '{}', ?, 2, 5, 1, 1, 1, 'answered 503')`);
    insert.run("done-job", "done");
    insert.run("dead-job", "dead");
    raw.close();
    const store = new SqliteStore(path);
    await store.migrate();
    expect(await store.getJob("done-job")).toMatchObject({ state: "done", lastError: null, attemptsRecorded: 0, triggerId: null, identityId: null, traceparent: null });
    expect(await store.getJob("dead-job")).toMatchObject({ state: "dead", lastError: "answered 503" });
    await store.close();
  });

  test("listing and retrying by state read a partial index, not every job (EXPLAIN QUERY PLAN)", async () => {
    const path = join(tempDir(), "plans.db");
    const store = new SqliteStore(path);
    await store.migrate();
    await store.close();
    const db = new Database(path);
    const plan = (sql: string, params: Record<string, string | number>) =>
      (db.query(`EXPLAIN QUERY PLAN ${sql}`).all(params) as Array<{ detail: string }>).map((r) => r.detail).join(" | ");
    const list = (filter: JobFilter) => {
      const q = listJobsSql({ ...filter, limit: 50 });
      return plan(q.sql, q.params);
    };
    expect(list({ state: "dead" })).toContain("USING INDEX jobs_dead");
    expect(list({ state: "pending" })).toContain("USING INDEX jobs_due");
    expect(list({ state: "running" })).toContain("USING INDEX jobs_lease");
    // No index on trigger or identity ids (one on a random key taxes every acceptance): a search
    // walks the jobs newest first, on the reader's own connection.
    expect(list({ triggerId: "t" })).not.toContain("TEMP B-TREE");
    expect(list({ identityId: "i" })).not.toContain("TEMP B-TREE");
    // Unfiltered (and done, most of the table): newest first straight off the primary key, no sort.
    expect(list({})).not.toContain("TEMP B-TREE");
    expect(list({ beforeId: "x" })).toMatch(/sqlite_autoindex_jobs_1 \(id<\?\)/);
    // `outbox retry --all-dead`: the states retryJobs picks without ids.
    const retry = jobIdsIn({}, retryableStates({}));
    expect(plan(`UPDATE jobs SET state = 'pending' WHERE ${retry.sql}`, retry.params)).toContain("USING INDEX jobs_dead");
    db.close();
  });

  test("a database migrated by a newer kratos-hooks is refused", async () => {
    const path = join(tempDir(), "newer.db");
    const store = new SqliteStore(path);
    await store.migrate();
    const raw = new Database(path);
    raw.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)");
    raw.close();
    await expect(store.migrate()).rejects.toThrow(/newer than this kratos-hooks/);
    await store.close();
  });
});

describe("sqlite on a store thread", () => {
  test("two store threads opening one new file at the same moment both open (the WAL switch is retried, not failed)", async () => {
    for (let round = 0; round < 25; round++) {
      const path = join(tempDir(), `race-${round}.db`);
      const stores = [new SqliteThreadStore(path), new SqliteThreadStore(path)];
      try {
        const opened = await Promise.all(stores.map((s) => s.migrate().then(() => "ok", (e: Error) => e.message)));
        expect(opened).toEqual(["ok", "ok"]);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    }
  });

  test("an error that is not unavailability crosses the thread with its name and message, as a plain error", async () => {
    const store = new SqliteThreadStore(join(tempDir(), "errors.db"));
    await store.migrate();
    const first = acceptance("k2");
    await store.acceptBatch([first]);
    const clash = await store.acceptBatch([acceptance("k3", { jobs: [{ ...first.jobs[0]! }] })]).catch((e: unknown) => e);
    expect(clash).not.toBeInstanceOf(StoreUnavailableError);
    expect(clash).toMatchObject({ name: "SQLiteError", message: expect.stringContaining("UNIQUE constraint failed: jobs.id") });
    await store.close();
  });

  test("a database the thread cannot open fails migrate() with the same error as in-process", async () => {
    const dir = tempDir();
    const file = join(dir, "not-a-dir");
    await Bun.write(file, "x");
    const path = join(file, "outbox.db"); // its parent is a file
    let inProcess: unknown;
    try {
      new SqliteStore(path);
    } catch (e) {
      inProcess = e;
    }
    expect(inProcess).toBeInstanceOf(Error);
    const store = new SqliteThreadStore(path);
    const err = await store.migrate().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe((inProcess as Error).message);
    expect(await store.ping().catch((e: unknown) => (e as Error).message)).toBe((inProcess as Error).message);
    await store.close();
  });

  test("a job whose stored payload is not JSON (edited by hand) is claimed with a payload deliver() refuses, and does not hold up its neighbours, in-process and on the thread", async () => {
    for (const open of [(p: string) => new SqliteStore(p), (p: string) => new SqliteThreadStore(p)]) {
      const path = join(tempDir(), "unreadable.db");
      const store = open(path);
      await store.migrate();
      const acc = acceptance("k-unreadable");
      await store.acceptBatch([acc]);
      const [bad, good] = acc.jobs.map((j) => j.id);
      const raw = new Database(path);
      raw.query("UPDATE jobs SET payload = '{not json' WHERE id = ?").run(bad!);
      raw.close();
      const claimed = await store.claimDueJobs({ worker: "w", now: acc.now + 1, leaseMs: 60_000, limit: 10 });
      expect(claimed.map((j) => j.id).sort()).toEqual([bad!, good!].sort());
      const badJob = claimed.find((j) => j.id === bad)!;
      expect(badJob).toMatchObject({ state: "running", lockedBy: "w", attempts: 1 });
      const { deliver, DeliveryError } = await import("../../src/actions/index.ts");
      const action = { kind: "http", id: badJob.action, hook: "welcome", url: "http://127.0.0.1:9/x", method: "POST", headers: {}, retry: { attempts: 3, baseMs: 1, capMs: 1 }, retry4xx: false, concurrency: 1, timeoutMs: 100 } as const;
      const err = await deliver(action as never, badJob.payload, { jobId: bad!, hook: "welcome", action: badJob.action, attempt: 1, env: {}, signal: new AbortController().signal }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeliveryError);
      expect(err).toMatchObject({ retryable: false });
      expect(claimed.find((j) => j.id === good)!.payload).toEqual(acc.jobs[1]!.payload);
      await store.close();
    }
  });

  test("claimed payloads cross the thread after the reply's JSON (framed.ts) intact: line breaks, non-Latin-1 text; a hand-edited column (a raw line break, a BLOB) does not shift its neighbours", async () => {
    const path = join(tempDir(), "framed.db");
    const store = new SqliteThreadStore(path);
    await store.migrate();
    const payloads = [{ s: "a\nb\r\n\u2028" }, { s: "ünï 😀 \u0000 \"q\" \\" }, { deep: { list: [1, "x\ny", null] } }, {}];
    const acc = acceptance("k-framed", { jobs: payloads.map((payload, i) => ({ ...acceptance(`k${i}`).jobs[0]!, payload })) });
    await store.acceptBatch([acc]);
    const ids = acc.jobs.map((j) => j.id);
    const raw = new Database(path);
    raw.query("UPDATE jobs SET payload = ? WHERE id = ?").run('{"s":"x"}\n{', ids[3]!); // not JSON, with a raw line break
    raw.query("UPDATE jobs SET payload = ? WHERE id = ?").run(new TextEncoder().encode('{"blob":"é"}'), ids[1]!); // a BLOB, before a good one
    raw.close();
    const claimed = await store.claimDueJobs({ worker: "w", now: acc.now + 1, leaseMs: 60_000, limit: 10 });
    const byId = new Map(claimed.map((j) => [j.id, j.payload]));
    expect([byId.get(ids[0]!), byId.get(ids[2]!)]).toEqual([payloads[0], payloads[2]]);
    // Bytes read as JSON.parse reads them (their text, "123,34,..."): not JSON either.
    expect(byId.get(ids[1]!)).toEqual({ unreadable: "the stored payload is not JSON" });
    expect(byId.get(ids[3]!)).toEqual({ unreadable: "the stored payload is not JSON" });
    await store.close();
  });

  test("after close, every call fails as unavailable instead of hanging", async () => {
    const store = new SqliteThreadStore(join(tempDir(), "closed.db"));
    await store.migrate();
    await store.close();
    await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
    await store.close(); // twice is fine
  });
});

describe("close() lets go of the store's files", () => {
  // The files a process holds open under `dir` (Linux: /proc/self/fd).
  const openUnder = (dir: string) =>
    readdirSync("/proc/self/fd")
      .map((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          return "";
        }
      })
      .filter((target) => target.startsWith(dir));

  for (const [name, make] of [
    ["in-process", (path: string) => new SqliteStore(path)],
    ["on its store thread", (path: string) => new SqliteThreadStore(path)],
  ] as const) {
    test(`${name}: after acceptances (held multi-row statements), no file of it stays open, so its disk can be unmounted`, async () => {
      const dir = tempDir();
      const store = make(join(dir, "outbox.db"));
      await store.migrate();
      await store.acceptBatch(Array.from({ length: 40 }, (_, i) => acceptance(`close-${i}`)));
      expect(openUnder(dir).length).toBeGreaterThan(0);
      await store.close();
      // The thread's files close when the thread ends, which terminate() does not wait for.
      for (let i = 0; i < 50 && openUnder(dir).length > 0; i++) await Bun.sleep(20);
      expect(openUnder(dir)).toEqual([]);
    });
  }
});
