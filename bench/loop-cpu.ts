// Event-loop CPU per webhook of the whole ack path as `serve` runs it, in-process and without
// sockets: the hook's route (auth, body limit, JSON, schema, dedupe key, recent answers, 1 job,
// metrics, the JSON request log to process.stdout with serve's redactor) → serve's GroupCommitter
// (32 × 2 in flight, no idle wait) → the SQLite store thread (synchronous=full) → the answer. 64
// callers, as wrk -c64 keeps 64 requests in flight. Reported per request: this thread's CPU
// (CLOCK_THREAD_CPUTIME_ID through bun:ffi) and the store thread's (/proc). Requests are built
// before the clock starts. For comparing checkouts in one process, alternating rounds:
//
//   bun bench/loop-cpu.ts <dir> [<dir> ...] | cat >/dev/null     (a dir holds a checkout's src/)
//
// `nostore:<dir>` as a dir: that checkout's route with an accept that answers at once, to see the
// route apart from the group commit and the hand-off to the store thread; `gc:<dir>`: through the
// GroupCommitter, to a store that answers each batch "all new" after setImmediate; `build:<dir>`:
// the same, after building the store thread's message of the batch (accept-rows.ts), not sent;
// `delay:<dir>`: as `gc:` but each batch answered after a 1 ms timer, as a commit takes about that.
//
// With several dirs, each after the first is also given as the median of its per-round
// differences from the first (rounds drift more than most changes move the figure).
//
// stdout carries only the log lines (pipe it, as a deployment does); results go to stderr.
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { benchRequest as request, hooksYaml } from "./ack-hooks.ts";
import { ownThreadCpuUs, threadCpu } from "./thread-cpu.ts";

const N = Number(process.env.N ?? 32_000);
const CALLERS = 64;
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const dirs = process.argv.length > 2 ? process.argv.slice(2) : [join(import.meta.dir, "..")];
const tmp = mkdtempSync(join(tmpdir(), "kh-bench-loop-"));

type Handle = (r: Request) => Promise<Response>;
type Setup = { dir: string; handle: Handle; batches(): number; close(): Promise<void> };
const env = { BENCH_SECRET: "bench-secret" };

async function load(dir: string, i: number): Promise<Setup> {
  // `nostore:<dir>`: that checkout with an accept that answers "new" at once (no GroupCommitter, no store).
  const mode = /^(nostore|gc|build|delay):/.exec(dir)?.[1];
  const root = resolve(mode ? dir.slice(mode.length + 1) : dir);
  const { loadConfigText } = await import(join(root, "src/config/load.ts"));
  const { createApp } = await import(join(root, "src/server/app.ts"));
  const { createLogger } = await import(join(root, "src/server/log.ts"));
  const { knownSecrets } = await import(join(root, "src/secrets.ts"));
  const { GroupCommitter } = await import(join(root, "src/outbox/group-commit.ts"));
  const { SqliteThreadStore } = await import(join(root, "src/outbox/sqlite/thread-store.ts"));
  const config = loadConfigText(hooksYaml(`sqlite:${join(tmp, `outbox-${i}.db`)}`, "full"), join(tmp, "hooks.yaml"), { env, cwd: tmp });
  const { acceptMessage, acceptRows } = await import(join(root, "src/outbox/sqlite/accept-rows.ts"));
  const store = new SqliteThreadStore(join(tmp, `outbox-${i}.db`), { synchronous: "full" });
  await store.migrate();
  const answerLater = <T>(value: T) => new Promise<T>((r) => (mode === "delay" ? setTimeout(() => r(value), 1) : setImmediate(() => r(value))));
  const fake =
    mode === "gc" || mode === "delay"
      ? { acceptBatch: (b: unknown[]) => answerLater(b.map(() => ({ duplicate: false }))) }
      : mode === "build"
        ? { acceptBatch: (b: unknown[]) => answerLater((acceptMessage(1, acceptRows(b)), b.map(() => ({ duplicate: false })))) }
        : undefined;
  const committer = new GroupCommitter(fake ?? store, { maxWaitMs: 2, maxBatch: Number(process.env.BATCH ?? 32), maxInFlight: Number(process.env.INFLIGHT ?? 2), goWhenIdle: true });
  const log = createLogger({ level: "info", redactor: knownSecrets(config, env) });
  const accept = mode === "nostore" ? async () => ({ duplicate: false }) : (a: unknown) => committer.accept(a);
  const receiver = createApp({ config, accept, store, log, env });
  return {
    dir,
    handle: receiver.routes[0].handle,
    batches: () => (mode === "nostore" ? 0 : committer.stats.batches),
    close: async () => {
      await committer.close();
      await store.close();
    },
  };
}


async function measure(s: Setup, n: number) {
  const reqs = Array.from({ length: n }, request);
  await new Promise((r) => setImmediate(r));
  const w0 = threadCpu().get("Worker") ?? 0;
  const b0 = s.batches();
  const t0 = ownThreadCpuUs();
  let next = 0;
  const caller = async () => {
    while (next < n) {
      const res = await s.handle(reqs[next++]!);
      if (res.status !== 204) throw new Error(`answered ${res.status}: ${await res.text()}`);
    }
  };
  await Promise.all(Array.from({ length: CALLERS }, caller));
  // The store thread's CPU includes every store in this process; only one commits at a time.
  return { loop: (ownThreadCpuUs() - t0) / n, store: (((threadCpu().get("Worker") ?? 0) - w0) * 1e6) / n, batch: n / (s.batches() - b0) };
}

const setups: Setup[] = [];
for (const [i, dir] of dirs.entries()) setups.push(await load(dir, i));
for (let w = 0; w < 2; w++) for (const s of setups) await measure(s, 8_000); // warm-up
const results = new Map<string, { loop: number; store: number; batch: number }[]>();
for (let r = 0; r < ROUNDS; r++) {
  for (const s of r % 2 ? [...setups].reverse() : setups) {
    const m = await measure(s, N);
    results.set(s.dir, [...(results.get(s.dir) ?? []), m]);
    console.error(`round ${r + 1} ${s.dir}: loop ${m.loop.toFixed(2)} µs/request, store thread ${m.store.toFixed(2)}`);
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.error(`N=${N} per round, ${ROUNDS} rounds, ${CALLERS} callers; load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
for (const [dir, xs] of results) {
  console.error(
    `${dir}: event loop median ${med(xs.map((x) => x.loop)).toFixed(2)} µs/request (${xs.map((x) => x.loop.toFixed(2)).join(", ")}); ` +
      `store thread ${med(xs.map((x) => x.store)).toFixed(2)} (${xs.map((x) => x.store.toFixed(1)).join(", ")}); batch ${med(xs.map((x) => x.batch)).toFixed(1)}`,
  );
}
// Rounds drift with the machine (the same checkout varies ±30 % between rounds on a shared VM),
// more than most changes move it; each round measures every dir back to back, so the difference
// within a round is the figure to read: its median, and in how many rounds the dir was lower.
const [first, ...rest] = [...results.entries()];
if (first)
  for (const [dir, xs] of rest) {
    const deltas = xs.map((x, r) => x.loop - first[1][r]!.loop);
    console.error(`${dir} vs ${first[0]}: event loop ${med(deltas) >= 0 ? "+" : ""}${med(deltas).toFixed(2)} µs/request (median of the rounds' differences; lower in ${deltas.filter((d) => d < 0).length} of ${deltas.length} rounds)`);
  }
for (const s of setups) await s.close();
rmSync(tmp, { recursive: true, force: true });
