// node:sqlite's DatabaseSync (Deno 2, Node 22+) dressed as the part of bun:sqlite the store uses
// (driver.ts). What differs, checked on Deno 2.9.6 (SQLite 3.53):
// - no query cache: statements are prepared once per text and kept, as bun:sqlite's query() does;
// - no transaction helper: BEGIN IMMEDIATE/DEFERRED ... COMMIT here, a SAVEPOINT when nested;
// - no values(): rows come as objects, turned into arrays in column order;
// - get() of no row is undefined, not null;
// - a named parameter the statement does not use is an error unless allowed (bun:sqlite ignores it);
// - errors carry the SQLite result code as a number (errcode) under code ERR_SQLITE_ERROR, where
//   bun:sqlite names it (code SQLITE_BUSY...); connection.ts decides on those names, so they are
//   set here. Only the primary code is named (errcode & 0xff): connection.ts matches prefixes.
//   exec() errors have no errcode at all ("database is locked" only), so transaction control
//   runs through prepared statements, and exec()'s errors are named from SQLite's message.
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { RunResult, SqliteDb, SqliteStatement } from "./driver.ts";

const PRIMARY_CODES: Record<number, string> = {
  1: "SQLITE_ERROR",
  2: "SQLITE_INTERNAL",
  3: "SQLITE_PERM",
  4: "SQLITE_ABORT",
  5: "SQLITE_BUSY",
  6: "SQLITE_LOCKED",
  7: "SQLITE_NOMEM",
  8: "SQLITE_READONLY",
  9: "SQLITE_INTERRUPT",
  10: "SQLITE_IOERR",
  11: "SQLITE_CORRUPT",
  13: "SQLITE_FULL",
  14: "SQLITE_CANTOPEN",
  15: "SQLITE_PROTOCOL",
  17: "SQLITE_SCHEMA",
  18: "SQLITE_TOOBIG",
  19: "SQLITE_CONSTRAINT",
  20: "SQLITE_MISMATCH",
  21: "SQLITE_MISUSE",
  23: "SQLITE_AUTH",
  25: "SQLITE_RANGE",
  26: "SQLITE_NOTADB",
};

/** sqlite3_errstr() of the codes connection.ts acts on, for errors that come without errcode. */
const CODES_BY_MESSAGE: Record<string, string> = {
  "database is locked": "SQLITE_BUSY",
  "database table is locked": "SQLITE_LOCKED",
  "disk I/O error": "SQLITE_IOERR",
  "database or disk is full": "SQLITE_FULL",
  "unable to open database file": "SQLITE_CANTOPEN",
  "attempt to write a readonly database": "SQLITE_READONLY",
  "access permission denied": "SQLITE_PERM",
  "file is not a database": "SQLITE_NOTADB",
};

/** The error with bun:sqlite's `code` (SQLITE_BUSY...) when node:sqlite said which. */
function named(err: unknown): unknown {
  const errcode = (err as { errcode?: unknown } | null)?.errcode;
  const code = typeof errcode === "number" ? (PRIMARY_CODES[errcode & 0xff] ?? `SQLITE_${errcode}`) : CODES_BY_MESSAGE[(err as Error | null)?.message ?? ""];
  if (!code) return err;
  try {
    Object.defineProperty(err, "code", { value: code, configurable: true, writable: true });
    return err;
  } catch {
    return Object.assign(new Error((err as Error).message, { cause: err }), { code });
  }
}

function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw named(err);
  }
}

class NodeStatement implements SqliteStatement {
  constructor(readonly st: StatementSync) {}
  run(...params: unknown[]): RunResult {
    const r = call(() => this.st.run(...(params as [])));
    return { changes: Number(r.changes), lastInsertRowid: r.lastInsertRowid };
  }
  get(...params: unknown[]): unknown {
    return call(() => this.st.get(...(params as []))) ?? null;
  }
  all(...params: unknown[]): unknown[] {
    return call(() => this.st.all(...(params as [])));
  }
  values(...params: unknown[]): unknown[][] {
    return this.all(...params).map((row) => Object.values(row as object));
  }
  /** node:sqlite has no finalize(); DatabaseSync.close() finalizes every statement it prepared. */
  finalize(): void {}
}

export class NodeSqliteDb implements SqliteDb {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, NodeStatement>();
  #depth = 0;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  query(sql: string): SqliteStatement {
    let st = this.#statements.get(sql);
    if (!st) {
      st = this.prepare(sql);
      this.#statements.set(sql, st);
    }
    return st;
  }

  prepare(sql: string): NodeStatement {
    const prepared = call(() => this.#db.prepare(sql));
    prepared.setAllowUnknownNamedParameters?.(true);
    return new NodeStatement(prepared);
  }

  run(sql: string): void {
    call(() => this.#db.exec(sql));
  }

  transaction<T>(fn: () => T): { immediate(): T; deferred(): T } {
    return { immediate: () => this.#inTransaction(fn, "BEGIN IMMEDIATE"), deferred: () => this.#inTransaction(fn, "BEGIN DEFERRED") };
  }

  #inTransaction<T>(fn: () => T, begin: string): T {
    const control = (sql: string) => this.query(sql).run();
    const savepoint = this.#depth > 0 ? `kh_${this.#depth}` : undefined;
    control(savepoint ? `SAVEPOINT ${savepoint}` : begin);
    this.#depth++;
    try {
      const result = fn();
      control(savepoint ? `RELEASE ${savepoint}` : "COMMIT");
      return result;
    } catch (err) {
      // A failed COMMIT (SQLITE_BUSY) may leave the transaction open; a failed statement always does.
      if (savepoint) {
        control(`ROLLBACK TO ${savepoint}`);
        control(`RELEASE ${savepoint}`);
      } else if (this.#db.isTransaction) control("ROLLBACK");
      throw err;
    } finally {
      this.#depth--;
    }
  }

  close(): void {
    this.#statements.clear();
    this.#db.close();
  }
}
