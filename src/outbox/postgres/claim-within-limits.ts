// claimDueJobs under rate limits every worker on this store shares: one token bucket row per limit
// (rate_limits), refilled, read and charged in the claim's own transaction, so instances on one
// Postgres together stay within a destination's limit with no service besides the database.
//
// Concurrency: the upsert takes each bucket's row lock and holds it to COMMIT, so claims drawing
// on one bucket run one after another, and under READ COMMITTED each sees the tokens the previous
// one left (ON CONFLICT DO UPDATE works on the latest committed row, and a first insert racing
// another waits for it, then updates). Rows are locked in key order, so two claims sharing two
// buckets cannot deadlock. The claim takes at most as many jobs as the emptiest bucket has whole
// tokens, then charges each bucket for the claimed jobs of its actions: a token is never spent
// twice and never spent on a job that was not claimed.
//
// Time is the workers' `now`, as for leases; `at` never moves back, so a worker whose clock is
// behind refills nothing until real time catches up, and one ahead brings refills forward by its
// skew once, not at every claim.
//
// Cost: two more statements in the claim's transaction (one round trip each), and claims on one
// destination wait for each other for the length of that transaction (about a millisecond here).
// With a backlog a bucket yields a token at a time only when its burst is 1 (limits below 10/s);
// otherwise about ten claims a second drain it, plus one a token from each idle instance.
import type { ClaimOptions, LimitedClaim, SharedRateLimit } from "../store.ts";
import { rateLimitBurst } from "../store.ts";
import { claimInTx } from "./claim-due-jobs.ts";
import type { PgDb } from "./connection.ts";

/** Tokens are doubles: a refill that should make a whole token may land a hair below it. */
const EPSILON = 1e-9;

export function claimDueJobsWithin(db: PgDb, o: ClaimOptions, limits: SharedRateLimit[]): Promise<LimitedClaim> {
  const sorted = [...limits].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const keys = sorted.map((l) => l.key);
  return db.tx("claimDueJobsWithin", async (tx) => {
    const rows = (await tx`
      INSERT INTO rate_limits AS b (key, rate, tokens, at)
      SELECT key, rate, burst, ${o.now}::bigint
      FROM unnest(${tx.array(keys, "TEXT")}::text[], ${tx.array(sorted.map((l) => String(l.rate)), "TEXT")}::float8[], ${tx.array(sorted.map((l) => String(rateLimitBurst(l.rate))), "TEXT")}::float8[]) AS l(key, rate, burst)
      ORDER BY key
      ON CONFLICT (key) DO UPDATE SET
        rate = EXCLUDED.rate,
        tokens = least(EXCLUDED.tokens, b.tokens + greatest(0, EXCLUDED.at - b.at) * EXCLUDED.rate / 1000),
        at = greatest(b.at, EXCLUDED.at)
      RETURNING key, tokens`) as Array<{ key: string; tokens: number }>;
    const tokens = new Map(rows.map((r) => [r.key, Number(r.tokens)]));
    const room = Math.min(...sorted.map((l) => Math.floor(tokens.get(l.key)! + EPSILON)));
    const jobs = room > 0 ? await claimInTx(tx, { ...o, limit: Math.min(o.limit, room) }) : [];
    const spent = sorted.map((l) => jobs.filter((j) => l.actions.includes(j.action)).length);
    if (jobs.length) {
      await tx`
        UPDATE rate_limits AS b SET tokens = b.tokens - s.n
        FROM unnest(${tx.array(keys, "TEXT")}::text[], ${tx.array(spent.map(String), "TEXT")}::float8[]) AS s(key, n)
        WHERE b.key = s.key`;
    }
    const nextTokenAt: Record<string, number> = {};
    sorted.forEach((l, i) => {
      const left = tokens.get(l.key)! - spent[i]!;
      nextTokenAt[l.key] = left + EPSILON >= 1 ? o.now : o.now + Math.ceil(((1 - left) / l.rate) * 1000);
    });
    return { jobs, nextTokenAt };
  });
}
