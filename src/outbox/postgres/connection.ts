// The Bun.SQL pool behind a PostgresStore, and the one place that decides what a failure means.
//
// Bun.SQL quirks worked around here and in this folder, checked on Bun 1.4.5 against Postgres 15:
// - Dropped connections are discovered lazily. After pg_terminate_backend (or a Postgres restart)
//   an idle pooled connection still looks open; the next query sent on it rejects with the
//   server's queued FATAL (ERR_POSTGRES_SERVER_ERROR, errno 57P01) and only then does Bun drop it
//   and open a fresh one. With a pool of N, up to N calls can hit a dead connection in a row.
//   So: a statement that provably did not commit is retried, up to poolMax + 1 times (each retry
//   uses up one stale connection). A failure that persists (refused, timeout: Bun already retried
//   the connect itself) becomes StoreUnavailableError at once, and a later call reconnects.
// - Aborted transactions: every write goes through sql.begin, never a manual BEGIN (which Bun
//   refuses on a pool: ERR_POSTGRES_UNSAFE_TRANSACTION). When the body throws, Bun sends ROLLBACK
//   before the connection goes back to the pool; when the connection dies, the server rolls back
//   and Bun drops it. Either way no connection stuck in "current transaction is aborted" (25P02)
//   is reused: postgres.test.ts fails a transaction on a pool of one and uses the pool again.
// - Verified on a terminated backend: the statement in flight rejects with 57P01
//   ("terminating connection due to administrator command"), sql.begin rejects with it,
//   and the next statements on other, idle pooled connections may each reject once the same way.
// - Only if the connection drops after COMMIT was sent is the outcome unknown: that is surfaced
//   as StoreUnavailableError with commitUnknown = true, never retried blindly.
import { SQL, type TransactionSQL } from "bun";
import { StoreUnavailableError } from "../errors.ts";

export type PostgresOptions = {
  /** Schema holding the tables; created by migrate() if missing. Default: the URL's `?schema=`, else "kratos_hooks". */
  schema?: string;
  /** Pool size. Default 10. */
  poolMax?: number;
  /** Connect timeout in ms, so an unreachable server fails a request fast (503) instead of Bun's 30 s. Default 5000. */
  connectTimeoutMs?: number;
  /** application_name of every connection, to find them in pg_stat_activity. Default: the URL's `?application_name=`, else "kratos-hooks". */
  applicationName?: string;
  /** Longest wait for one statement or transaction before StoreUnavailableError (ms, default 10000; 0 = none). See OPERATION_TIMEOUT_MS. */
  operationTimeoutMs?: number;
};

/**
 * Bun.SQL has no query timeout, and a pooled connection that goes silent (no FIN, no RST: a NAT or
 * conntrack entry dropped, a partitioned host) leaves its query waiting until the kernel gives up
 * on the socket, about 15 minutes. The group committer has one batch in flight at a time, so one
 * such batch stalled every webhook of the process, and a claim stalled the worker (seen with a
 * relay that stops forwarding one connection; test/resilience/). So every call is bounded: past
 * the timeout the caller gets StoreUnavailableError (503 for Kratos, back-off for workers) and the
 * next call takes another connection. Under Kratos's 30 s per attempt (CONTRACT §4.2), leaving
 * room for a batch queued behind a stalled one. The abandoned call may still finish later, so a
 * transaction that timed out is reported with commitUnknown (dedupe makes retrying it safe).
 */
export const OPERATION_TIMEOUT_MS = 10_000;

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Bun's own codes for "no usable connection". */
const BUN_CONNECTION_CODES = new Set([
  "ERR_POSTGRES_CONNECTION_CLOSED",
  "ERR_POSTGRES_CONNECTION_FAILED",
  "ERR_POSTGRES_CONNECTION_REFUSED",
  "ERR_POSTGRES_CONNECTION_TIMEOUT",
  "ERR_POSTGRES_IDLE_TIMEOUT",
  "ERR_POSTGRES_LIFETIME_TIMEOUT",
]);
/** Socket-level codes that can leak through as plain Errors. */
const SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);
/**
 * SQLSTATEs meaning the server is going away or not accepting: class 08 (connection exception),
 * 57P01 admin_shutdown (pg_terminate_backend, fast shutdown), 57P02 crash_shutdown,
 * 57P03 cannot_connect_now (starting up), 57P05 idle_session_timeout (PG ≥ 14, common on managed
 * Postgres), 53300 too_many_connections.
 */
const isUnavailableState = (s: string) => s.startsWith("08") || ["57P01", "57P02", "57P03", "57P05", "53300"].includes(s);
/** Of those, the ones an established pooled connection reports when it was found dead: retrying takes another connection. */
const STALE = new Set(["57P01", "57P02", "57P05", "ERR_POSTGRES_CONNECTION_CLOSED", "ECONNRESET", "EPIPE"]);

type ErrorCodes = { code?: unknown; errno?: unknown };
function codesOf(err: unknown): string[] {
  const e = (err ?? {}) as ErrorCodes;
  return [e.code, e.errno].filter((c): c is string => typeof c === "string");
}

export function isConnectionError(err: unknown): boolean {
  return codesOf(err).some((c) => BUN_CONNECTION_CODES.has(c) || SOCKET_CODES.has(c) || isUnavailableState(c));
}
const isStaleConnection = (err: unknown) => codesOf(err).some((c) => STALE.has(c) || c.startsWith("08"));

function unavailable(op: string, err: unknown, commitUnknown = false): StoreUnavailableError {
  // The codes only: Bun's messages do not carry the URL, but keep the password question moot.
  const codes = codesOf(err).join("/") || "connection error";
  const what = commitUnknown ? "connection lost during COMMIT, outcome unknown" : "database unreachable";
  return new StoreUnavailableError(`postgres store unavailable during ${op}: ${what} (${codes})`, commitUnknown, { cause: err });
}

export class PgDb {
  readonly schema: string;
  readonly #sql: SQL;
  readonly #attempts: number;
  readonly #timeoutMs: number;
  #closed = false;

  constructor(url: string, opts: PostgresOptions = {}) {
    // `?schema=` lets hooks.yaml's one store string choose the schema. It is ours, not a libpq
    // parameter: removed before Bun sees the URL (Bun would send it as a startup parameter).
    const parsed = new URL(url);
    const fromUrl = parsed.searchParams.get("schema") ?? undefined;
    parsed.searchParams.delete("schema");
    url = parsed.toString();
    this.schema = opts.schema ?? fromUrl ?? "kratos_hooks";
    if (!SCHEMA_NAME.test(this.schema)) throw new Error(`postgres schema '${this.schema}' must match ${SCHEMA_NAME}`);
    // A libpq `?application_name=` in the store URL names the instance in pg_stat_activity. Bun
    // sends URL parameters as startup settings, but the `connection` option below overrides them
    // (seen on Bun 1.4.5), so it is read here instead of being silently replaced by the default.
    const applicationName = opts.applicationName ?? parsed.searchParams.get("application_name") ?? "kratos-hooks";
    const max = opts.poolMax ?? 10;
    this.#attempts = max + 1;
    this.#timeoutMs = opts.operationTimeoutMs ?? OPERATION_TIMEOUT_MS;
    this.#sql = new SQL(url, {
      max,
      connectionTimeout: (opts.connectTimeoutMs ?? 5000) / 1000,
      // Sent in the startup packet of every connection, including the ones Bun opens after a
      // drop, so unqualified table names always mean this store's schema.
      connection: { search_path: `"${this.schema}"`, application_name: applicationName },
    });
  }

  /** A read (or any statement safe to repeat): retried on a stale connection. */
  async read<T>(op: string, fn: (sql: SQL) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.#assertOpen();
      try {
        return await this.#bounded(op, fn(this.#sql), this.#timeoutMs, false);
      } catch (err) {
        if (!isConnectionError(err)) throw err;
        if (this.#closed || !isStaleConnection(err) || attempt >= this.#attempts) throw unavailable(op, err);
      }
    }
  }

  /**
   * A transaction via sql.begin. Retried on a stale connection only while the body had not
   * finished, i.e. before COMMIT was sent: the server rolled it back, so nothing happened yet.
   */
  async tx<T>(op: string, body: (tx: TransactionSQL) => Promise<T>, opts: { timeoutMs?: number } = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.#assertOpen();
      let committing = false;
      try {
        const run = this.#sql.begin(async (tx) => {
          const result = await body(tx);
          committing = true;
          return result;
        }) as Promise<T>;
        return await this.#bounded(op, run, opts.timeoutMs ?? this.#timeoutMs, true);
      } catch (err) {
        if (!isConnectionError(err)) throw err;
        if (committing) throw unavailable(op, err, true);
        if (this.#closed || !isStaleConnection(err) || attempt >= this.#attempts) throw unavailable(op, err);
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#sql.close({ timeout: 5 });
  }

  /** `call`, or StoreUnavailableError once `ms` pass without an answer (the call is abandoned, not cancelled). */
  #bounded<T>(op: string, call: Promise<T>, ms: number, isTx: boolean): Promise<T> {
    if (ms <= 0) return call;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError(`postgres store unavailable during ${op}: no answer within ${ms} ms${isTx ? ", outcome unknown" : ""}`, isTx)), ms);
    });
    call.catch(() => {}); // a late failure of an abandoned call is nobody's to handle
    return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("postgres store is closed");
  }
}

/** int8 columns arrive as strings (Bun.SQL default, bigint: false); epoch ms fit a double exactly. */
export const num = (v: string | number): number => (typeof v === "number" ? v : Number(v));
