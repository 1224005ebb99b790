// The SQLite dedupe layout (src/outbox/sqlite/dedupe-log.ts): records appended to dedupe_log, the
// key index built in bulk. Every answer must be the same whether a record is still only in the
// log (and the in-memory recent map) or already in dedupe_index, on one connection or several,
// across a restart, a purge, a hash collision and the migration from the v1 table.
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQLITE_MIGRATIONS } from "../../src/outbox/migrations/sqlite.ts";
import { acceptBatch } from "../../src/outbox/sqlite/accept-batch.ts";
import { openSqlite } from "../../src/outbox/sqlite/connection.ts";
import { DedupeLog, FLUSH_SLICES, keyHash } from "../../src/outbox/sqlite/dedupe-log.ts";
import { migrate } from "../../src/outbox/sqlite/migrate.ts";
import { SqliteStore } from "../../src/outbox/sqlite/store.ts";
import { acceptance } from "./store.suite.ts";

const T0 = 1_750_000_000_000;
const MIN = 60_000;
const dirs: string[] = [];
const stores: SqliteStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dbPath(): string {
  const d = mkdtempSync(join(tmpdir(), "kh-dedupe-log-"));
  dirs.push(d);
  return join(d, "outbox.db");
}
async function open(path: string, opts: { dedupeFlushRows?: number } = {}): Promise<SqliteStore> {
  const s = new SqliteStore(path, opts);
  stores.push(s);
  await s.migrate();
  return s;
}
const count = (path: string, sql: string) => {
  const db = new Database(path);
  try {
    return (db.query(sql).get() as { n: number }).n;
  } finally {
    db.close();
  }
};
const stored = (body: string) => ({ status: 200, body, contentType: "application/json" });

describe("sqlite dedupe log", () => {
  test("a repeat is a duplicate before and after its record is moved into the key index", async () => {
    const path = dbPath();
    const s = await open(path);
    await s.acceptBatch([acceptance("k1", { response: stored("first") })]);
    expect(await s.acceptBatch([acceptance("k1")])).toEqual([{ duplicate: true, response: stored("first") }]);
    expect(s.flushDedupeIndex()).toBe(1);
    expect(count(path, "SELECT count(*) AS n FROM dedupe_index")).toBe(1);
    expect(count(path, "SELECT through AS n FROM dedupe_indexed")).toBe(1);
    expect(await s.acceptBatch([acceptance("k1"), acceptance("k2")])).toEqual([{ duplicate: true, response: stored("first") }, { duplicate: false }]);
    expect(s.flushDedupeIndex()).toBe(1); // only k2 was new
  });

  test("an expired, indexed record replaced by a new one: the newest record answers, in the log and in the index", async () => {
    const path = dbPath();
    const s = await open(path);
    await s.acceptBatch([acceptance("k1", { response: stored("old") })]);
    s.flushDedupeIndex();
    const later = T0 + 10 * MIN;
    expect(await s.acceptBatch([acceptance("k1", { now: later, expiresAt: later + 10 * MIN, response: stored("new") })])).toEqual([{ duplicate: false }]);
    expect(await s.acceptBatch([acceptance("k1", { now: later + 1 })])).toEqual([{ duplicate: true, response: stored("new") }]);
    s.flushDedupeIndex();
    expect(count(path, "SELECT count(*) AS n FROM dedupe_index")).toBe(2); // both records, same hash
    const reopened = await open(path);
    expect(await reopened.acceptBatch([acceptance("k1", { now: later + 2 })])).toEqual([{ duplicate: true, response: stored("new") }]);
  });

  test("a restart finds the records that were never indexed (the recent map is rebuilt from the log)", async () => {
    const path = dbPath();
    const s = await open(path);
    await s.acceptBatch([acceptance("k1", { response: stored("one") })]);
    s.flushDedupeIndex();
    await s.acceptBatch([acceptance("k2", { response: stored("two") })]);
    await s.close();
    const again = await open(path);
    expect(await again.acceptBatch([acceptance("k1"), acceptance("k2"), acceptance("k3")])).toEqual([
      { duplicate: true, response: stored("one") },
      { duplicate: true, response: stored("two") },
      { duplicate: false },
    ]);
  });

  test("two connections see each other's records, whichever of them flushed the index", async () => {
    const path = dbPath();
    const [a, b] = [await open(path), await open(path)];
    await a.acceptBatch([acceptance("k1", { response: stored("a1") })]);
    expect(await b.acceptBatch([acceptance("k1")])).toEqual([{ duplicate: true, response: stored("a1") }]);
    await b.acceptBatch([acceptance("k2", { response: stored("b2") })]);
    expect(a.flushDedupeIndex()).toBe(2); // a indexes b's record too
    await a.acceptBatch([acceptance("k3", { response: stored("a3") })]);
    // b still holds k1 and k2 in its recent map; both are now in the index, and k3 only in the log.
    expect(await b.acceptBatch([acceptance("k1"), acceptance("k2"), acceptance("k3")])).toEqual([
      { duplicate: true, response: stored("a1") },
      { duplicate: true, response: stored("b2") },
      { duplicate: true, response: stored("a3") },
    ]);
    expect(await a.acceptBatch([acceptance("k2")])).toEqual([{ duplicate: true, response: stored("b2") }]);
  });

  test("a failed batch leaves nothing behind in memory: its keys are new afterwards", async () => {
    const path = dbPath();
    const s = await open(path);
    const first = acceptance("k0");
    await s.acceptBatch([first]);
    const clash = acceptance("k2", { jobs: [{ ...first.jobs[0]! }] }); // job id primary key clash
    await expect(s.acceptBatch([acceptance("k1"), clash])).rejects.toThrow();
    expect(await s.acceptBatch([acceptance("k1"), acceptance("k0")])).toEqual([{ duplicate: false }, { duplicate: true, response: first.response }]);
  });

  test("purge deletes expired rows and their index entries, indexed or not; their keys are new again, live ones stay", async () => {
    const path = dbPath();
    const s = await open(path);
    await s.acceptBatch([acceptance("short1", { expiresAt: T0 + MIN }), acceptance("long", { expiresAt: T0 + 60 * MIN, response: stored("long") })]);
    s.flushDedupeIndex();
    await s.acceptBatch([acceptance("short2", { expiresAt: T0 + MIN })]); // only in the log
    expect(await s.purgeExpiredDedupe(T0 + 2 * MIN)).toBe(2);
    expect(count(path, "SELECT count(*) AS n FROM dedupe_log")).toBe(1);
    expect(count(path, "SELECT count(*) AS n FROM dedupe_index")).toBe(1);
    const now = T0 + 3 * MIN;
    expect(await s.acceptBatch([acceptance("short1", { now }), acceptance("short2", { now }), acceptance("long", { now })])).toEqual([
      { duplicate: false },
      { duplicate: false },
      { duplicate: true, response: stored("long") },
    ]);
  });

  test("an index entry whose hash matches but whose row holds another key is not a match (hash collision)", async () => {
    const path = dbPath();
    const s = await open(path);
    await s.acceptBatch([acceptance("k1", { response: stored("k1") })]);
    s.flushDedupeIndex();
    const raw = new Database(path);
    raw.query("INSERT INTO dedupe_index (key_hash, seq) VALUES (?, (SELECT seq FROM dedupe_log WHERE key = 'k1'))").run(keyHash("welcome", "k2"));
    raw.close();
    expect(await s.acceptBatch([acceptance("k2"), acceptance("k1")])).toEqual([{ duplicate: false }, { duplicate: true, response: stored("k1") }]);
  });

  test("the index is flushed by itself once dedupeFlushRows records are waiting", async () => {
    const path = dbPath();
    const s = await open(path, { dedupeFlushRows: 10 });
    await s.acceptBatch(Array.from({ length: 25 }, (_, i) => acceptance(`k${i}`)));
    await Bun.sleep(20);
    expect(count(path, "SELECT count(*) AS n FROM dedupe_index")).toBe(10);
    await s.acceptBatch([acceptance("k25")]);
    await Bun.sleep(20);
    expect(count(path, "SELECT count(*) AS n FROM dedupe_index")).toBe(20);
    expect((await s.acceptBatch([acceptance("k3"), acceptance("k24")])).map((r) => r.duplicate)).toEqual([true, true]);
  });

  test("a flush is done in slices of the hash space; one cut short before its mark moved is simply done again", async () => {
    const db = openSqlite(dbPath());
    migrate(db, T0);
    const log = new DedupeLog();
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
    acceptBatch(db, log, keys.map((k) => acceptance(k)));
    const plan = log.planFlush(db)!;
    expect(plan).toEqual({ through: 0, upTo: 200 });
    let moved = 0;
    for (let slice = 0; slice < FLUSH_SLICES / 2; slice++) moved += log.flushSlice(db, plan, slice);
    expect(moved).toBeGreaterThan(0);
    expect(moved).toBeLessThan(200); // keys hash all over the space: half the slices hold part of them
    // Cut short here (a crash, or close): the mark did not move, so every key is still found.
    expect(acceptBatch(db, log, keys.map((k) => acceptance(k))).every((r) => r.duplicate)).toBe(true);
    const again = new DedupeLog();
    expect(again.flushIndex(db)).toBe(200 - moved);
    expect((db.query("SELECT count(*) AS n FROM dedupe_index").get() as { n: number }).n).toBe(200);
    expect((db.query("SELECT through AS n FROM dedupe_indexed").get() as { n: number }).n).toBe(200);
    expect(acceptBatch(db, new DedupeLog(), keys.map((k) => acceptance(k))).every((r) => r.duplicate)).toBe(true);
    db.close();
  });

  test("keyHash is a stable 53-bit integer (it is stored, so it must never change)", () => {
    expect(keyHash("welcome", "k1")).toBe(keyHash("welcome", "k1"));
    expect(keyHash("welcome", "k1")).not.toBe(keyHash("audit", "k1"));
    expect(keyHash("a", "bc")).not.toBe(keyHash("ab", "c"));
    for (const k of ["", "k1", "ünïcødé", "x".repeat(10_000)]) expect(Number.isSafeInteger(keyHash("h", k)) && keyHash("h", k) >= 0).toBe(true);
    expect(keyHash("welcome", "welcome:trigger:0b2e4c1a-1111-4222-8333-444455556666")).toBe(STABLE_HASH);
  });

  test("migration 2 carries the v1 dedupe records over: a repeat of a v1 record is still a duplicate", async () => {
    const path = dbPath();
    const raw = new Database(path);
    raw.run("PRAGMA journal_mode = WAL");
    raw.run("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    raw.run(SQLITE_MIGRATIONS[0]!.sql);
    raw.run("INSERT INTO schema_migrations VALUES (1, 'v1', 0)");
    raw.query("INSERT INTO dedupe (hook, key, status, body, content_type, expires_at, created_at) VALUES ('welcome', 'old', 201, 'kept', 'text/plain', ?, ?)").run(T0 + 10 * MIN, T0);
    raw.close();
    const s = await open(path);
    expect(await s.acceptBatch([acceptance("old"), acceptance("new")])).toEqual([{ duplicate: true, response: { status: 201, body: "kept", contentType: "text/plain" } }, { duplicate: false }]);
    expect(count(path, "SELECT count(*) AS n FROM sqlite_master WHERE name = 'dedupe'")).toBe(0);
    expect(count(path, "SELECT max(version) AS n FROM schema_migrations")).toBe(SQLITE_MIGRATIONS.length);
  });
});

const STABLE_HASH = 1446777255215453; // computed once; a change here would orphan every stored index entry
