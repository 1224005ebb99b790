// Applies pending SQLite migrations. BEGIN IMMEDIATE takes the write lock before reading
// schema_migrations, so two processes migrating the same file at once serialize (the second
// waits up to busy_timeout, then sees the versions already applied).
import type { SqliteDb } from "./driver.ts";
import { SQLITE_MIGRATIONS } from "../migrations/sqlite.ts";

export function migrate(db: SqliteDb, now: number): void {
  db.transaction(() => {
    db.run(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
    const row = db.query("SELECT coalesce(max(version), 0) AS v FROM schema_migrations").get() as { v: number };
    const latest = SQLITE_MIGRATIONS.length;
    if (row.v > latest) throw new Error(`sqlite store schema is at version ${row.v}, newer than this kratos-hooks (${latest}): upgrade kratos-hooks`);
    for (const m of SQLITE_MIGRATIONS.slice(row.v)) {
      db.run(m.sql); // no parameters, so the driver runs every statement in the string
      m.after?.(db);
      db.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($v, $n, $t)").run({ v: m.version, n: m.name, t: now });
    }
  }).immediate();
}
