// Ack-path benchmark: the receiver against a bare Elysia handler on the same machine, same run.
//   1. throughput: wrk -t1 -c64 (BENCH_CONNECTIONS) for DURATION s against each (target: receiver ≥ 50% of bare);
//   2. latency at a fixed 500 requests/s (open loop, this process; target: p99 < 10 ms);
//   3. peak RSS of each server process (VmHWM from /proc/<pid>/status; target: < 150 MB);
//   4. SQLite and Postgres side by side;
//   5. where the CPU of the wrk run went, in µs per request: the server's event loop, its store
//      thread, its other threads (JIT, GC, pools), and wrk itself (/proc/<pid>/task/*/stat and
//      wrk's rusage). On a 2-core machine their sum bounds the rate: 2 s of CPU per second.
// Usage: bun bench/ack.ts [DURATION=8] [MODES=bare,receiver,receiver-pg] [REPEATS=3]
//   (BENCH_IDS=sequential: wrk sends ordered trigger ids instead of random ones; see ack.lua;
//    BENCH_CONNECTIONS=n: wrk's -c, default 64)
// Modes run interleaved (round 1: every mode, round 2: every mode, starting one later, ...) and the
// summary gives medians over the rounds, and ratios to the bare handler of the same round.
//   bare              an Elysia POST handler that reads the body and answers 204 (the ceiling)
//   bare-bun          the same handler on Bun.serve's routes without Elysia (how listen.ts serves a hook)
//   floor-parse       bare-bun that also parses the body's JSON (the least any receiver does)
//   floor-wait        floor-parse answered after a commit that does no work: serve's GroupCommitter to
//                     a store answering each batch after BENCH_ACCEPT_DELAY_MS (default 1) ms. Both
//                     floors are under the receiver's event loop whatever its store (ack-server.ts)
//   receiver          `kratos-hooks serve --no-worker` as a process, SQLite synchronous=full
//   receiver-deno     `receiver` run by Deno (`deno run -A src/cli.ts serve`: Deno.serve, node:sqlite on
//                     a Web Worker), to compare the runtimes in one run
//   receiver-normal   the same with synchronous=normal
//   receiver-pg       the same on Postgres at 127.0.0.1:5432/test (own schema, dropped after)
//   receiver-nostore  the receiver's pipeline with an accept that commits nothing (ack-server.ts)
//   baseline, baseline-pg  `receiver` and `receiver-pg` run from another checkout, BENCH_BASELINE=<dir>
//                     (e.g. `git worktree add /tmp/kh-before <commit>`), to compare versions in one run
// The serve modes run exactly as deployed, including the JSON request log to stdout (a pipe this
// process drains), except the delivery worker (--no-worker: deliveries are bench/delivery.ts's).
// Results: bench/results/ack.md (append the printout).
import { spawn, SQL, type Subprocess } from "bun";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { hooksYaml } from "./ack-hooks.ts";
import { threadCpu, threadCpuUsed } from "./thread-cpu.ts";

const DURATION = Number(process.argv[2] ?? 8);
const dir = import.meta.dir;
const CLI = join(dir, "../src/cli.ts");
const PG_URL = process.env.KH_BENCH_POSTGRES_URL ?? `postgres://${process.env.PGUSER ?? process.env.USER ?? "postgres"}@127.0.0.1:5432/test`;

type Mode = "bare" | "bare-bun" | "floor-parse" | "floor-wait" | "receiver" | "receiver-deno" | "receiver-normal" | "receiver-pg" | "receiver-nostore" | "baseline" | "baseline-pg";
const BASELINE_CLI = process.env.BENCH_BASELINE ? join(process.env.BENCH_BASELINE, "src/cli.ts") : undefined;
const MODES = (process.argv[3]?.split(",") ?? ["bare", "receiver", "receiver-pg"]) as Mode[];
const REPEATS = Number(process.argv[4] ?? 3);
/** wrk's connections (-c). */
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
/** Trigger ids wrk sends: random v4 as Kratos's (default), or BENCH_IDS=sequential for comparison. */
const IDS = process.env.BENCH_IDS === "sequential" ? "sequential" : "random";

type Server = { proc: Subprocess<"ignore", "pipe", "inherit">; port: number; cleanup(): Promise<void> };


/** Reads stdout lines until one satisfies `found`, then keeps draining (one log line per request). */
async function readUntil<T>(stream: ReadableStream<Uint8Array>, found: (line: string) => T | undefined): Promise<T> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`server exited before it was ready; output: ${buffer}`);
    buffer += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const result = found(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      if (result !== undefined) {
        void (async () => {
          while (!(await reader.read()).done);
        })();
        return result;
      }
    }
  }
}

let schemas = 0;
async function startServer(mode: Mode): Promise<Server> {
  if (mode === "bare" || mode === "bare-bun" || mode === "floor-parse" || mode === "floor-wait" || mode === "receiver-nostore") {
    const proc = spawn(["bun", join(dir, "ack-server.ts"), mode], { stdout: "pipe", stderr: "inherit" });
    const port = await readUntil(proc.stdout, (line) => (/^\d+$/.test(line) ? Number(line) : undefined));
    return { proc, port, cleanup: async () => {} };
  }
  const tmp = mkdtempSync(join(tmpdir(), "kh-bench-ack-"));
  const schema = `kh_bench_ack_${process.pid}_${++schemas}`;
  const pg = mode === "receiver-pg" || mode === "baseline-pg";
  const store = pg ? `${PG_URL}?schema=${schema}` : `sqlite:${join(tmp, "outbox.db")}`;
  const baseline = mode === "baseline" || mode === "baseline-pg";
  if (baseline && !BASELINE_CLI) throw new Error(`mode ${mode} needs BENCH_BASELINE=<dir of another checkout>`);
  const file = join(tmp, "hooks.yaml");
  writeFileSync(file, hooksYaml(store, mode === "receiver-normal" ? "normal" : "full"));
  const cli = mode === "receiver-deno" ? ["deno", "run", "-A", CLI] : ["bun", baseline ? BASELINE_CLI! : CLI];
  const proc = spawn([...cli, "serve", "--config", file, "--no-worker"], {
    stdout: "pipe",
    stderr: "inherit",
    env: { ...process.env, BENCH_SECRET: "bench-secret" },
  });
  const port = await readUntil(proc.stdout, (line) => {
    const record = JSON.parse(line) as { msg?: string; port?: number };
    return record.msg === "listening" ? record.port : undefined;
  });
  return {
    proc,
    port,
    cleanup: async () => {
      rmSync(tmp, { recursive: true, force: true });
      if (pg) {
        const admin = new SQL(PG_URL, { max: 1 });
        await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await admin.close();
      }
    },
  };
}

/** Repeats the receiver answered from a dedupe record: 0 unless the load generator repeated ids. */
async function dedupeHits(port: number): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => "");
  return Number(/^kratos_hooks_dedupe_hits_total\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0);
}

/** Peak resident set size of a live process, in MB (the kernel's high-water mark). */
function peakRssMb(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return kb ? Number(kb) / 1024 : NaN;
}

/** Where a run's CPU went, in µs per request: the server's event loop, its store thread, its other threads, and wrk. */
type CpuSplit = { loop: number; store: number; other: number; wrk: number };

function cpuSplit(before: Map<string, number>, after: Map<string, number>, wrkSeconds: number, requests: number): CpuSplit {
  const used = threadCpuUsed(before, after);
  const perRequest = (seconds: number) => (seconds * 1e6) / Math.max(1, requests);
  const all = [...used.values()].reduce((a, b) => a + b, 0);
  const loop = used.get("event loop") ?? 0;
  const store = used.get("Worker") ?? 0;
  return { loop: perRequest(loop), store: perRequest(store), other: perRequest(all - loop - store), wrk: perRequest(wrkSeconds) };
}

let wrkRuns = 0;
async function wrk(port: number, seconds: number): Promise<{ rps: number; p99: number; errors: number; cpuSeconds: number }> {
  // A fresh seed per run: the ids of one run must not repeat another's (see ack.lua).
  const seed = String((Date.now() % 1_000_000_000) + ++wrkRuns);
  const p = spawn(["wrk", "-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "--latency", "-s", join(dir, "ack.lua"), `http://127.0.0.1:${port}/hooks/bench`, "--", seed, IDS], { stdout: "pipe" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const [, value, unit] = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out) ?? [];
  const p99 = value === undefined ? NaN : Number(value) * (unit === "us" ? 0.001 : unit === "s" ? 1000 : 1);
  const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) + Number(/Socket errors: .*?timeout (\d+)/.exec(out)?.[1] ?? 0);
  return { rps, p99, errors, cpuSeconds: Number(p.resourceUsage()?.cpuTime.total ?? NaN) / 1e6 };
}

async function fixedRate(port: number, rps: number, seconds: number) {
  const latencies: number[] = [];
  let bad = 0;
  const total = rps * seconds;
  const interval = 1000 / rps;
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await Bun.sleep(wait);
    const id = crypto.randomUUID();
    const body = `{\n   "email": "u${i}@example.org",\n   "flow_id": "${id}",\n   "identity_id": "${id}"\n}\n`;
    // Latency is measured from the scheduled time when sent late (open loop: no coordinated
    // omission), from the send when the sleep woke a little early.
    const from = Math.min(due, performance.now());
    inflight.push(
      fetch(`http://127.0.0.1:${port}/hooks/bench`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Hooks-Key": "bench-secret", "Ory-Webhook-Request-Id": id, "Ory-Webhook-Trigger-Id": id },
        body,
      }).then(async (r) => {
        await r.arrayBuffer();
        if (r.status !== 204) bad++;
        latencies.push(performance.now() - from);
      }),
    );
  }
  await Promise.all(inflight);
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
  return { p50: q(0.5), p99: q(0.99), max: q(1), bad };
}

type Run = { round: number; mode: Mode; rps: number; wrkP99: number; p50: number; p99: number; max: number; errors: number; dups: number; rssMb: number; cpu: CpuSplit };
const runs: Run[] = [];
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "?");
const cpuText = (c: CpuSplit) => `${fmt(c.loop)} / ${c.store ? fmt(c.store) : "-"} / ${fmt(c.other)} / ${fmt(c.wrk)}`;
const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");

const denoVersion = MODES.includes("receiver-deno") ? `; ${Bun.spawnSync(["deno", "--version"]).stdout.toString().split("\n")[0]}` : "";
console.log(`machine: ${cpus().length} cores, ${cpus()[0]?.model}; bun ${Bun.version}${denoVersion}; ${new Date().toISOString()}`);
console.log(`wrk -t1 -c${CONNECTIONS} -d${DURATION}s (${IDS} trigger ids) after a 3 s warm-up; open loop 500 req/s for ${DURATION}s; ${REPEATS} rounds of ${MODES.join(",")}\n`);
console.log("| round | server | req/s | wrk p99 ms | 500/s p50 ms | 500/s p99 ms | 500/s max ms | errors | dedupe hits | peak RSS MB | CPU µs/req: loop / store / other / wrk | load avg |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
for (let round = 1; round <= REPEATS; round++) {
  const order = MODES.map((_, i) => MODES[(i + round - 1) % MODES.length]!);
  for (const mode of order) {
    const server = await startServer(mode);
    try {
      await wrk(server.port, 3); // warm-up (JIT, page cache, pool)
      const threads0 = threadCpu(server.proc.pid);
      const w = await wrk(server.port, DURATION);
      const cpu = cpuSplit(threads0, threadCpu(server.proc.pid), w.cpuSeconds, w.rps * DURATION);
      const lat = await fixedRate(server.port, 500, DURATION);
      const run: Run = { round, mode, rps: w.rps, wrkP99: w.p99, ...lat, errors: w.errors + lat.bad, dups: await dedupeHits(server.port), rssMb: peakRssMb(server.proc.pid), cpu };
      runs.push(run);
      console.log(`| ${round} | ${mode} | ${run.rps.toFixed(0)} | ${fmt(run.wrkP99)} | ${fmt(run.p50, 2)} | ${fmt(run.p99, 2)} | ${fmt(run.max)} | ${run.errors} | ${run.dups} | ${fmt(run.rssMb)} | ${cpuText(cpu)} | ${load()} |`);
    } finally {
      server.proc.kill("SIGTERM");
      await server.proc.exited;
      await server.cleanup();
    }
  }
}

const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const bareOf = (round: number) => runs.find((r) => r.round === round && r.mode === "bare")?.rps ?? NaN;
console.log(`\nmedians of ${REPEATS} rounds; ratio = median of (req/s ÷ bare req/s of the same round)\n`);
console.log("| server | req/s | ratio to bare | wrk p99 ms | 500/s p50 ms | 500/s p99 ms | worst 500/s p99 ms | peak RSS MB (max) | errors | CPU µs/req: loop / store / other / wrk |");
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const mode of MODES) {
  const rs = runs.filter((r) => r.mode === mode);
  const ratio = median(rs.map((r) => (r.rps / bareOf(r.round)) * 100));
  console.log(
    `| ${mode} | ${median(rs.map((r) => r.rps)).toFixed(0)} | ${mode === "bare" ? "100 %" : `${fmt(ratio, 0)} %`} | ${fmt(median(rs.map((r) => r.wrkP99)))} | ${fmt(median(rs.map((r) => r.p50)), 2)} | ${fmt(median(rs.map((r) => r.p99)), 2)} | ${fmt(Math.max(...rs.map((r) => r.p99)), 2)} | ${fmt(Math.max(...rs.map((r) => r.rssMb)))} | ${rs.reduce((n, r) => n + r.errors, 0)} | ${cpuText({ loop: median(rs.map((r) => r.cpu.loop)), store: median(rs.map((r) => r.cpu.store)), other: median(rs.map((r) => r.cpu.other)), wrk: median(rs.map((r) => r.cpu.wrk)) })} |`,
  );
}
console.log(`\nload average at the end: ${load()}`);
