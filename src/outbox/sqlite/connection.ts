// Opens the one bun:sqlite connection a SqliteStore writes through, and turns SQLite's "cannot
// write now" errors into StoreUnavailableError.
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { UsageError } from "../../errors.ts";
import { StoreUnavailableError } from "../errors.ts";

export type SqliteOptions = {
  /**
   * PRAGMA synchronous, always set explicitly (SQLite's compiled default varies by build).
   * With journal_mode=WAL:
   * - "full" (default): every commit fsyncs the WAL before it returns, so an accepted webhook
   *   survives a process crash *and* power loss / kernel panic.
   * - "normal": the WAL is fsynced only at checkpoints. A process crash loses nothing (the WAL
   *   is in the OS page cache), but power loss or an OS crash can drop the last commits since
   *   the previous checkpoint: webhooks already answered 2xx whose jobs never run. The database
   *   itself stays consistent. See docs/durability.md.
   */
  synchronous?: "full" | "normal";
  /** How long a write waits for another process's lock before failing (ms). Default 5000. */
  busyTimeoutMs?: number;
  /** Dedupe records appended before they are bulk-indexed (dedupe-log.ts). Default 16384. */
  dedupeFlushRows?: number;
};

/** `sqlite:./var/x.db` → "./var/x.db"; `sqlite::memory:` → ":memory:". */
export function sqlitePath(url: string): string {
  const path = url.replace(/^sqlite:(\/\/)?/, "");
  if (!path) throw new UsageError(`sqlite store URL '${url}' has no path`, "e.g. sqlite:./var/kratos-hooks.db or sqlite::memory:");
  return path;
}

export function openSqlite(path: string, opts: SqliteOptions = {}): Database {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { create: true, strict: true });
  // busy_timeout first: switching to WAL itself needs a lock another process may hold.
  const busyTimeoutMs = Math.max(0, Math.trunc(opts.busyTimeoutMs ?? 5000));
  db.run(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
  const mode = enableWal(db, busyTimeoutMs);
  if (mode !== "wal" && path !== ":memory:") throw new Error(`sqlite: could not enable WAL on ${path} (journal_mode=${mode})`);
  db.run(`PRAGMA synchronous = ${opts.synchronous === "normal" ? "NORMAL" : "FULL"}`);
  return db;
}

/**
 * PRAGMA journal_mode = WAL, retried on SQLITE_BUSY for up to busy_timeout. Two connections that
 * switch a new file at the same moment both hold a shared lock and want an exclusive one; SQLite
 * breaks that deadlock by failing one of them at once, without waiting (seen as a rare
 * "SQLITE_BUSY during open" when two store threads opened one new file together). Once either
 * has switched, the file stays in WAL mode and the other's retry succeeds.
 */
function enableWal(db: Database, busyTimeoutMs: number): string {
  const until = Date.now() + busyTimeoutMs;
  for (;;) {
    try {
      return (db.query("PRAGMA journal_mode = WAL").get() as { journal_mode: string }).journal_mode;
    } catch (err) {
      if ((err as { code?: unknown }).code !== "SQLITE_BUSY" || Date.now() >= until) throw err;
      Bun.sleepSync(5);
    }
  }
}

// SQLITE_BUSY/LOCKED: another process held the write lock past busy_timeout. IOERR/FULL/CANTOPEN/
// READONLY: the disk is gone, full or read-only. All are "try later", not bugs.
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY)/;

/** Runs one store operation, mapping unavailability to StoreUnavailableError. */
export function guard<T>(op: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string" && UNAVAILABLE.test(code)) {
      throw new StoreUnavailableError(`sqlite store unavailable during ${op}: ${code}`, false, { cause: err });
    }
    throw err;
  }
}
