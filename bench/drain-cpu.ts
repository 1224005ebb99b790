// CPU per delivery of the Worker and the SQLite store thread, without HTTP: the real Worker and
// SqliteThreadStore (synchronous=full, as serve runs them) drain N jobs of the drain bench's http
// action, with `fetch` answering 200 at once in place of the network. So the figures are the
// worker's own work (claims, templates, the request's preparation, completions) and the store
// thread's, without the HTTP client's and the sink's, and far less noisy than bench/drain.ts on
// a shared machine. Two checkouts alternate, each round in a fresh child process:
//
//   bun bench/drain-cpu.ts [baseline checkout=.] [N=40000] [rounds=4]
//
// It prints, per checkout, the median over rounds of CPU µs per delivery: the event loop, the store
// thread, the whole process. DRAIN_CPU_HTTP=1: real requests instead, to bench/drain.ts's sink (its
// own process, answering 200 at once), and the HTTP client thread's CPU beside the others.
// DRAIN_CPU_OBSERVED=1: with serve's observers (observe-worker.ts: metrics, and a JSON log line per
// delivery through serve's logger with a redactor of two secrets, to stdout, which the parent reads).
// Results: bench/results/drain.md (seventh and eighth session, second rounds).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fillOutbox } from "./prefill.ts";
import { threadCpu, threadCpuUsed } from "./thread-cpu.ts";

type Result = { rate: number; loop: number; store: number; http: number; total: number; claims: number; writes: number; carried: number };

async function child(root: string, n: number, c: number, port: number | undefined): Promise<void> {
  const { acceptedWebhook } = await import(join(root, "src/actions/index.ts"));
  const { openStore } = await import(join(root, "src/outbox/open-store.ts"));
  const { Worker } = await import(join(root, "src/outbox/worker.ts"));
  const action = (id: string) => ({
    kind: "http", id, hook: "bench", retry: { attempts: 5, baseMs: 1000, capMs: 60_000 }, concurrency: c,
    method: "POST", url: `http://127.0.0.1:${port ?? 9}/contacts/{{body.id}}`, headers: { Authorization: "Bearer {{env.TOKEN}}" },
    body: { email: "{{body.email}}", n: "{{body.n}}" }, timeoutMs: 5000, retry4xx: false,
  });
  // The network's place: a 200 on the next microtask.
  if (port === undefined) globalThis.fetch = (async () => new Response(null, { status: 200 })) as unknown as typeof fetch;
  const dir = mkdtempSync(join(tmpdir(), "kh-bench-drain-cpu-"));
  try {
    const store = await openStore(`sqlite:${join(dir, "outbox.db")}`, { synchronous: "full", thread: true });
    const now = Date.now();
    // A warm-up action's jobs first (untimed), then the timed ones: serve's payload (acceptedWebhook).
    for (const id of ["bench.warm", "bench.crm"]) await fillOutbox(store, id, n, { acceptedWebhook, now });
    // The store calls, counted (methods bound to the real store: its private fields need it).
    const counts = { claims: 0, writes: 0, carried: 0 };
    const counted = new Proxy(store, {
      get(target, key) {
        const v = Reflect.get(target, key, target);
        if (typeof v !== "function") return v;
        if (key === "claimDueJobs") counts.claims++;
        if (key === "completeJobs") counts.writes++;
        if (key === "completeThenClaim") return (items: unknown[], ...rest: unknown[]) => (counts.claims++, (counts.carried += items.length), v.call(target, items, ...rest));
        return v.bind(target);
      },
    });
    for (const id of ["bench.warm", "bench.crm"]) {
      Object.assign(counts, { claims: 0, writes: 0, carried: 0 });
      const worker = new Worker({ store: counted, actions: [action(id)], leaseMs: 30_000, pollMs: 200, env: { TOKEN: "t" } });
      if (process.env.DRAIN_CPU_OBSERVED === "1") {
        const { observeWorker } = await import(join(root, "src/server/observe-worker.ts"));
        const { createLogger } = await import(join(root, "src/server/log.ts"));
        const { Metrics } = await import(join(root, "src/server/metrics.ts"));
        const { Redactor } = await import(join(root, "src/secrets.ts"));
        observeWorker(worker.events, new Metrics(), createLogger({ level: "info", redactor: new Redactor(["bench-secret", "tok_4f8a9c2e7b1d4e6fa3c5b8d9e0f1a2b3"]) }));
      }
      let delivered = 0;
      const all = new Promise<void>((r) => worker.events.on("job:delivered", () => ++delivered === n && r()));
      const threads0 = threadCpu();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      worker.start();
      await all;
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const used = threadCpuUsed(threads0, threadCpu());
      await worker.stop(5000);
      if (id === "bench.warm") continue;
      const us = (s: number | undefined) => ((s ?? 0) * 1e6) / n;
      const r: Result = { rate: n / (ms / 1000), loop: us(used.get("event loop")), store: us(used.get("Worker")), http: us(used.get("HTTP Client")), total: (cpu.user + cpu.system) / n, ...counts };
      console.log(`RESULT ${JSON.stringify(r)}`);
    }
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function orchestrate(baseline: string, n: number, rounds: number): Promise<void> {
  const roots = [...new Set([resolve(baseline), resolve(import.meta.dir, "..")])];
  let port: number | undefined;
  let sink: ReturnType<typeof Bun.spawn> | undefined;
  if (process.env.DRAIN_CPU_HTTP === "1") {
    sink = Bun.spawn([process.execPath, join(import.meta.dir, "drain.ts"), "sink"], { stdin: "pipe", stdout: "pipe" });
    const reader = (sink.stdout as ReadableStream<Uint8Array>).getReader();
    port = Number(new TextDecoder().decode((await reader.read()).value).trim());
  }
  const results = new Map<string, Result[]>(roots.map((r) => [r, []]));
  for (let round = 0; round < rounds; round++) {
    for (const root of round % 2 ? [...roots].reverse() : roots) {
      const proc = Bun.spawn([process.execPath, import.meta.path, "child", root, String(n), ...(port ? [String(port)] : [])], { stdout: "pipe", stderr: "inherit" });
      const out = await new Response(proc.stdout).text();
      if ((await proc.exited) !== 0) throw new Error(`${root}: the child failed`);
      const r = JSON.parse(out.split("\n").find((l) => l.startsWith("RESULT "))!.slice(7)) as Result;
      results.get(root)!.push(r);
      console.error(`round ${round + 1}: ${root}: ${Math.round(r.rate)}/s, loop ${r.loop.toFixed(1)}, store ${r.store.toFixed(1)}, http ${r.http.toFixed(1)}, process ${r.total.toFixed(1)} µs/delivery; ${r.claims} claims, ${r.writes} completion writes, ${r.carried} completions with claims`);
    }
  }
  sink?.kill();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`N=${n}, C=64, ${rounds} rounds, ${port ? "requests to a sink that answers at once" : "fetch answered at once"}; CPU µs per delivery, median (all rounds)`);
  console.log("| checkout | deliveries/s | event loop | store thread | HTTP client | whole process | claims | completion writes | completions with claims |");
  console.log("|---|---|---|---|---|---|---|---|---|");
  for (const [root, rs] of results) {
    const col = (k: keyof Result, d = 1) => `${median(rs.map((r) => r[k])).toFixed(d)} (${rs.map((r) => r[k].toFixed(d)).join(", ")})`;
    console.log(`| ${root} | ${col("rate", 0)} | ${col("loop")} | ${col("store")} | ${col("http")} | ${col("total")} | ${median(rs.map((r) => r.claims))} | ${median(rs.map((r) => r.writes))} | ${median(rs.map((r) => r.carried))} |`);
  }
}

const [role, ...args] = process.argv.slice(2);
if (role === "child") await child(args[0]!, Number(args[1]), 64, args[2] ? Number(args[2]) : undefined);
else await orchestrate(role ?? ".", Number(args[0] ?? 40_000), Number(args[1] ?? 4));
