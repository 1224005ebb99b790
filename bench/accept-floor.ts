// What a durable acceptance costs at the least, next to the store as it is: process CPU per
// acceptance (user + system, so the commit's kernel time counts and its wait does not), batches of
// 32 (BATCH=n) Kratos-shaped acceptances with one job each (ack-hooks.ts benchAcceptances, as accept-cpu.ts),
// alternating rounds in one process. Each floor leaves something out that serve needs, so none of
// them is a design; together they bound what any redesign of the store thread could save.
//
//   store          the SQLite store thread's work as merged: the batch's message read, dedupe
//                  lookups, a dedupe record and a job row per acceptance, one commit (full)
//   jobs, full     the job rows alone (no dedupe record, no lookups, no message), one multi-row
//                  INSERT into the real jobs table with its indexes, one commit, synchronous=full
//   table, full    the same rows into a table with no index besides its rowid, synchronous=full
//   table, off     the same with synchronous=off: SQLite's b-tree work without any fsync
//   journal        no SQLite: the batch's message appended to a file and fdatasync'd
//
//   bun bench/accept-floor.ts          Results: bench/results/ack.md
import { Database } from "bun:sqlite";
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { acceptMessage, acceptRows, readAcceptMessage } from "../src/outbox/sqlite/accept-rows.ts";
import { SqliteStore } from "../src/outbox/sqlite/store.ts";
import type { Acceptance } from "../src/outbox/store.ts";
import { benchAcceptances } from "./ack-hooks.ts";

const N = Number(process.env.N ?? 32_000);
const BATCH = Number(process.env.BATCH ?? 32);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const tmp = mkdtempSync(join(tmpdir(), "kh-bench-accept-floor-"));

const batch = () => benchAcceptances(BATCH) as Acceptance[];

/** One way of making a batch durable: `prepare` runs before the clock (building its input), `run` is timed. */
type Floor = { name: string; prepare(b: Acceptance[]): unknown; run(input: unknown): void; close(): void };

const JOB_COLS = "id, hook, action, payload, state, attempts, max_attempts, run_at, created_at, updated_at, trigger_id, identity_id, traceparent";
function jobParams(b: Acceptance[]): unknown[] {
  return b.flatMap((a) => a.jobs.map((j) => [j.id, j.hook, j.action, JSON.stringify(j.payload), "pending", 0, j.maxAttempts, j.runAt, a.now, a.now, j.triggerId, j.identityId, j.traceparent])).flat();
}
const rowsSql = (table: string, n: number) => `INSERT INTO ${table} (${JOB_COLS}) VALUES ${Array.from({ length: n }, () => `(${Array(13).fill("?").join(", ")})`).join(", ")}`;

function sqliteFloor(name: string, file: string, table: string, synchronous: "FULL" | "OFF", create?: string): Floor {
  const db = new Database(file);
  db.run("PRAGMA journal_mode = WAL");
  db.run(`PRAGMA synchronous = ${synchronous}`);
  if (create) db.run(create);
  const insert = db.prepare(rowsSql(table, BATCH));
  return {
    name,
    prepare: jobParams,
    run: (params) => {
      db.run("BEGIN IMMEDIATE");
      insert.run(...(params as never[]));
      db.run("COMMIT");
    },
    close: () => {
      insert.finalize();
      db.close();
    },
  };
}

// The store as merged, as its thread runs it: the message text in, rows committed (accept-cpu.ts).
const store = new SqliteStore(join(tmp, "store.db"), { synchronous: "full" });
await store.migrate();
// The real jobs table with its indexes: a second migrated file, written around the store.
const jobsFile = join(tmp, "jobs.db");
const migrated = new SqliteStore(jobsFile, { synchronous: "full" });
await migrated.migrate();
await migrated.close();
const journalFd = openSync(join(tmp, "journal"), "a");

const floors: Floor[] = [
  { name: "store", prepare: (b) => acceptMessage(1, acceptRows(b)), run: (m) => void store.acceptRows(readAcceptMessage(m as string)), close: () => {} },
  sqliteFloor("jobs, full", jobsFile, "jobs", "FULL"),
  sqliteFloor("table, full", join(tmp, "table-full.db"), "t", "FULL", `CREATE TABLE t (${JOB_COLS})`),
  sqliteFloor("table, off", join(tmp, "table-off.db"), "t", "OFF", `CREATE TABLE t (${JOB_COLS})`),
  {
    name: "journal",
    prepare: (b) => acceptMessage(1, acceptRows(b)),
    run: (m) => {
      writeSync(journalFd, `${m as string}\n`);
      fdatasyncSync(journalFd);
    },
    close: () => closeSync(journalFd),
  },
];

function measure(f: Floor): number {
  const inputs = Array.from({ length: N / BATCH }, () => f.prepare(batch()));
  const cpu0 = process.cpuUsage();
  for (const input of inputs) f.run(input);
  const d = process.cpuUsage(cpu0);
  return (d.user + d.system) / N;
}

for (const f of floors) measure(f); // warm-up
const results = new Map<string, number[]>(floors.map((f) => [f.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  const order = floors.map((_, i) => floors[(i + r) % floors.length]!);
  for (const f of order) results.get(f.name)!.push(measure(f));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(results.get("store")!);
console.log(`${cpus().length} cores, ${cpus()[0]?.model}; bun ${Bun.version}; ${new Date().toISOString()}; N=${N}, batches of ${BATCH}, ${ROUNDS} rounds; load ${loadavg().map((x) => x.toFixed(1)).join(" ")}`);
console.log("\n| floor | CPU µs per acceptance (median) | of the store's | rounds |\n|---|---|---|---|");
for (const [name, xs] of results) console.log(`| ${name} | ${median(xs).toFixed(2)} | ${((median(xs) / base) * 100).toFixed(0)} % | ${xs.map((x) => x.toFixed(1)).join(", ")} |`);
for (const f of floors) f.close();
await store.close();
rmSync(tmp, { recursive: true, force: true });
