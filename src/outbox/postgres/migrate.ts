// Applies pending Postgres migrations in one transaction under pg_advisory_xact_lock, keyed by
// schema: a second instance starting at the same moment waits for the first to commit, then finds
// every version applied. The schema itself is created under the lock too (CREATE SCHEMA IF NOT
// EXISTS can still fail with a unique violation when two sessions race it unlocked).
// Quirk (Bun 1.4.5): a tagged query is one prepared statement, which Postgres limits to one
// command; migration scripts hold several, so they run through tx.unsafe() without parameters
// (simple protocol, all statements in order, inside this transaction).
import { POSTGRES_MIGRATIONS } from "../migrations/postgres.ts";
import type { PgDb } from "./connection.ts";

export function migrate(db: PgDb, now: number): Promise<void> {
  // Not bounded by the operation timeout: waiting for another instance's migration is expected.
  return db.tx("migrate", async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext(${`kratos-hooks migrate ${db.schema}`}))`;
    await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS "${db.schema}"`);
    await tx.unsafe(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`);
    const [row] = await tx`SELECT coalesce(max(version), 0)::int AS v FROM schema_migrations`;
    const current = (row as { v: number }).v;
    const latest = POSTGRES_MIGRATIONS.length;
    if (current > latest) throw new Error(`postgres store schema "${db.schema}" is at version ${current}, newer than this kratos-hooks (${latest}): upgrade kratos-hooks`);
    for (const m of POSTGRES_MIGRATIONS.slice(current)) {
      await tx.unsafe(m.sql);
      await tx`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${m.version}, ${m.name}, ${now})`;
    }
  }, { timeoutMs: 0 });
}
