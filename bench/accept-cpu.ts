// CPU per acceptance of the SQLite store thread's work, in-process: JSON.parse of the call as the
// thread receives it (thread-host.ts), SqliteStore.acceptBatch of 32 Kratos-shaped acceptances with
// one job each (bench/ack.lua's body), synchronous=full, and the reply's JSON. Process CPU (user +
// system), so the commit's kernel time counts and its wait does not. For comparing checkouts in one
// process, alternating rounds:
//
//   bun bench/accept-cpu.ts <dir> [<dir> ...]     (a dir holds a checkout's src/, e.g. `git archive`)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const N = 32_000;
const BATCH = 32;
const ROUNDS = 5;
const dirs = process.argv.length > 2 ? process.argv.slice(2) : [join(import.meta.dir, "..")];
const tmp = mkdtempSync(join(tmpdir(), "kh-bench-accept-"));

type Store = { migrate(): Promise<void>; acceptBatch(b: unknown[]): Promise<unknown[]>; close(): Promise<void> };
const stores = await Promise.all(
  dirs.map(async (dir, i) => {
    const { SqliteStore } = await import(join(resolve(dir), "src/outbox/sqlite/store.ts"));
    const store = new SqliteStore(join(tmp, `outbox-${i}.db`), { synchronous: "full" }) as Store;
    await store.migrate();
    return { dir, store };
  }),
);

let seq = 0;
function callJson(): string {
  const batch = Array.from({ length: BATCH }, () => {
    const id = crypto.randomUUID();
    const now = Date.now();
    const body = { email: `user${++seq}@example.org`, flow_id: id, identity_id: id };
    const payload = { body, hook: "bench", trigger_id: id, request_id: id, received_at: new Date(now).toISOString() };
    return { hook: "bench", key: `bench:trigger:${id}`, response: { status: 204, body: null }, expiresAt: now + 86_400_000, now, jobs: [{ id: Bun.randomUUIDv7(), hook: "bench", action: "crm", payload, maxAttempts: 5, runAt: now, triggerId: id, identityId: crypto.randomUUID(), traceparent: null }] };
  });
  return JSON.stringify({ id: 1, op: "acceptBatch", args: [batch] });
}

async function measure(store: Store): Promise<number> {
  const calls = Array.from({ length: N / BATCH }, callJson);
  const cpu0 = process.cpuUsage();
  for (const text of calls) {
    const call = JSON.parse(text) as { args: [unknown[]] };
    JSON.stringify({ id: 1, value: await store.acceptBatch(call.args[0]) });
  }
  const d = process.cpuUsage(cpu0);
  return (d.user + d.system) / N;
}

for (const s of stores) await measure(s.store); // warm-up
const results = new Map<string, number[]>();
for (let r = 0; r < ROUNDS; r++) {
  for (const s of r % 2 ? [...stores].reverse() : stores) results.set(s.dir, [...(results.get(s.dir) ?? []), await measure(s.store)]);
}
for (const [dir, xs] of results) {
  const sorted = [...xs].sort((a, b) => a - b);
  console.log(`${dir}: median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} µs CPU per acceptance (rounds: ${xs.map((x) => x.toFixed(1)).join(", ")})`);
}
for (const s of stores) await s.store.close();
rmSync(tmp, { recursive: true, force: true });
