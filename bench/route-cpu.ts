// CPU per request of the receiver's pipeline on the event loop, without sockets or a store: the
// app of bench/ack-server.ts mode `receiver-nostore` (auth, body limit, JSON, schema, dedupe key,
// 1 job, metrics, the JSON request log to process.stdout as `serve` writes it), called with
// bench/ack.lua's Kratos-shaped POST. For profiling and for comparing two checkouts in one run:
//
//   bun bench/route-cpu.ts [N=20000] [PER_TURN=16] [ROUNDS=3] [BASELINE_DIR] | cat >/dev/null
//
// stdout carries only the log lines (pipe it, as a deployment does); results go to stderr.
// PER_TURN requests are handled concurrently, then the loop yields a macrotask, as a loaded server
// answers several requests per event-loop turn. Two paths are timed: `app` (Elysia's handle, as
// over HTTP minus the socket) and `route` (compileHookRoute's handle alone). With BASELINE_DIR (a
// directory holding another version's src/, e.g. `git archive <commit> src | tar -x -C dir`),
// both versions run in the same process, alternating, and each row names its version.
// Requests are built before the clock starts; their GC is not.
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { benchRequest as request, hooksYaml } from "./ack-hooks.ts";

const N = Number(process.argv[2] ?? 20_000);
const PER_TURN = Number(process.argv[3] ?? 16);
const ROUNDS = Number(process.argv[4] ?? 3);
const baselineDir = process.argv[5];

type Handle = (r: Request) => Promise<Response>;
type Version = { label: string; app: Handle; route: Handle };

async function load(label: string, root: string): Promise<Version> {
  const { loadConfigText } = await import(join(root, "src/config/load.ts"));
  const { createApp } = await import(join(root, "src/server/app.ts"));
  const { createLogger } = await import(join(root, "src/server/log.ts"));
  const config = loadConfigText(hooksYaml("sqlite::memory:", "full"), join(tmpdir(), "bench-route-cpu.yaml"), { env: {}, cwd: tmpdir() });
  const store = { ping: async () => {}, stats: async () => ({ byState: {}, oldestDueAgeMs: 0 }) };
  const receiver = createApp({ config, accept: async () => ({ duplicate: false }), store, log: createLogger({ level: "info" }), env: { BENCH_SECRET: "bench-secret" } });
  return { label, app: receiver.handle, route: receiver.routes[0].handle };
}


const turn = () => new Promise<void>((r) => setImmediate(r));

/** µs of process CPU per request over n requests. */
async function measure(handle: Handle, n: number): Promise<number> {
  const reqs = Array.from({ length: n }, request);
  await turn();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i += PER_TURN) {
    const batch: Promise<Response>[] = [];
    for (let j = i; j < Math.min(i + PER_TURN, n); j++) batch.push(handle(reqs[j]!));
    for (const res of await Promise.all(batch)) if (res.status !== 204) throw new Error(`answered ${res.status}: ${await res.text()}`);
    await turn();
  }
  const d = process.cpuUsage(cpu0);
  return (d.user + d.system) / n;
}

const versions = [await load("current", resolve(import.meta.dir, ".."))];
if (baselineDir) versions.push(await load("baseline", resolve(baselineDir)));

// Warm-up: JIT, Elysia's compiled handler, and the heap's growth (a single pass left round 1
// 30-50 % above the others).
for (let w = 0; w < 2; w++) {
  for (const v of versions) {
    await measure(v.app, N);
    await measure(v.route, N);
  }
}
const results = new Map<string, number[]>();
for (let r = 0; r < ROUNDS; r++) {
  // Each round starts with the other version, so drift (other load, heap growth) spreads over both.
  const order = r % 2 === 0 ? versions : [...versions].reverse();
  for (const v of order) {
    for (const path of ["app", "route"] as const) {
      const us = await measure(v[path], N);
      const key = `${v.label} ${path}`;
      results.set(key, [...(results.get(key) ?? []), us]);
      console.error(`round ${r + 1} ${key.padEnd(15)} ${us.toFixed(2)} µs CPU/request`);
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [key, xs] of results) console.error(`median ${key.padEnd(15)} ${median(xs).toFixed(2)} µs CPU/request (N=${N}, ${PER_TURN}/turn, ${xs.length} rounds)`);
