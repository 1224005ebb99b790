// Leases up to `limit` due jobs to one worker. Due = pending with run_at ≤ now, or running with
// an expired lease (its worker died: reclaim). One UPDATE ... WHERE id IN (SELECT ... LIMIT)
// RETURNING inside BEGIN IMMEDIATE, so two claimers (even in two processes) never get the same
// job. A claim counts an attempt (graphile-worker's rule): a job that keeps killing its worker
// still runs out of attempts. An expired lease on the last attempt is buried instead of reclaimed.
//
// Due jobs are found through the two partial indexes, each read in order and only as far as
// `limit`: one `(pending AND due) OR (running AND expired)` query made SQLite 3.54.1 (no ANALYZE
// stats) pick the (state, created_at) index that migration 3 dropped, read every pending job and
// sort them, ~2.5 ms per claim with 20,000 queued, 0.03 ms this way (EXPLAIN QUERY PLAN: SEARCH
// jobs USING INDEX jobs_due). Hence INDEXED BY, which also fails loudly should a migration ever
// drop those indexes. Jobs due at the same ms go in insertion order (the index's rowid order),
// which is their creation order.
//
// The claimed jobs come back as compact rows (ClaimedRow: the columns a Job needs, in a fixed
// order, the payload as its stored text), turned into Jobs by claimedJob. The columns the claim
// itself sets to the same value in every row (locked_by, locked_until, updated_at) are not read
// back: claimedJob takes them from the claim's options. Each returned column is a value SQLite
// hands to JS, the thread writes into its reply and the event loop parses again (~1 µs per job for
// these three, bench/results/drain.md, eighth session). The claim finds the jobs by rowid, which
// the due indexes hold, not by id through the primary key's index. The store thread sends
// the rows with the payloads' text after them (store.ts claimDueJobsFramed, framed.ts) and the
// event loop makes the Jobs (thread-store.ts): no objects with long keys built, serialised and
// parsed again on the thread, and each payload is parsed once, where it is used, without being
// escaped into a string and back (bench/results/drain.md, seventh session).
import type { SqliteDb } from "./driver.ts";
import type { ClaimOptions, Job } from "../store.ts";
import { LEASE_EXPIRED_ON_LAST_ATTEMPT } from "../store-rules.ts";
import { completeJobRowsIn } from "./complete-jobs.ts";
import { completionCount, type CompletionRows } from "./record-attempts.ts";

/** A claimed job as the claim returns it: CLAIMED_COLUMNS in order. */
export type ClaimedRow = [
  id: string, hook: string, action: string, payload: string, attempts: number, maxAttempts: number, runAt: number, lastError: string | null,
  createdAt: number, triggerId: string | null, identityId: string | null, traceparent: string | null,
];
const CLAIMED_COLUMNS = "id, hook, action, payload, attempts, max_attempts, run_at, last_error, created_at, trigger_id, identity_id, traceparent";

export function claimDueJobs(db: SqliteDb, o: ClaimOptions): Job[] {
  return claimDueJobRows(db, o).map((r) => claimedJob(r, o));
}

/**
 * A claimed row as a Job. A payload that is not JSON (the column edited by hand) becomes one that
 * deliver() refuses, so that job goes to the dead letters with that reason instead of failing every
 * claim that would take it.
 */
export function claimedJob(r: ClaimedRow, o: Pick<ClaimOptions, "worker" | "now" | "leaseMs">): Job {
  let payload: unknown;
  try {
    payload = JSON.parse(r[3]);
  } catch {
    payload = { unreadable: "the stored payload is not JSON" };
  }
  return {
    id: r[0], hook: r[1], action: r[2], payload, state: "running", attempts: r[4], maxAttempts: r[5], runAt: r[6], lastError: r[7],
    createdAt: r[8], updatedAt: o.now, lockedBy: o.worker, lockedUntil: o.now + o.leaseMs, triggerId: r[9], identityId: r[10], traceparent: r[11],
  };
}

/** A claim with no room or no actions: it takes nothing, and needs no statement. */
const claimsNothing = (o: ClaimOptions) => o.limit <= 0 || o.actions?.length === 0;

/** Jobs in claim order: earliest due first, then id (uuid v7, so creation order). */
const byDueThenId = (a: ClaimedRow, b: ClaimedRow) => a[6] - b[6] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

export function claimDueJobRows(db: SqliteDb, o: ClaimOptions): ClaimedRow[] {
  if (claimsNothing(o)) return [];
  return db.transaction(() => claimDueJobRowsIn(db, o)).immediate();
}

/**
 * Completions (completeJobRows) and then a claim, in one IMMEDIATE transaction: one commit (one
 * fsync at synchronous=FULL) instead of two. The worker sends the completions waiting for their
 * write with its next claim (completion-committer.ts); a completion's lease check and attempt are
 * the same as alone, and on an error neither is recorded.
 */
export function completeThenClaimRows(db: SqliteDb, rows: CompletionRows, completedAt: number, o: ClaimOptions): { completed: string[]; claimed: ClaimedRow[] } {
  return db.transaction(() => {
    const completed = completionCount(rows) ? completeJobRowsIn(db, rows, completedAt) : [];
    const claimed = claimsNothing(o) ? [] : claimDueJobRowsIn(db, o);
    return { completed, claimed };
  }).immediate();
}

/**
 * Claims name their actions one parameter each (`action IN ($a0, $a1, ...)`), one statement per
 * count, rather than as one JSON list read by json_each: that cost ~30 µs of the store thread per
 * claim, a third of a claim's fixed cost (0.35 µs per job at 85 jobs per claim, ~2 µs at the 16
 * of a slow destination; bench/results/drain.md, eighth session). Past MAX_LISTED actions the
 * JSON list keeps the number of statement texts bounded.
 */
const MAX_LISTED = 16;

function actionFilter(actions: string[] | undefined): { sql: string; params: Record<string, string> } {
  if (!actions) return { sql: "", params: {} };
  if (actions.length > MAX_LISTED) return { sql: "AND action IN (SELECT value FROM json_each($actions))", params: { actions: JSON.stringify(actions) } };
  const params: Record<string, string> = {};
  for (let i = 0; i < actions.length; i++) params[`a${i}`] = actions[i]!;
  return { sql: `AND action IN (${actions.map((_, i) => `$a${i}`).join(", ")})`, params };
}

function claimDueJobRowsIn(db: SqliteDb, o: ClaimOptions): ClaimedRow[] {
  const { sql: filter, params: actionParam } = actionFilter(o.actions);
  db.query(`
    UPDATE jobs SET state = 'dead', last_error = $error, locked_by = NULL, locked_until = NULL, updated_at = $now
    WHERE state = 'running' AND locked_until <= $now AND attempts >= max_attempts ${filter}`).run({ now: o.now, error: LEASE_EXPIRED_ON_LAST_ATTEMPT, ...actionParam });
  const rows = db.query(`
    UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $worker,
      locked_until = $lockedUntil, updated_at = $now
    WHERE rowid IN (
      SELECT rowid FROM (
        SELECT * FROM (
          SELECT rowid, run_at FROM jobs INDEXED BY jobs_due
          WHERE state = 'pending' AND run_at <= $now ${filter}
          ORDER BY run_at LIMIT $limit)
        UNION ALL
        SELECT * FROM (
          SELECT rowid, run_at FROM jobs INDEXED BY jobs_lease
          WHERE state = 'running' AND locked_until <= $now ${filter}
          ORDER BY locked_until LIMIT $limit))
      ORDER BY run_at LIMIT $limit)
    RETURNING ${CLAIMED_COLUMNS}`).values({ worker: o.worker, lockedUntil: o.now + o.leaseMs, now: o.now, limit: o.limit, ...actionParam }) as ClaimedRow[];
  // RETURNING order is unspecified in SQLite; hand jobs out in due order.
  return rows.sort(byDueThenId);
}
