// What a SQLite group commit costs, by key order: Store.acceptBatch of 64 acceptances (dedupe
// record + 1 job each, the receiver's payload shape) with sequential trigger ids (what bench/ack.lua
// used to send) against random v4 ones (what Kratos sends), synchronous=full and normal.
// Reports the wall and CPU time per batch over BATCHES batches, and how many pages one commit
// appends to the WAL once the tables hold BATCHES × 64 rows (random keys dirty one leaf of the
// dedupe primary key each). Usage: bun bench/accept-keys.ts [BATCHES=2000]
// Results: bench/results/ack.md.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acceptBatch } from "../src/outbox/sqlite/accept-batch.ts";
import { openSqlite } from "../src/outbox/sqlite/connection.ts";
import { migrate } from "../src/outbox/sqlite/migrate.ts";
import type { Acceptance } from "../src/outbox/store.ts";

const BATCHES = Number(process.argv[2] ?? 2000);
const SAMPLE = 100;

let seq = 0;
function acceptance(keys: "sequential" | "random"): Acceptance {
  const now = Date.now();
  const id = keys === "random" ? crypto.randomUUID() : `12345678-0000-4000-8000-${String(++seq).padStart(12, "0")}`;
  const payload = { body: { email: `u${++seq}@example.org`, flow_id: id, identity_id: id }, hook: "bench", trigger_id: id, request_id: id, received_at: new Date(now).toISOString() };
  return { hook: "bench", key: `bench:trigger:${id}`, response: { status: 204, body: null }, expiresAt: now + 600_000, now, jobs: [{ id: Bun.randomUUIDv7(), hook: "bench", action: "bench.crm", payload, maxAttempts: 10, runAt: now }] };
}

console.log(`bun ${Bun.version}; ${BATCHES} batches of 64, then ${SAMPLE} more to count WAL pages\n`);
console.log("| keys | synchronous | ms per batch (wall) | ms per batch (CPU) | WAL pages per commit |\n|---|---|---|---|---|");
for (const keys of ["sequential", "random"] as const) {
  for (const synchronous of ["full", "normal"] as const) {
    const dir = mkdtempSync(join(tmpdir(), "kh-bench-keys-"));
    const db = openSqlite(join(dir, "outbox.db"), { synchronous });
    migrate(db, Date.now());
    const batches = Array.from({ length: BATCHES }, () => Array.from({ length: 64 }, () => acceptance(keys)));
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (const b of batches) acceptBatch(db, b);
    const wall = (performance.now() - t0) / BATCHES;
    const cpu = process.cpuUsage(cpu0);
    // Empty the WAL, stop automatic checkpoints, and see how much SAMPLE commits append.
    db.run("PRAGMA wal_checkpoint(TRUNCATE)");
    db.run("PRAGMA wal_autocheckpoint = 0");
    for (let i = 0; i < SAMPLE; i++) acceptBatch(db, Array.from({ length: 64 }, () => acceptance(keys)));
    const pageSize = (db.query("PRAGMA page_size").get() as { page_size: number }).page_size;
    const pages = statSync(join(dir, "outbox.db-wal")).size / (pageSize + 24) / SAMPLE; // 24-byte frame header
    console.log(`| ${keys} | ${synchronous} | ${wall.toFixed(2)} | ${((cpu.user + cpu.system) / 1000 / BATCHES).toFixed(2)} | ${pages.toFixed(0)} |`);
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
