// Commits a batch of acceptances in one IMMEDIATE transaction (one fsync for the batch).
// Dedupe is an upsert on the (hook, key) primary key, never read-then-write: the row is inserted,
// or replaced if it expired, and RETURNING says which. No row back = a live duplicate, whose stored
// response is then read under the same write lock. A repeat within the batch hits the row the
// earlier acceptance just wrote, so it is a duplicate of it. (Upsert + RETURNING needs SQLite
// ≥ 3.35; Bun 1.4.5 bundles 3.54.1.)
import type { Database } from "bun:sqlite";
import type { Acceptance, AcceptResult, StoredResponse } from "../store.ts";

export function acceptBatch(db: Database, batch: Acceptance[]): AcceptResult[] {
  const claimKey = db.query(`
    INSERT INTO dedupe (hook, key, status, body, content_type, expires_at, created_at)
    VALUES ($hook, $key, $status, $body, $contentType, $expiresAt, $now)
    ON CONFLICT (hook, key) DO UPDATE SET
      status = excluded.status, body = excluded.body, content_type = excluded.content_type,
      expires_at = excluded.expires_at, created_at = excluded.created_at
    WHERE dedupe.expires_at <= $now
    RETURNING 1 AS fresh`);
  const storedResponse = db.query("SELECT status, body, content_type FROM dedupe WHERE hook = $hook AND key = $key");
  const enqueue = db.query(`
    INSERT INTO jobs (id, hook, action, payload, state, attempts, max_attempts, run_at, created_at, updated_at)
    VALUES ($id, $hook, $action, $payload, 'pending', 0, $maxAttempts, $runAt, $now, $now)`);

  return db.transaction(() =>
    batch.map((a): AcceptResult => {
      const fresh = claimKey.get({
        hook: a.hook,
        key: a.key,
        status: a.response.status,
        body: a.response.body,
        contentType: a.response.contentType ?? null,
        expiresAt: a.expiresAt,
        now: a.now,
      });
      if (!fresh) {
        const r = storedResponse.get({ hook: a.hook, key: a.key }) as { status: number; body: string | null; content_type: string | null };
        const response: StoredResponse = { status: r.status, body: r.body };
        if (r.content_type !== null) response.contentType = r.content_type;
        return { duplicate: true, response };
      }
      for (const j of a.jobs) {
        enqueue.run({ id: j.id, hook: j.hook, action: j.action, payload: JSON.stringify(j.payload ?? null), maxAttempts: j.maxAttempts, runAt: j.runAt, now: a.now });
      }
      return { duplicate: false };
    }),
  ).immediate();
}
