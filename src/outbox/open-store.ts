// Picks the Store implementation from the store URL of hooks.yaml (`serve.store`) or --store.
// Each implementation is imported on demand, so a SQLite deployment never loads the Postgres code.
import { UsageError } from "../errors.ts";
import { RUNTIME } from "../runtime.ts";
import type { Store } from "./store.ts";

export type OpenStoreOptions = {
  /** SQLite: PRAGMA synchronous (default "full"; see docs/durability.md). */
  synchronous?: "full" | "normal";
  /** SQLite: ms a write waits for another process's lock (default 5000). */
  busyTimeoutMs?: number;
  /** Postgres: schema holding the tables, created if missing (default: `?schema=` in the URL, else "kratos_hooks"). Tests use one per test. */
  schema?: string;
  /** Postgres: pool size (default 10). */
  poolMax?: number;
  /** Postgres: give up connecting after this long, then StoreUnavailableError (ms, default 5000). */
  connectTimeoutMs?: number;
  /** SQLite: run the store on a thread of its own (sqlite/thread-store.ts; `serve` does). Default false. */
  thread?: boolean;
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
  /** SQLite: create the file and its directory when missing (default true); false: only open an existing store (the outbox commands). */
  create?: boolean;
};

/** Opens `sqlite:<path>`, `sqlite::memory:` or `postgres://…[?schema=name]` (also `postgresql://`). */
export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  const store = await construct(url, opts);
  if (opts.migrate ?? true) {
    try {
      await store.migrate();
    } catch (err) {
      await store.close().catch(() => {});
      throw misconfigured(url, err) ?? err;
    }
  }
  return store;
}

/**
 * Postgres refusing the store URL itself (no such database or role, wrong password): no retry can
 * help, so one clear usage error instead of the driver's dump. The server's message names the
 * database or role, never the password; the URL is shown redacted. SQLSTATE classes 3D, 28.
 */
const PG_CONFIG_ERRORS: Record<string, string> = {
  "3D000": "create the database (createdb <name>) or name an existing one in the store URL",
  "28000": "create the role (createuser <name>) or name an existing one in the store URL; pg_hba.conf must also allow it",
  "28P01": "check the password in the store URL (or PGPASSWORD)",
  "42501": "grant the role CREATE on the database, or create the schema for it first",
};

/** Bun.SQL's own codes for a TLS setting the server cannot meet (checked with Bun 1.4.5: sslmode=require against a server without ssl). */
const PG_TLS_HINT = "the server and the store URL disagree on TLS: drop sslmode=require (or verify-*) from the URL, or turn ssl on in postgresql.conf";

export function misconfigured(url: string, err: unknown): UsageError | undefined {
  if (!/^postgres(ql)?:\/\//.test(url)) return undefined;
  const e = (err ?? {}) as { errno?: unknown; code?: unknown; message?: unknown };
  const tls = typeof e.code === "string" && e.code.startsWith("ERR_POSTGRES_TLS");
  const hint = tls ? PG_TLS_HINT : typeof e.errno === "string" ? PG_CONFIG_ERRORS[e.errno] : undefined;
  if (!hint) return undefined;
  const why = String(e.message ?? "refused").split("\n")[0]!;
  return new UsageError(`cannot open the store ${redactStoreUrl(url)}: ${why}`, `${hint}; set it in serve.store, KRATOS_HOOKS_STORE or --store`);
}

async function construct(url: string, opts: OpenStoreOptions): Promise<Store> {
  if (url.startsWith("sqlite:")) {
    const { sqlitePath } = await import("./sqlite/connection.ts");
    const path = sqlitePath(url);
    const sqliteOpts = { synchronous: opts.synchronous, busyTimeoutMs: opts.busyTimeoutMs, create: opts.create };
    if (opts.thread) {
      const { SqliteThreadStore } = await import("./sqlite/thread-store.ts");
      return new SqliteThreadStore(path, sqliteOpts);
    }
    const { SqliteStore } = await import("./sqlite/store.ts");
    return new SqliteStore(path, sqliteOpts);
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    if (RUNTIME !== "bun") {
      throw new UsageError("the postgres store needs Bun (its client is Bun.SQL)", "run this command with bun or the kratos-hooks binary, or use a sqlite:<path> store on Deno (docs/deno.md)");
    }
    const { PostgresStore } = await import("./postgres/store.ts");
    try {
      return new PostgresStore(url, { schema: opts.schema, poolMax: opts.poolMax, connectTimeoutMs: opts.connectTimeoutMs });
    } catch (err) {
      // Bun.SQL decodes the user, password and database with decodeURIComponent: a bare '%' throws.
      if (err instanceof URIError) throw new UsageError(`the store URL ${redactStoreUrl(url)} has a '%' that does not start a %XX escape`, "percent-encode special characters of the user, password or database name (% as %25, @ as %40, / as %2F)");
      throw err;
    }
  }
  // Never echo the URL: a postgres URL may carry a password.
  throw new UsageError(`unsupported store URL scheme '${url.split(":")[0]}'`, "use sqlite:<path>, sqlite::memory: or postgres://user@host:5432/db");
}

/** The store URL with any password replaced, for logs and messages. */
export function redactStoreUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:@/]*:)[^@/]*@/, "$1***@");
}

/**
 * Where `serve` reads the job counts of /metrics and what the admin page shows and searches.
 * SQLite runs one call at a time on its store thread, so a count or a search there (a trigger or
 * identity id has no index: it walks the jobs) waits behind the commits of acks and delays the ones
 * queued after it; a file store gets a second connection on a thread of its own (WAL lets it read
 * while the other commits). `sqlite::memory:` cannot be shared and Postgres has a pool: they use
 * the store itself.
 */
export type StoreReader = Pick<Store, "stats" | "listJobs" | "getJob" | "listAttempts" | "close">;

export async function openStatsReader(url: string, store: Store): Promise<StoreReader> {
  const shared = (): StoreReader => ({
    stats: (now) => store.stats(now),
    listJobs: (filter) => store.listJobs(filter),
    getJob: (id) => store.getJob(id),
    listAttempts: (id) => store.listAttempts(id),
    close: async () => {},
  });
  if (!url.startsWith("sqlite:")) return shared();
  const { sqlitePath } = await import("./sqlite/connection.ts");
  const path = sqlitePath(url);
  if (path === ":memory:") return shared();
  const { SqliteThreadStore } = await import("./sqlite/thread-store.ts");
  return new SqliteThreadStore(path, { create: false });
}
