// Commits a batch of acceptances in one IMMEDIATE transaction (one fsync for the batch). Under the
// write lock, the dedupe log first catches up with other connections' rows, then each acceptance
// is looked up: a live record of its key makes it a duplicate (its stored response, no jobs);
// otherwise its record is appended and its jobs inserted. A repeat within the batch is answered by
// the record the earlier acceptance appends. Everything written is an append (dedupe-log.ts).
//
// Per batch, not per acceptance: the index lookups of the keys not in memory, the records, and
// the jobs each go in a few multi-row statements (chunks of CHUNKS rows), prepared once per
// connection and held here. Measured per acceptance (batches of 32, synchronous=full, process
// CPU, bench/results/ack.md, issue 15's seventh session): a statement per row through db.query()
// 15.3 µs, the same statements held 13.7, multi-row 11.3 (rows from json_each of one JSON text:
// 17.4). They are held here, not in bun:sqlite's query cache: it keeps 20 texts, and a text per
// chunk size would push the store's other statements out (tried earlier that day through db.query():
// the store thread's CPU rose under wrk).
import type { SqliteDb, SqliteStatement } from "./driver.ts";
import type { Acceptance, AcceptResult } from "../store.ts";
import { ACCEPTANCE_FIELDS, acceptResults, acceptRows, JOB_FIELDS, type AcceptRows, type Duplicates } from "./accept-rows.ts";
import { live, recordHash, recordId, type DedupeLog, type LogRow } from "./dedupe-log.ts";

/** Rows per statement, largest first: a count is split greedily (29 = 16 + 8 + 4 + 1). */
const CHUNKS = [32, 16, 8, 4, 2, 1];

const JOB_COLUMNS = 10;
const RECORD_COLUMNS = 8;

type Chunked = Map<number, SqliteStatement>;
type Statements = { jobs: Chunked; records: Chunked; index: Chunked };

const held = new WeakMap<SqliteDb, Statements>();

function chunked(db: SqliteDb, sql: (n: number) => string): Chunked {
  return new Map(CHUNKS.map((n) => [n, db.prepare(sql(n))]));
}

function statements(db: SqliteDb): Statements {
  let st = held.get(db);
  if (!st) {
    const rows = (n: number, width: number, row: (at: number) => string) => Array.from({ length: n }, (_, i) => row(i * width)).join(", ");
    st = {
      // created_at and updated_at both take the acceptance's now (?8).
      jobs: chunked(
        db,
        (n) =>
          `INSERT INTO jobs (id, hook, action, payload, state, attempts, max_attempts, run_at, created_at, updated_at, trigger_id, identity_id, traceparent) VALUES ${rows(n, JOB_COLUMNS, (p) => `(?${p + 1}, ?${p + 2}, ?${p + 3}, ?${p + 4}, 'pending', 0, ?${p + 5}, ?${p + 6}, ?${p + 7}, ?${p + 7}, ?${p + 8}, ?${p + 9}, ?${p + 10})`)}`,
      ),
      records: chunked(
        db,
        (n) =>
          `INSERT INTO dedupe_log (hook, key, key_hash, status, body, content_type, expires_at, created_at) VALUES ${rows(n, RECORD_COLUMNS, (p) => `(${Array.from({ length: RECORD_COLUMNS }, (_, c) => `?${p + c + 1}`).join(", ")})`)}`,
      ),
      index: chunked(db, (n) => `SELECT key_hash, seq FROM dedupe_index WHERE key_hash IN (${Array.from({ length: n }, (_, i) => `?${i + 1}`).join(", ")})`),
    };
    held.set(db, st);
  }
  return st;
}

/** Finalizes the statements held for `db` (before it is closed: see SqliteStatement.finalize). */
export function releaseAcceptStatements(db: SqliteDb): void {
  const st = held.get(db);
  if (!st) return;
  held.delete(db);
  for (const chunked of [st.jobs, st.records, st.index]) for (const stmt of chunked.values()) stmt.finalize();
}

/** Runs `each` over `params` (rows of `width` values) in chunked statements, largest chunks first. */
function inChunks(stmts: Chunked, params: unknown[], width: number, each: (stmt: SqliteStatement, rows: unknown[], first: number, n: number) => void): void {
  let row = 0;
  const total = params.length / width;
  while (row < total) {
    const n = CHUNKS.find((c) => c <= total - row)!;
    each(stmts.get(n)!, params.slice(row * width, (row + n) * width), row, n);
    row += n;
  }
}

/** The batch as objects (SqliteStore.acceptBatch, tests): see acceptRowsIn. */
export function acceptBatch(db: SqliteDb, dedupe: DedupeLog, batch: Acceptance[]): AcceptResult[] {
  return acceptResults(batch.length, acceptRowsIn(db, dedupe, acceptRows(batch)));
}

/** Commits the batch; returns its duplicates. On an error nothing of it is stored. */
export function acceptRowsIn(db: SqliteDb, dedupe: DedupeLog, rows: AcceptRows): Duplicates {
  const st = statements(db);
  try {
    return db.transaction(() => {
      dedupe.sync(db);
      return commit(db, st, dedupe, rows);
    }).immediate();
  } catch (err) {
    dedupe.reset(); // it may have cached rows the rollback removed
    throw err;
  }
}

/** What an acceptance appended earlier in this batch left as its record. */
type Appended = { at: number; expiresAt: number };

function commit(db: SqliteDb, st: Statements, dedupe: DedupeLog, rows: AcceptRows): Duplicates {
  const f = rows.fields;
  const base = rows.base;
  // Where each acceptance's fields start, its recordId and key hash.
  const starts: number[] = [];
  const ids: string[] = [];
  const hashes: number[] = [];
  /** Hashes of the keys not in the recent map: their records, if any, are in dedupe_index. */
  const unknown: number[] = [];
  for (let at = 0; at < f.length; at += ACCEPTANCE_FIELDS + (f[at + 7] as number) * JOB_FIELDS) {
    const id = recordId(f[at] as string, f[at + 1] as string);
    const hash = recordHash(id);
    starts.push(at);
    ids.push(id);
    hashes.push(hash);
    if (dedupe.recentSeq(id) === undefined) unknown.push(hash);
  }
  const indexed = new Map<number, number[]>();
  if (unknown.length) {
    inChunks(st.index, unknown, 1, (stmt, params) => {
      for (const [hash, seq] of stmt.values(...params) as [number, number][]) {
        const seqs = indexed.get(hash);
        if (!seqs) indexed.set(hash, [seq]);
        else if (!seqs.includes(seq)) seqs.push(seq); // a hash twice in one IN list
      }
    });
  }

  const duplicates: Duplicates = [];
  const records: unknown[] = [];
  const jobs: unknown[] = [];
  const fresh: string[] = [];
  const appended = new Map<string, Appended>();
  for (let i = 0; i < starts.length; i++) {
    const at = starts[i]!;
    const id = ids[i]!;
    const now = base + (f[at + 6] as number);
    // The newest record of the key: one this batch appends, else one not yet indexed, else the index's.
    const earlier = appended.get(id);
    let stored: { status: unknown; body: unknown; contentType: unknown } | undefined;
    if (earlier) {
      if (earlier.expiresAt > now) stored = { status: f[earlier.at + 2], body: f[earlier.at + 3], contentType: f[earlier.at + 4] };
    } else {
      const seq = dedupe.recentSeq(id);
      const row: LogRow | null | undefined =
        seq !== undefined ? dedupe.row(db, seq) : indexed.has(hashes[i]!) ? dedupe.indexedRow(db, f[at] as string, f[at + 1] as string, indexed.get(hashes[i]!)!) : undefined;
      const response = live(row, now);
      if (response) stored = { status: response.status, body: response.body, contentType: response.contentType ?? null };
    }
    if (stored) {
      duplicates.push(i, stored.status, stored.body, stored.contentType);
      continue;
    }
    const expiresAt = base + (f[at + 5] as number);
    appended.set(id, { at, expiresAt });
    fresh.push(id);
    records.push(f[at], f[at + 1], hashes[i], f[at + 2], f[at + 3], f[at + 4], expiresAt, now);
    const jobCount = f[at + 7] as number;
    for (let j = at + ACCEPTANCE_FIELDS; j < at + ACCEPTANCE_FIELDS + jobCount * JOB_FIELDS; j += JOB_FIELDS) {
      // id, hook, action, payload, max_attempts, run_at, created_at = updated_at, trigger_id, identity_id, traceparent
      jobs.push(f[j], f[j + 1], f[j + 2], rows.payloads[f[j + 8] as number], f[j + 3], base + (f[j + 4] as number), now, f[j + 5], f[j + 6], f[j + 7]);
    }
  }

  inChunks(st.records, records, RECORD_COLUMNS, (stmt, params, first, n) => {
    // One INSERT of n rows under the write lock numbers them consecutively (AUTOINCREMENT: each
    // new seq is one above the largest ever used), so the last seq gives every row's.
    const last = Number(stmt.run(...params).lastInsertRowid);
    for (let k = 0; k < n; k++) dedupe.appended(fresh[first + k]!, last - n + 1 + k);
  });
  if (jobs.length) inChunks(st.jobs, jobs, JOB_COLUMNS, (stmt, params) => void stmt.run(...params));
  return duplicates;
}
