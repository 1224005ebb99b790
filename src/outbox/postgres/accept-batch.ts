// Commits a batch of acceptances in one transaction, in three set-based statements whatever the
// batch size (per-acceptance statements made a 64-acceptance batch 128 round trips long).
//
// Dedupe is INSERT ... ON CONFLICT (hook, key) DO UPDATE ... WHERE expires_at <= now RETURNING,
// never read-then-write: a row back means inserted or an expired record replaced; no row means a
// live duplicate. ON CONFLICT DO UPDATE locks the conflicting row even when its WHERE is false,
// and waits for a concurrent inserter to commit or roll back, so the stored responses read next
// are the committed winners' and cannot be purged under us. Rows go in (hook, key) order, so two
// instances committing overlapping keys lock them in the same order and cannot deadlock.
//
// A key repeated within the batch is not sent twice (one statement may not touch a row twice):
// later repeats are duplicates of the first occurrence and get the response it left stored.
import type { TransactionSQL } from "bun";
import type { Acceptance, AcceptResult, StoredResponse } from "../store.ts";
import type { PgDb } from "./connection.ts";

type DedupeRow = { hook: string; key: string; status: number; body: string | null; content_type: string | null };

const idOf = (hook: string, key: string) => `${hook.length}:${hook}${key}`;

function storedForm(r: { status: number; body: string | null; contentType?: string | null }): StoredResponse {
  const response: StoredResponse = { status: r.status, body: r.body };
  if (r.contentType != null) response.contentType = r.contentType;
  return response;
}

export function acceptBatch(db: PgDb, batch: Acceptance[]): Promise<AcceptResult[]> {
  const first = new Map<string, Acceptance>();
  for (const a of batch) if (!first.has(idOf(a.hook, a.key))) first.set(idOf(a.hook, a.key), a);
  const distinct = [...first.values()];

  return db.tx("acceptBatch", async (tx) => {
    const fresh = await claimKeys(tx, distinct);
    const repeats = distinct.filter((a) => !fresh.has(idOf(a.hook, a.key)));
    const stored = repeats.length ? await storedResponses(tx, repeats) : new Map<string, StoredResponse>();
    await enqueueJobs(tx, distinct.filter((a) => fresh.has(idOf(a.hook, a.key))));
    return batch.map((a): AcceptResult => {
      const id = idOf(a.hook, a.key);
      if (!fresh.has(id)) return { duplicate: true, response: stored.get(id)! };
      if (first.get(id) === a) return { duplicate: false };
      return { duplicate: true, response: storedForm(first.get(id)!.response) };
    });
  });
}

/** Upserts the dedupe records; returns the ids of the keys this batch now owns. */
async function claimKeys(tx: TransactionSQL, list: Acceptance[]): Promise<Set<string>> {
  const col = <T>(f: (a: Acceptance) => T) => list.map(f);
  const rows = (await tx`
    INSERT INTO dedupe (hook, key, status, body, content_type, expires_at, created_at)
    SELECT * FROM unnest(
      ${tx.array(col((a) => a.hook), "TEXT")}::text[],
      ${tx.array(col((a) => a.key), "TEXT")}::text[],
      ${tx.array(col((a) => a.response.status), "INT")}::int[],
      ${tx.array(col((a) => a.response.body), "TEXT")}::text[],
      ${tx.array(col((a) => a.response.contentType ?? null), "TEXT")}::text[],
      ${tx.array(col((a) => a.expiresAt), "BIGINT")}::bigint[],
      ${tx.array(col((a) => a.now), "BIGINT")}::bigint[]
    ) AS t(hook, key, status, body, content_type, expires_at, created_at)
    ORDER BY hook, key
    ON CONFLICT (hook, key) DO UPDATE SET
      status = excluded.status, body = excluded.body, content_type = excluded.content_type,
      expires_at = excluded.expires_at, created_at = excluded.created_at
    WHERE dedupe.expires_at <= excluded.created_at
    RETURNING hook, key`) as Array<{ hook: string; key: string }>;
  return new Set(rows.map((r) => idOf(r.hook, r.key)));
}

/** The responses of live records (rows already locked by the upsert above). */
async function storedResponses(tx: TransactionSQL, list: Acceptance[]): Promise<Map<string, StoredResponse>> {
  const rows = (await tx`
    SELECT d.hook, d.key, d.status, d.body, d.content_type
    FROM dedupe d
    JOIN unnest(${tx.array(list.map((a) => a.hook), "TEXT")}::text[], ${tx.array(list.map((a) => a.key), "TEXT")}::text[]) AS t(hook, key)
      ON d.hook = t.hook AND d.key = t.key`) as DedupeRow[];
  return new Map(rows.map((r) => [idOf(r.hook, r.key), storedForm({ status: r.status, body: r.body, contentType: r.content_type })]));
}

/**
 * All jobs of the fresh acceptances in one INSERT from parallel arrays. The payload travels as
 * text and is cast server-side (text → json): binding a JS string straight to a json parameter
 * stores it as a JSON *string* (`"{\"a\":1}"`, json_typeof = string; seen on Bun 1.4.5).
 */
async function enqueueJobs(tx: TransactionSQL, list: Acceptance[]): Promise<void> {
  const jobs = list.flatMap((a) => a.jobs.map((j) => ({ ...j, now: a.now })));
  if (!jobs.length) return;
  const col = <T>(f: (j: (typeof jobs)[number]) => T) => jobs.map(f);
  await tx`
    INSERT INTO jobs (id, hook, action, payload, state, attempts, max_attempts, run_at, created_at, updated_at, trigger_id, identity_id, traceparent)
    SELECT id, hook, action, payload::json, 'pending', 0, max_attempts, run_at, now, now, trigger_id, identity_id, traceparent
    FROM unnest(
      ${tx.array(col((j) => j.id), "TEXT")}::text[],
      ${tx.array(col((j) => j.hook), "TEXT")}::text[],
      ${tx.array(col((j) => j.action), "TEXT")}::text[],
      ${tx.array(col((j) => JSON.stringify(j.payload ?? null)), "TEXT")}::text[],
      ${tx.array(col((j) => j.maxAttempts), "INT")}::int[],
      ${tx.array(col((j) => j.runAt), "BIGINT")}::bigint[],
      ${tx.array(col((j) => j.now), "BIGINT")}::bigint[],
      ${tx.array(col((j) => j.triggerId ?? null), "TEXT")}::text[],
      ${tx.array(col((j) => j.identityId ?? null), "TEXT")}::text[],
      ${tx.array(col((j) => j.traceparent ?? null), "TEXT")}::text[]
    ) AS t(id, hook, action, payload, max_attempts, run_at, now, trigger_id, identity_id, traceparent)`;
}
