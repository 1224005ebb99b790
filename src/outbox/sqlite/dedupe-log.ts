// Dedupe records on SQLite, laid out so that the acknowledgement's commit only appends.
//
// Why: a B-tree keyed by the dedupe key puts every random Trigger-Id on its own leaf, so a group
// commit of 64 acceptances rewrote ~100 pages of that index alone (bench/results/ack.md), and the
// commit is the ack path's cost. Here a record is a row appended to `dedupe_log` (rowid order),
// and the key index is built in two levels:
//
// - recent: an in-memory map (hook, key) → newest seq, for rows not yet in `dedupe_index`. Each
//   write transaction first reads the rows other connections appended since this one last looked
//   (under the write lock, so nothing is missed), so several processes on one file stay exact.
// - `dedupe_index` (key hash, seq): filled in sorted bulk inserts per thousands of rows
//   (flushIndex, in slices of the hash space), where the cost per row is a fraction of a page
//   instead of one page or more.
//   `dedupe_indexed.through` is the last seq it holds; recent holds everything after it.
//
// A lookup takes the newest record of the key (recent first, else the index by hash, verified
// against the row, so a hash collision costs one read, never a wrong answer). Live → duplicate;
// expired or none → new. seq is AUTOINCREMENT: purged rowids are never reused, so "rows after the
// last one I saw" stays a complete answer.
import type { SqliteDb } from "./driver.ts";
import type { StoredResponse } from "../store.ts";

/**
 * 53-bit hash of (hook, key): cyrb53, a small public-domain string hash. Ours, not Bun.hash: the
 * values are stored, so they must not change with the runtime.
 */
export function keyHash(hook: string, key: string): number {
  return recordHash(recordId(hook, key));
}

/** keyHash of a recordId. */
export function recordHash(s: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** What identifies a record: hook and key (the same key under another hook is another request). */
export function recordId(hook: string, key: string): string {
  return `${hook}\u0000${key}`;
}

function indexedThrough(db: SqliteDb): number {
  return (db.query("SELECT through FROM dedupe_indexed WHERE id = 1").get() as { through: number }).through;
}

export type LogRow = { hook: string; key: string; status: number; body: string | null; content_type: string | null; expires_at: number };

/** Rows flushed into dedupe_index per flush when flushIndex() is called without a bound. */
export const DEFAULT_FLUSH_ROWS = 16_384;
/** Transactions per flush, each for a range of key hashes (flushSlice). */
export const FLUSH_SLICES = 8;
const SLICE_WIDTH = 2 ** 53 / FLUSH_SLICES;
export type FlushPlan = { through: number; upTo: number };
/** Expired rows deleted per purge transaction (keeps each one short). */
const PURGE_CHUNK = 5_000;

export class DedupeLog {
  /** recordId → newest seq, for rows after `#indexed`. */
  readonly #recent = new Map<string, number>();
  /** Highest seq read into #recent; -1 until the first sync. */
  #seen = -1;
  #indexed = 0;

  constructor(readonly flushRows = DEFAULT_FLUSH_ROWS) {}

  /** Rows appended and not yet in dedupe_index, as far as this connection knows. */
  get pending(): number {
    return this.#recent.size;
  }

  /** Must run inside the write transaction: catches up with rows other connections committed. */
  sync(db: SqliteDb): void {
    const through = indexedThrough(db);
    if (this.#seen < through) {
      this.#recent.clear();
      this.#seen = through;
    } else if (through > this.#indexed) {
      for (const [id, seq] of this.#recent) if (seq <= through) this.#recent.delete(id);
    }
    this.#indexed = through;
    for (const [seq, hook, key] of db.query("SELECT seq, hook, key FROM dedupe_log WHERE seq > ? ORDER BY seq").values(this.#seen) as [number, string, string][]) {
      this.#recent.set(recordId(hook, key), seq);
      this.#seen = seq;
    }
  }

  /** Forget what is cached (after a failed transaction); the next sync reloads it. */
  reset(): void {
    this.#recent.clear();
    this.#seen = -1;
  }

  /** The seq of the newest record of `id` (a recordId) not yet in dedupe_index, if any. Inside the write transaction, after sync. */
  recentSeq(id: string): number | undefined {
    return this.#recent.get(id);
  }

  /**
   * The newest record of (hook, key) in dedupe_index among `seqs`, the index entries of its hash,
   * verified against the row, so a hash collision costs one read, never a wrong answer.
   */
  indexedRow(db: SqliteDb, hook: string, key: string, seqs: number[]): LogRow | undefined {
    // Newest first, sorted here: an ORDER BY seq DESC on the (key_hash, seq) key made SQLite's
    // lookup four times slower (5 µs vs 1.2 µs, Bun 1.4.5 / SQLite 3.54), and there are 0-2 rows.
    if (seqs.length > 1) seqs.sort((a, b) => b - a);
    for (const seq of seqs) {
      const row = this.row(db, seq);
      if (row && row.hook === hook && row.key === key) return row;
    }
    return undefined;
  }

  /** Notes a record this connection appended (`id` a recordId). Inside the write transaction, after sync. */
  appended(id: string, seq: number): void {
    this.#recent.set(id, seq);
    if (seq > this.#seen) this.#seen = seq;
  }

  /** Moves up to `limit` unindexed rows into dedupe_index, all slices at once. Returns how many. */
  flushIndex(db: SqliteDb, limit = this.flushRows): number {
    const plan = this.planFlush(db, limit);
    if (!plan) return 0;
    let moved = 0;
    for (let slice = 0; slice < FLUSH_SLICES; slice++) moved += this.flushSlice(db, plan, slice);
    this.finishFlush(db, plan);
    return moved;
  }

  /** The unindexed rows a flush takes now, (through, upTo]; null when there are none. */
  planFlush(db: SqliteDb, limit = this.flushRows): FlushPlan | null {
    const through = indexedThrough(db);
    const upTo = (db.query("SELECT max(seq) AS m FROM (SELECT seq FROM dedupe_log WHERE seq > ? ORDER BY seq LIMIT ?)").get(through, limit) as { m: number | null }).m;
    return upTo === null ? null : { through, upTo };
  }

  /**
   * Indexes the planned rows whose hash falls in slice `slice` of FLUSH_SLICES, in one transaction.
   * A slice touches only its share of the index pages, so the flush is FLUSH_SLICES short
   * transactions (acceptances commit in between) at the same cost per row as one long one.
   * Idempotent (INSERT OR IGNORE): a flush cut short is simply done again.
   */
  flushSlice(db: SqliteDb, plan: FlushPlan, slice: number): number {
    const lo = slice === 0 ? -1 : slice * SLICE_WIDTH;
    const hi = slice === FLUSH_SLICES - 1 ? Number.MAX_SAFE_INTEGER + 1 : (slice + 1) * SLICE_WIDTH;
    return db
      .transaction(() =>
        db
          .query("INSERT OR IGNORE INTO dedupe_index (key_hash, seq) SELECT key_hash, seq FROM dedupe_log WHERE seq > ? AND seq <= ? AND key_hash >= ? AND key_hash < ? ORDER BY key_hash, seq")
          .run(plan.through, plan.upTo, lo, hi).changes,
      )
      .immediate();
  }

  /** After every slice: marks the rows indexed (never moving the mark back) and drops them from memory. */
  finishFlush(db: SqliteDb, plan: FlushPlan): void {
    db.query("UPDATE dedupe_indexed SET through = max(through, ?) WHERE id = 1").run(plan.upTo);
    this.#seen = -1; // the next sync reloads recent from the new mark
    this.#recent.clear();
  }

  /** Deletes records expired at `now` (row and index entry), a chunk per transaction. */
  purgeExpired(db: SqliteDb, now: number): number {
    let total = 0;
    for (;;) {
      const n = db.transaction(() => {
        const doomed = db.query("SELECT seq, key_hash FROM dedupe_log WHERE expires_at <= ? ORDER BY seq LIMIT ?").values(now, PURGE_CHUNK) as [number, number][];
        const dropIndex = db.query("DELETE FROM dedupe_index WHERE key_hash = ? AND seq = ?");
        const dropRow = db.query("DELETE FROM dedupe_log WHERE seq = ?");
        for (const [seq, hash] of doomed) {
          dropIndex.run(hash, seq);
          dropRow.run(seq);
        }
        return doomed.length;
      }).immediate();
      total += n;
      if (n < PURGE_CHUNK) return total;
    }
  }

  row(db: SqliteDb, seq: number): LogRow | null {
    return db.query("SELECT hook, key, status, body, content_type, expires_at FROM dedupe_log WHERE seq = ?").get(seq) as LogRow | null;
  }
}

/** The stored response of a record that is still live at `now`. */
export function live(row: LogRow | null | undefined, now: number): StoredResponse | undefined {
  if (!row || row.expires_at <= now) return undefined;
  const response: StoredResponse = { status: row.status, body: row.body };
  if (row.content_type !== null) response.contentType = row.content_type;
  return response;
}
