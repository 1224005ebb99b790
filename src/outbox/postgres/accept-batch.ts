// Commits a batch of acceptances in one transaction (one commit, one WAL flush for the batch).
// Dedupe is INSERT ... ON CONFLICT (hook, key) DO UPDATE ... WHERE expires_at <= now RETURNING,
// never read-then-write: a row back means inserted or an expired record replaced; no row means a
// live duplicate. ON CONFLICT DO UPDATE locks the conflicting row even when its WHERE is false,
// and waits for a concurrent inserter to commit or roll back, so the stored response read right
// after is the committed winner's and cannot be purged under us. A repeat within the batch
// conflicts with the row the earlier acceptance wrote in this transaction: a duplicate of it.
import type { TransactionSQL } from "bun";
import type { Acceptance, AcceptResult, StoredResponse } from "../store.ts";
import type { PgDb } from "./connection.ts";

export function acceptBatch(db: PgDb, batch: Acceptance[]): Promise<AcceptResult[]> {
  return db.tx("acceptBatch", async (tx) => {
    const results: AcceptResult[] = [];
    for (const a of batch) results.push(await acceptOne(tx, a));
    return results;
  });
}

async function acceptOne(tx: TransactionSQL, a: Acceptance): Promise<AcceptResult> {
  const fresh = await tx`
    INSERT INTO dedupe (hook, key, status, body, content_type, expires_at, created_at)
    VALUES (${a.hook}, ${a.key}, ${a.response.status}, ${a.response.body}::text, ${a.response.contentType ?? null}::text, ${a.expiresAt}, ${a.now})
    ON CONFLICT (hook, key) DO UPDATE SET
      status = excluded.status, body = excluded.body, content_type = excluded.content_type,
      expires_at = excluded.expires_at, created_at = excluded.created_at
    WHERE dedupe.expires_at <= ${a.now}
    RETURNING 1`;
  if (!fresh.length) {
    const [r] = (await tx`SELECT status, body, content_type FROM dedupe WHERE hook = ${a.hook} AND key = ${a.key}`) as Array<{ status: number; body: string | null; content_type: string | null }>;
    const response: StoredResponse = { status: r!.status, body: r!.body };
    if (r!.content_type !== null) response.contentType = r!.content_type;
    return { duplicate: true, response };
  }
  if (a.jobs.length) {
    // One statement for all jobs of the acceptance: parallel arrays through unnest. The payload
    // travels as text and is cast server-side (text → json): binding a JS string straight to a
    // json parameter would make Bun store it as a JSON *string*.
    const col = <T>(f: (j: Acceptance["jobs"][number]) => T) => a.jobs.map(f);
    await tx`
      INSERT INTO jobs (id, hook, action, payload, state, attempts, max_attempts, run_at, created_at, updated_at)
      SELECT id, hook, action, payload::json, 'pending', 0, max_attempts, run_at, ${a.now}, ${a.now}
      FROM unnest(
        ${tx.array(col((j) => j.id), "TEXT")}::text[],
        ${tx.array(col((j) => j.hook), "TEXT")}::text[],
        ${tx.array(col((j) => j.action), "TEXT")}::text[],
        ${tx.array(col((j) => JSON.stringify(j.payload ?? null)), "TEXT")}::text[],
        ${tx.array(col((j) => j.maxAttempts), "INT")}::int[],
        ${tx.array(col((j) => j.runAt), "BIGINT")}::bigint[]
      ) AS t(id, hook, action, payload, max_attempts, run_at)`;
  }
  return { duplicate: false };
}
