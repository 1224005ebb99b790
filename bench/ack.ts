// Ack-path benchmark: the receiver against a bare Elysia handler on the same machine.
//   1. throughput: wrk -t1 -c64 for DURATION s against each (target: receiver ≥ 50% of bare);
//   2. latency at a fixed 500 requests/s (open loop, this process; target: p99 < 10 ms).
// Usage: bun bench/ack.ts [DURATION=10] [MODES=bare,receiver]  (also receiver-normal: SQLite
// synchronous=normal; receiver-nostore: the pipeline with an accept that commits nothing).
// BENCH_LOG=1 makes the receiver write its JSON request log to stdout, as `serve` does.   Results: bench/results/ack.md (append the printout).
import { spawn } from "bun";
import { join } from "node:path";

const DURATION = Number(process.argv[2] ?? 10);
const dir = import.meta.dir;

type Mode = "bare" | "receiver" | "receiver-normal" | "receiver-nostore";
const MODES = (process.argv[3]?.split(",") ?? ["bare", "receiver"]) as Mode[];

async function startServer(mode: Mode) {
  const proc = spawn(["bun", join(dir, "ack-server.ts"), mode], { stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  const { value } = await reader.read();
  const port = Number(new TextDecoder().decode(value).trim().split("\n")[0]);
  // Keep draining: with BENCH_LOG=1 the server writes a log line per request.
  void (async () => {
    while (!(await reader.read()).done);
  })();
  return { proc, port };
}

async function wrk(port: number): Promise<{ rps: number; p99: string; errors: string }> {
  const p = spawn(["wrk", "-t1", "-c64", `-d${DURATION}s`, "--latency", "-s", join(dir, "ack.lua"), `http://127.0.0.1:${port}/hooks/bench`], { stdout: "pipe" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const p99 = /\s99%\s+(\S+)/.exec(out)?.[1] ?? "?";
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? "0";
  return { rps, p99, errors };
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
    // Latency is measured from the scheduled time (open loop: no coordinated omission).
    inflight.push(
      fetch(`http://127.0.0.1:${port}/hooks/bench`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Hooks-Key": "bench-secret", "Ory-Webhook-Request-Id": id, "Ory-Webhook-Trigger-Id": id },
        body,
      }).then(async (r) => {
        await r.arrayBuffer();
        if (r.status !== 204) bad++;
        latencies.push(performance.now() - due);
      }),
    );
  }
  await Promise.all(inflight);
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(2);
  return { n: latencies.length, p50: q(0.5), p99: q(0.99), max: q(1), bad };
}

const results: Array<{ mode: Mode; rps: number; p99: string; errors: string }> = [];
for (const mode of MODES) {
  const { proc, port } = await startServer(mode);
  await wrk(port); // warm-up (JIT, SQLite page cache)
  results.push({ mode, ...(await wrk(port)) });
  if (mode !== "bare") {
    const lat = await fixedRate(port, 500, DURATION);
    console.log(`${mode} at 500 req/s for ${DURATION}s: n=${lat.n} p50=${lat.p50}ms p99=${lat.p99}ms max=${lat.max}ms non-204=${lat.bad}`);
  }
  proc.kill();
  await proc.exited;
}
// Modes may repeat (interleaved runs on a noisy machine): compare the means.
const mean = (m: Mode) => {
  const rs = results.filter((r) => r.mode === m).map((r) => r.rps);
  return rs.length ? rs.reduce((a, b) => a + b, 0) / rs.length : NaN;
};
console.log(`bun ${Bun.version}, wrk -t1 -c64 -d${DURATION}s`);
console.log("| server | req/s | wrk p99 | non-2xx |");
console.log("|---|---|---|---|");
for (const r of results) console.log(`| ${r.mode} | ${r.rps.toFixed(0)} | ${r.p99} | ${r.errors} |`);
for (const m of ["receiver", "receiver-normal", "receiver-nostore"] as const) {
  if (!Number.isNaN(mean(m)) && !Number.isNaN(mean("bare"))) console.log(`${m} / bare = ${((mean(m) / mean("bare")) * 100).toFixed(0)}%`);
}
