// The SQLite driver seam: the part of bun:sqlite's Database that the store's SQL modules use, and
// the runtime's driver behind it. On Bun that is bun:sqlite's own Database, unwrapped, so Bun's
// store pays no indirection; elsewhere (Deno) it is node:sqlite's DatabaseSync behind the small
// adapter in node-sqlite.ts. Each runtime loads only its own driver: the module is fetched by
// name at the first open (synchronously: require on Bun, process.getBuiltinModule elsewhere),
// never imported statically (Deno cannot resolve `bun:sqlite`, and
// Bun's bundler would hoist a static `node:sqlite` import into the compiled binary's startup).
import { RUNTIME } from "../../runtime.ts";
import { NodeSqliteDb } from "./node-sqlite.ts";

/** Parameters as bun:sqlite takes them: positional values, or one object of `$name` values (without the `$`). */
type Params = unknown[];

export type RunResult = { changes: number; lastInsertRowid: number | bigint };

export interface SqliteStatement {
  run(...params: Params): RunResult;
  /** The first row, or null. */
  get(...params: Params): unknown;
  all(...params: Params): unknown[];
  /** Rows as arrays of column values, in SELECT order. */
  values(...params: Params): unknown[][];
  /**
   * Frees a statement from prepare(). Each must be finalized before close(): bun:sqlite closes a
   * database with statements left open only once they are garbage-collected, and until then its
   * files stay open (a store closed on a full disk could not be unmounted, test/security/).
   */
  finalize(): void;
}

export interface SqliteDb {
  /** A prepared statement, cached by its text. */
  query(sql: string): SqliteStatement;
  /** A prepared statement of its own, not cached: for the caller to hold (accept-batch.ts). */
  prepare(sql: string): SqliteStatement;
  /** Runs one or more statements without parameters. */
  run(sql: string): unknown;
  /** A function running `fn` in a transaction, committed when it returns, rolled back when it throws. */
  transaction<T>(fn: () => T): { immediate(): T; deferred(): T };
  close(): void;
}

/**
 * Opens a database file (or ":memory:") read-write. `create: false` only opens an existing file
 * (connection.ts checks that first; node:sqlite has no such flag).
 */
export type OpenSqliteDb = (path: string, create: boolean) => SqliteDb;

/** Which driver this runtime uses. */
export const SQLITE_DRIVER: "bun:sqlite" | "node:sqlite" = RUNTIME === "bun" ? "bun:sqlite" : "node:sqlite";

let opener: OpenSqliteDb | undefined;

/** The runtime's driver, loaded at the first call. Synchronous, because opening a store is. */
export function sqliteDriver(): OpenSqliteDb {
  return (opener ??= SQLITE_DRIVER === "bun:sqlite" ? bunDriver() : nodeDriver());
}

function bunDriver(): OpenSqliteDb {
  // require: Bun's synchronous import in ES modules and in the compiled binary (CommonJS-shaped for
  // --bytecode, where import.meta is not allowed).
  const { Database } = require("bun:sqlite") as typeof import("bun:sqlite");
  return (path, create) => new Database(path, { create, readwrite: true, strict: true }) satisfies SqliteDb;
}

function nodeDriver(): OpenSqliteDb {
  // getBuiltinModule: Node 22.3+, Deno 2.1+; older ones get the message below.
  const nodeSqlite = process.getBuiltinModule?.("node:sqlite") as typeof import("node:sqlite") | undefined;
  if (!nodeSqlite) throw new Error("this runtime has neither bun:sqlite nor node:sqlite: run kratos-hooks with Bun or Deno 2");
  return (path) => new NodeSqliteDb(new nodeSqlite.DatabaseSync(path));
}
