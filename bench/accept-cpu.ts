// CPU per acceptance of the SQLite store thread's work, in-process: reading the call as the thread
// receives it (thread-host.ts: JSON.parse, or since the seventh session of issue 15 the compact
// form of accept-rows.ts), the store's commit of 32 (BATCH=n: n) Kratos-shaped acceptances with one job each
// (bench/ack.lua's body), synchronous=full, and the reply's JSON. Process CPU (user +
// system), so the commit's kernel time counts and its wait does not. For comparing checkouts in one
// process, alternating rounds:
//
//   [BATCH=32] bun bench/accept-cpu.ts <dir> [<dir> ...]     (a dir holds a checkout's src/, e.g. `git archive`)
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { benchAcceptances } from "./ack-hooks.ts";

const N = 32_000;
const BATCH = Number(process.env.BATCH ?? 32);
const ROUNDS = 5;
const dirs = process.argv.length > 2 ? process.argv.slice(2) : [join(import.meta.dir, "..")];
const tmp = mkdtempSync(join(tmpdir(), "kh-bench-accept-"));

type Store = { migrate(): Promise<void>; acceptBatch(b: unknown[]): Promise<unknown[]>; acceptRows?(rows: unknown): unknown[]; close(): Promise<void> };
/** A checkout's thread-side handling of one acceptBatch call, from the message text to the reply text. */
type Handle = (message: string) => Promise<string>;
/** The message its thread-store.ts posts for a batch. */
type Encode = (batch: unknown[]) => string;
const stores = await Promise.all(
  dirs.map(async (dir, i) => {
    const { SqliteStore } = await import(join(resolve(dir), "src/outbox/sqlite/store.ts"));
    const store = new SqliteStore(join(tmp, `outbox-${i}.db`), { synchronous: "full" }) as Store;
    await store.migrate();
    const rowsModule = join(resolve(dir), "src/outbox/sqlite/accept-rows.ts");
    if (existsSync(rowsModule)) {
      const { acceptMessage, acceptRows, readAcceptMessage } = await import(rowsModule);
      const encode: Encode = (batch) => acceptMessage(1, acceptRows(batch));
      const handle: Handle = async (message) => JSON.stringify({ id: 1, value: store.acceptRows!(readAcceptMessage(message)) });
      return { dir, store, encode, handle };
    }
    const encode: Encode = (batch) => JSON.stringify({ id: 1, op: "acceptBatch", args: [batch] });
    const handle: Handle = async (message) => JSON.stringify({ id: 1, value: await store.acceptBatch((JSON.parse(message) as { args: [unknown[]] }).args[0]) });
    return { dir, store, encode, handle };
  }),
);

const batch = () => benchAcceptances(BATCH);

async function measure(s: { encode: Encode; handle: Handle }): Promise<number> {
  const calls = Array.from({ length: N / BATCH }, () => s.encode(batch()));
  const cpu0 = process.cpuUsage();
  for (const text of calls) await s.handle(text);
  const d = process.cpuUsage(cpu0);
  return (d.user + d.system) / N;
}

for (const s of stores) await measure(s); // warm-up
const results = new Map<string, number[]>();
for (let r = 0; r < ROUNDS; r++) {
  for (const s of r % 2 ? [...stores].reverse() : stores) results.set(s.dir, [...(results.get(s.dir) ?? []), await measure(s)]);
}
for (const [dir, xs] of results) {
  const sorted = [...xs].sort((a, b) => a - b);
  console.log(`${dir}: median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} µs CPU per acceptance (rounds: ${xs.map((x) => x.toFixed(1)).join(", ")})`);
}
for (const s of stores) await s.store.close();
rmSync(tmp, { recursive: true, force: true });
