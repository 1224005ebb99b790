// What a SQLite group commit costs, by dedupe layout and key order: 64 acceptances per
// transaction (dedupe record + 1 job each, the receiver's payload shape), random v4 trigger ids
// (what Kratos sends) or sequential ones, synchronous=full and normal.
// - v1: the dedupe record keyed by (hook, key) in a B-tree (migration 1; the layout before
//   dedupe-log.ts), reproduced here as the baseline.
// - v2: the shipped layout: append-only dedupe_log, key index built in bulk every 16,384 rows
//   (src/outbox/sqlite/dedupe-log.ts); the flushes run inside the timed loop, so they are counted.
// Reports wall and CPU time per batch over BATCHES batches, and the WAL pages one acknowledgement
// commit appends once the tables hold BATCHES × 64 rows.
// Usage: bun bench/accept-keys.ts [BATCHES=2000]. Results: bench/results/ack.md.
import type { SqliteDb } from "../src/outbox/sqlite/driver.ts";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQLITE_MIGRATIONS } from "../src/outbox/migrations/sqlite.ts";
import { acceptBatch } from "../src/outbox/sqlite/accept-batch.ts";
import { openSqlite } from "../src/outbox/sqlite/connection.ts";
import { DedupeLog } from "../src/outbox/sqlite/dedupe-log.ts";
import { migrate } from "../src/outbox/sqlite/migrate.ts";
import type { Acceptance, AcceptResult } from "../src/outbox/store.ts";

const BATCHES = Number(process.argv[2] ?? 2000);
const SAMPLE = 100;

let seq = 0;
function acceptance(keys: "sequential" | "random"): Acceptance {
  const now = Date.now();
  const id = keys === "random" ? crypto.randomUUID() : `12345678-0000-4000-8000-${String(++seq).padStart(12, "0")}`;
  const payload = { body: { email: `u${++seq}@example.org`, flow_id: id, identity_id: id }, hook: "bench", trigger_id: id, request_id: id, received_at: new Date(now).toISOString() };
  return { hook: "bench", key: `bench:trigger:${id}`, response: { status: 204, body: null }, expiresAt: now + 600_000, now, jobs: [{ id: Bun.randomUUIDv7(), hook: "bench", action: "bench.crm", payload, maxAttempts: 10, runAt: now }] };
}

/** The v1 acceptance: an upsert on the (hook, key) primary key per acceptance. */
function v1(db: SqliteDb): (batch: Acceptance[]) => AcceptResult[] {
  db.run(SQLITE_MIGRATIONS[0]!.sql);
  const claimKey = db.query(`
    INSERT INTO dedupe (hook, key, status, body, content_type, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
    ON CONFLICT (hook, key) DO UPDATE SET status = excluded.status, body = excluded.body, content_type = excluded.content_type,
      expires_at = excluded.expires_at, created_at = excluded.created_at
    WHERE dedupe.expires_at <= ?7 RETURNING 1 AS fresh`);
  const enqueue = db.query(`INSERT INTO jobs (id, hook, action, payload, state, attempts, max_attempts, run_at, created_at, updated_at)
    VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?6, ?7, ?7)`);
  return (batch) =>
    db.transaction(() =>
      batch.map((a): AcceptResult => {
        if (!claimKey.get(a.hook, a.key, a.response.status, a.response.body, a.response.contentType ?? null, a.expiresAt, a.now)) return { duplicate: true, response: a.response };
        for (const j of a.jobs) enqueue.run(j.id, j.hook, j.action, JSON.stringify(j.payload), j.maxAttempts, j.runAt, a.now);
        return { duplicate: false };
      }),
    ).immediate();
}

function v2(db: SqliteDb): (batch: Acceptance[]) => AcceptResult[] {
  migrate(db, Date.now());
  const dedupe = new DedupeLog();
  return (batch) => {
    const results = acceptBatch(db, dedupe, batch);
    if (dedupe.pending >= dedupe.flushRows) dedupe.flushIndex(db);
    return results;
  };
}

console.log(`bun ${Bun.version}; ${BATCHES} batches of 64, then ${SAMPLE} more to count WAL pages\n`);
console.log("| layout | keys | synchronous | ms per batch (wall) | ms per batch (CPU) | µs CPU per acceptance | WAL pages per commit |\n|---|---|---|---|---|---|---|");
for (const [layout, open] of [["v1", v1], ["v2", v2]] as const) {
  for (const keys of ["random", "sequential"] as const) {
    for (const synchronous of ["full", "normal"] as const) {
      const dir = mkdtempSync(join(tmpdir(), "kh-bench-keys-"));
      const db = openSqlite(join(dir, "outbox.db"), { synchronous });
      const accept = open(db);
      const batches = Array.from({ length: BATCHES }, () => Array.from({ length: 64 }, () => acceptance(keys)));
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      for (const b of batches) accept(b);
      const wall = (performance.now() - t0) / BATCHES;
      const used = process.cpuUsage(cpu0);
      const cpu = (used.user + used.system) / 1000 / BATCHES;
      // Empty the WAL, stop automatic checkpoints, and see how much SAMPLE commits append.
      db.run("PRAGMA wal_checkpoint(TRUNCATE)");
      db.run("PRAGMA wal_autocheckpoint = 0");
      for (let i = 0; i < SAMPLE; i++) accept(Array.from({ length: 64 }, () => acceptance(keys)));
      const pageSize = (db.query("PRAGMA page_size").get() as { page_size: number }).page_size;
      const pages = statSync(join(dir, "outbox.db-wal")).size / (pageSize + 24) / SAMPLE; // 24-byte frame header
      console.log(`| ${layout} | ${keys} | ${synchronous} | ${wall.toFixed(2)} | ${cpu.toFixed(2)} | ${((cpu * 1000) / 64).toFixed(1)} | ${pages.toFixed(0)} |`);
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
