// The shared Store suite on node:sqlite under Deno: the store `deno run` uses (driver.ts), in
// process and on its store thread, plus what the node:sqlite adapter must get right on its own
// (WAL and synchronous, transactions, SQLite's error codes). Run by deno-sqlite.test.ts as
//   deno test -A --import-map test/deno/import-map.json test/store/sqlite.deno.ts
// ("bun:test" is test/deno/bun-test.ts there).
import { DatabaseSync } from "node:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../../src/errors.ts";
import { StoreUnavailableError } from "../../src/outbox/errors.ts";
import { openStore } from "../../src/outbox/open-store.ts";
import { SQLITE_MIGRATIONS } from "../../src/outbox/migrations/sqlite.ts";
import { SQLITE_DRIVER } from "../../src/outbox/sqlite/driver.ts";
import { SqliteStore } from "../../src/outbox/sqlite/store.ts";
import { SqliteThreadStore } from "../../src/outbox/sqlite/thread-store.ts";
import { acceptance, storeSuite } from "./store.suite.ts";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "kh-deno-store-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

storeSuite("node:sqlite", async () => {
  const path = join(tempDir(), "outbox.db");
  return { open: async () => new SqliteStore(path), cleanup: async () => {} };
});
storeSuite("node:sqlite (dedupe index flushed after every batch)", async () => {
  const path = join(tempDir(), "outbox.db");
  return { open: async () => new SqliteStore(path, { dedupeFlushRows: 1 }), cleanup: async () => {} };
});
storeSuite("node:sqlite on a store thread", async () => {
  const path = join(tempDir(), "outbox.db");
  return { open: async () => new SqliteThreadStore(path), cleanup: async () => {} };
});

describe("node:sqlite specifics", () => {
  const pragma = (path: string, name: string) => {
    const db = new DatabaseSync(path);
    try {
      return db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown>;
    } finally {
      db.close();
    }
  };

  test("Deno runs the store on node:sqlite", () => {
    expect(SQLITE_DRIVER).toBe("node:sqlite");
  });

  test("the store file is in WAL mode, acknowledgements at FULL by default, NORMAL when asked, every migration applied", async () => {
    const path = join(tempDir(), "sub", "outbox.db");
    const store = await openStore(`sqlite:${path}`);
    expect(pragma(path, "journal_mode").journal_mode).toBe("wal");
    expect((store as SqliteStore).synchronous()).toBe("full");
    expect((store as SqliteStore).bookkeepingSynchronous()).toBe("normal");
    await store.close();
    const normal = new SqliteStore(path, { synchronous: "normal" });
    expect(normal.synchronous()).toBe("normal");
    await normal.close();
    const db = new DatabaseSync(path);
    expect(db.prepare("SELECT version FROM schema_migrations ORDER BY version").all().map((r) => (r as { version: number }).version)).toEqual(SQLITE_MIGRATIONS.map((m) => m.version));
    db.close();
  });

  test("a write lock held by another connection past busy_timeout is StoreUnavailableError, and nothing of the batch is stored", async () => {
    const path = join(tempDir(), "outbox.db");
    const store = new SqliteStore(path, { busyTimeoutMs: 50 });
    await store.migrate();
    const other = new DatabaseSync(path);
    other.exec("BEGIN IMMEDIATE");
    try {
      await expect(store.acceptBatch([acceptance("k1")])).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    expect((await store.stats(0)).byState.pending).toBe(0);
    expect(await store.acceptBatch([acceptance("k1")])).toEqual([{ duplicate: false }]);
    await store.close();
  });

  test("a file that is not SQLite is a UsageError naming it, and the file is left as it is", async () => {
    const path = join(tempDir(), "not-a-db.db");
    writeFileSync(path, "this is not a database, but long enough to have a header".repeat(4));
    await expect(openStore(`sqlite:${path}`)).rejects.toBeInstanceOf(UsageError);
    await expect(openStore(`sqlite:${path}`, { thread: true })).rejects.toMatchObject({ message: `sqlite store ${path} is not a SQLite database` });
  });

  test("a postgres store URL is refused with what to do, not a crash", async () => {
    await expect(openStore("postgres://someone@127.0.0.1:5432/test")).rejects.toMatchObject({ message: "the postgres store needs Bun (its client is Bun.SQL)" });
  });
});
