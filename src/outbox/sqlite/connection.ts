// Opens the one SQLite connection a SqliteStore writes through (bun:sqlite, or node:sqlite on Deno:
// driver.ts), and turns SQLite's "cannot
// write now" errors into StoreUnavailableError and a store path that can never work (a directory
// that cannot be made, a file that is not SQLite) into a UsageError naming it.
import { existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UsageError } from "../../errors.ts";
import { StoreUnavailableError } from "../errors.ts";
import { sqliteDriver, type SqliteDb } from "./driver.ts";

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
  /**
   * Create the file and its directory when missing (default true: `serve`, `migrate`). The outbox
   * commands pass false, so that a wrong path or working directory fails instead of showing a
   * new, empty store.
   */
  create?: boolean;
};

/** `sqlite:./var/x.db` → "./var/x.db"; `sqlite::memory:` → ":memory:". */
export function sqlitePath(url: string): string {
  const path = url.replace(/^sqlite:(\/\/)?/, "");
  if (!path) throw new UsageError(`sqlite store URL '${url}' has no path`, "e.g. sqlite:./var/kratos-hooks.db or sqlite::memory:");
  return path;
}

export function openSqlite(path: string, opts: SqliteOptions = {}): SqliteDb {
  const create = opts.create ?? true;
  if (path !== ":memory:") prepareFile(path, create);
  const open = sqliteDriver();
  let db: SqliteDb | undefined;
  try {
    db = open(path, create);
    // busy_timeout first: switching to WAL itself needs a lock another process may hold.
    const busyTimeoutMs = Math.max(0, Math.trunc(opts.busyTimeoutMs ?? 5000));
    db.run(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    const mode = enableWal(db, busyTimeoutMs);
    if (mode !== "wal" && path !== ":memory:") throw new Error(`sqlite: could not enable WAL on ${path} (journal_mode=${mode})`);
    db.run(`PRAGMA synchronous = ${opts.synchronous === "normal" ? "NORMAL" : "FULL"}`);
    return db;
  } catch (err) {
    db?.close();
    throw unusable(path, err) ?? err;
  }
}

/**
 * The checks before SQLite sees the path. The messages name the resolved path (a relative one
 * resolves against the working directory, docs/config.md) and never touch an existing file.
 */
function prepareFile(path: string, create: boolean): void {
  const full = resolve(path);
  if (!create) {
    if (existsSync(full)) return;
    // serve.store arrives here already resolved (config/resolve.ts), so always name the directory.
    throw new UsageError(
      `sqlite store ${full} does not exist`,
      `point at the store serve uses with --config <hooks.yaml> or --store sqlite:<path>; a relative path resolves against the working directory, here ${process.cwd()} (serve and migrate create the store)`,
    );
  }
  try {
    mkdirSync(dirname(full), { recursive: true });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why = typeof code === "string" ? (MKDIR_REASONS[code] ?? code) : String(err);
    throw new UsageError(
      `sqlite store ${full}: cannot create the directory ${dirname(full)} (${why})`,
      "choose a path in a directory this user can create and write (--store, serve.store or KRATOS_HOOKS_STORE)",
    );
  }
}

const MKDIR_REASONS: Record<string, string> = {
  EEXIST: "part of the path is a file, not a directory",
  ENOTDIR: "part of the path is a file, not a directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOENT: "no such file or directory",
};

/**
 * SQLite errors at open that no retry fixes: the file is something else, or the directory or file
 * may not be written. A UsageError naming the path (not StoreUnavailableError, which means "try
 * later"); undefined for anything else.
 */
function unusable(path: string, err: unknown): UsageError | undefined {
  if (path === ":memory:") return undefined;
  const code = (err as { code?: unknown }).code;
  const full = resolve(path);
  if (code === "SQLITE_NOTADB") {
    return new UsageError(
      `sqlite store ${full} is not a SQLite database`,
      "point --store or serve.store at the kratos-hooks database, or at a path that does not exist yet; the file was left as it is",
    );
  }
  if (code === "SQLITE_CANTOPEN" || code === "SQLITE_READONLY" || code === "SQLITE_PERM") {
    return new UsageError(
      `sqlite store ${full}: cannot open it for writing (${code})`,
      `check that this user may create and write files in ${dirname(full)} and write the file itself`,
    );
  }
  return undefined;
}

/**
 * PRAGMA journal_mode = WAL, retried on SQLITE_BUSY for up to busy_timeout. Two connections that
 * switch a new file at the same moment both hold a shared lock and want an exclusive one; SQLite
 * breaks that deadlock by failing one of them at once, without waiting (seen as a rare
 * "SQLITE_BUSY during open" when two store threads opened one new file together). Once either
 * has switched, the file stays in WAL mode and the other's retry succeeds.
 */
function enableWal(db: SqliteDb, busyTimeoutMs: number): string {
  const until = Date.now() + busyTimeoutMs;
  for (;;) {
    try {
      return (db.query("PRAGMA journal_mode = WAL").get() as { journal_mode: string }).journal_mode;
    } catch (err) {
      if ((err as { code?: unknown }).code !== "SQLITE_BUSY" || Date.now() >= until) throw err;
      sleepSync(5);
    }
  }
}

/** Blocks this thread for `ms` (Atomics.wait: Bun and Deno both allow it on any thread). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
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
