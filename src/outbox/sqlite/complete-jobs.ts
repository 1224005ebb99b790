// Marks many delivered jobs done in one statement, in one IMMEDIATE transaction: one commit (one
// fsync with synchronous=FULL) for the whole batch instead of one per job. Each row keeps the
// lease check of completeJob (running, locked_by = its worker), so a batch may mix workers and a
// job whose lease was lost is left alone and simply missing from the returned ids. The attempts
// of the jobs marked done join their histories in the same transaction (record-attempts.ts).
// The items travel as one JSON parameter read by json_each, so the statement text does not depend
// on the batch size. `+jobs.state` keeps the planner off the state index (it would scan every
// running job and probe json_each for each); checked with EXPLAIN QUERY PLAN on SQLite 3.54.1
// (Bun 1.4.5): json_each is scanned and each id found through the primary key.
import type { SqliteDb } from "./driver.ts";
import type { CompletedJob } from "../store.ts";
import { recordAttempts } from "./record-attempts.ts";

export function completeJobs(db: SqliteDb, items: CompletedJob[], now: number): string[] {
  if (!items.length) return [];
  return db.transaction(() => {
    const rows = db.query(`
      UPDATE jobs SET state = 'done', last_error = NULL, locked_by = NULL, locked_until = NULL, updated_at = $now
      FROM (SELECT value ->> 'id' AS id, value ->> 'worker' AS worker FROM json_each($items)) AS done
      WHERE jobs.id = done.id AND jobs.locked_by = done.worker AND +jobs.state = 'running'
      RETURNING jobs.id`).all({ now, items: JSON.stringify(items.map(({ id, worker }) => ({ id, worker }))) }) as Array<{ id: string }>;
    const ids = rows.map((r) => r.id);
    const done = new Set(ids);
    recordAttempts(db, items.filter((i) => i.attempt && done.has(i.id)) as Array<{ id: string; attempt: NonNullable<CompletedJob["attempt"]> }>);
    return ids;
  }).immediate();
}
