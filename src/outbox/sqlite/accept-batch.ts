// Commits a batch of acceptances in one IMMEDIATE transaction (one fsync for the batch). Under the
// write lock, the dedupe log first catches up with other connections' rows, then each acceptance
// is looked up: a live record of its key makes it a duplicate (its stored response, no jobs);
// otherwise its record is appended and its jobs inserted. A repeat within the batch finds the
// record the earlier acceptance just appended. Everything written is an append (dedupe-log.ts).
import type { SqliteDb } from "./driver.ts";
import type { Acceptance, AcceptResult } from "../store.ts";
import type { DedupeLog } from "./dedupe-log.ts";

export function acceptBatch(db: SqliteDb, dedupe: DedupeLog, batch: Acceptance[]): AcceptResult[] {
  const enqueue = db.query(`
    INSERT INTO jobs (id, hook, action, payload, state, attempts, max_attempts, run_at, created_at, updated_at, trigger_id, identity_id, traceparent)
    VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?6, ?7, ?7, ?8, ?9, ?10)`);
  try {
    return db.transaction(() => {
      dedupe.sync(db);
      return batch.map((a): AcceptResult => {
        const stored = dedupe.lookup(db, a.hook, a.key, a.now);
        if (stored) return { duplicate: true, response: stored };
        dedupe.append(db, a);
        for (const j of a.jobs) enqueue.run(j.id, j.hook, j.action, JSON.stringify(j.payload ?? null), j.maxAttempts, j.runAt, a.now, j.triggerId ?? null, j.identityId ?? null, j.traceparent ?? null);
        return { duplicate: false };
      });
    }).immediate();
  } catch (err) {
    dedupe.reset(); // it may have cached rows the rollback removed
    throw err;
  }
}
