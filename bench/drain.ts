// Outbox drain: how fast a Worker empties an outbox of N http jobs into a local sink that answers
// 200, next to a plain fetch loop with the same concurrency to the same sink, in one run.
//
//   bun bench/drain.ts [N=20000] [C=64] [rounds=3]
//
// Scenarios, each run `rounds` times (interleaved, so a noisy spell hits all of them) and reported
// as the median:
//   fetch            a plain fetch loop, C requests at a time (the ceiling: HTTP alone)
//   floor            the least any durable worker pays: the fetch loop working off the same outbox
//                    through the store as serve opens it (SQLite full, store thread); it claims,
//                    POSTs each job's stored payload as is to one sink URL and records the
//                    successes, nothing else (floorRole). Completions go with the next claim
//                    (completeThenClaim, one transaction, one store call at a time); it holds up to
//                    DRAIN_FLOOR_QUEUE (default C) claimed jobs beyond the C in flight, so a freed
//                    slot does not wait for a claim, and claims when half of that room is free
//                    (DRAIN_FLOOR_CLAIM_AT); it stops by itself when the outbox is drained
//   floor without a queue   the same, claiming only for free slots (at most C jobs held),
//                    whenever the store is idle
//   sqlite full      one Worker, SQLite synchronous=full (the default)
//   sqlite full, store thread   the same with the store on its own thread, as `serve` runs it
//   ... with serve's metrics and log   and serve's worker observers (observe-worker.ts): metrics
//                    and one JSON log line per delivery, written to a file once per loop turn
//   sqlite normal    one Worker, SQLite synchronous=normal
//   postgres ×1      one Worker on Postgres (127.0.0.1:5432/test, own schema, dropped after)
//   postgres ×2      two Worker processes on that one schema, each with concurrency C
// The sink, the fetch loop and every worker are separate processes; this process only pre-fills
// the outbox (acceptBatch in chunks of 500, before the clock starts), says go, polls the done
// count every 20 ms and reads the workers' reports. Rate = N / (last job recorded done − go).
// Before it says READY, every child warms up untimed with DRAIN_WARMUP deliveries of the same
// shape (default N; the worker from warm-up jobs of its own action, queued ahead of the N), so the
// rate is a running process's and not the JIT's first second; DRAIN_WARMUP=0 for a cold start.
// A BENCH_BASELINE checkout must know DRAIN_WARM (this commit or later), or run DRAIN_WARMUP=0.
// Postgres: KH_BENCH_POSTGRES_URL, or postgres://$PGUSER@127.0.0.1:5432/test; skipped with a
// note if unreachable. DRAIN_ONLY=<text> runs the baseline and only the scenarios whose name holds
// it; DRAIN_WORKER_FLAGS="--cpu-prof --cpu-prof-dir=DIR" passes bun flags to the worker processes;
// BENCH_BASELINE=<dir> (a `git worktree` of an older commit) adds that checkout's worker, as serve
// runs it, on the schema before migration 3.
//
//   bun bench/drain.ts slow [rounds=1]
//
// Slow sinks (Little's law): a sink that answers after a fixed latency L (DRAIN_SLOW_L, default
// 1,10,50,200 ms), at concurrency C (DRAIN_SLOW_C, default 16 = serve's default, and 128), the
// worker as serve runs it, the floor (with and without its queue) and a fetch loop with the same
// C, each against C/L; see orchestrateSlow.
// Results: bench/results/drain.md.
import { SQL } from "bun";
import { Database } from "bun:sqlite";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import type { ResolvedHttpAction } from "../src/config/types.ts";
import { openStore } from "../src/outbox/open-store.ts";
import type { CompletedJob, Job, Store } from "../src/outbox/store.ts";
import { Worker as ThisWorker } from "../src/outbox/worker.ts";
import { createLogger, STDOUT_WINDOW_MS, turnBuffer } from "../src/server/log.ts";
import { Metrics } from "../src/server/metrics.ts";
import { observeWorker } from "../src/server/observe-worker.ts";
import { fillOutbox } from "./prefill.ts";
import { threadCpu, threadCpuUsed } from "./thread-cpu.ts";

const PG_URL = process.env.KH_BENCH_POSTGRES_URL ?? `postgres://${process.env.PGUSER ?? process.env.USER ?? "postgres"}@127.0.0.1:5432/test`;

/** The action id of the N jobs every scenario drains (the warm-up jobs have their own, warmAction). */
const BENCH_ACTION = "bench.crm";

/** The action every worker delivers: templated url, an env header and a JSON body, like a CRM call. */
function benchAction(port: number, concurrency: number, id = BENCH_ACTION): ResolvedHttpAction {
  return {
    kind: "http", id, hook: "bench", retry: { attempts: 5, baseMs: 1000, capMs: 60_000 }, concurrency,
    method: "POST", url: `http://127.0.0.1:${port}/contacts/{{body.id}}`, headers: { Authorization: "Bearer {{env.TOKEN}}" },
    body: { email: "{{body.email}}", n: "{{body.n}}" }, timeoutMs: 5000, retry4xx: false,
  };
}

/** Wall-clock ms with sub-ms precision, comparable across processes on this machine. */
const wallNow = () => performance.timeOrigin + performance.now();

// ---- child roles -------------------------------------------------------------------------------

/**
 * The destination: 200 to every POST, without reading the body; GET /count tells how many. With
 * `latencyMs`, each POST is answered that long after it arrived (a CRM's think time, which costs
 * the sink no CPU).
 */
function sink(latencyMs = 0): void {
  let n = 0;
  /** Ms the latency sink actually held its answers, summed (timers fire late on a busy machine); GET /hold. */
  let heldMs = 0;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      if (req.method === "GET") return new Response(String(req.url.endsWith("/hold") ? heldMs : n));
      if (latencyMs > 0) {
        const at = performance.now();
        return Bun.sleep(latencyMs).then(() => (n++, (heldMs += performance.now() - at), new Response(null, { status: 200 })));
      }
      n++;
      return new Response(null, { status: 200 });
    },
  });
  console.log(server.port);
  // Exit with the orchestrator: its end of stdin closes when it exits, however it exits.
  void (async () => {
    for await (const _ of console) {
      // nothing is sent; wait for EOF
    }
    process.exit(0);
  })();
}

/**
 * The warm-up a child does before it says READY (DRAIN_WARM in its environment, set by the
 * orchestrator): `count` deliveries of the same shape, untimed, so that the timed part measures a
 * process whose code is compiled, as a server's is after its first minute, rather than the JIT's
 * first seconds (bench/ack.ts warms up for the same reason). For a worker, `action` is the id of
 * the warm-up jobs the orchestrator queued for it in the same store.
 */
function warmup(): { action: string; count: number; port?: number } | undefined {
  const [action, count, port] = (process.env.DRAIN_WARM ?? "").split(":");
  return action && Number(count) > 0 ? { action, count: Number(count), ...(port ? { port: Number(port) } : {}) } : undefined;
}

/** The baseline: N requests shaped like the worker's, C at a time, with plain fetch. */
async function fetchLoop(port: number, n: number, c: number): Promise<void> {
  const warm = warmup();
  if (warm) await fetchRequests(warm.port ?? port, warm.count, c);
  await waitForGo();
  const cpu0 = process.cpuUsage();
  const threads0 = threadCpu();
  const t0 = wallNow();
  await fetchRequests(port, n, c);
  const t1 = wallNow();
  report({ startAt: t0, lastAt: t1, delivered: n, cpuMs: cpuMs(cpu0), threads: threadSplit(threads0, n), peakRssMiB: peakRssMiB() });
}

async function fetchRequests(port: number, n: number, c: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: c }, async () => {
    for (let i = next++; i < n; i = next++) {
      const res = await fetch(`http://127.0.0.1:${port}/contacts/u${i}`, {
        method: "POST",
        headers: { "user-agent": "kratos-hooks/bench", "content-type": "application/json", authorization: "Bearer t", "idempotency-key": Bun.randomUUIDv7() },
        body: JSON.stringify({ email: `u${i}@example.com`, n: i }),
        redirect: "manual",
      });
      if (res.status !== 200) throw new Error(`sink answered ${res.status}`);
      await res.body?.cancel();
    }
  }));
}

/** One worker instance: opens the store, waits for "go", delivers until told to stop, reports. */
async function workerRole(url: string, port: number, c: number, synchronous: "full" | "normal", thread: boolean, logFile?: string): Promise<void> {
  // DRAIN_WORKER_MODULE: another checkout's worker.ts, run on this checkout's store (slow mode's BENCH_BASELINE).
  const Worker: typeof ThisWorker = process.env.DRAIN_WORKER_MODULE ? (await import(process.env.DRAIN_WORKER_MODULE)).Worker : ThisWorker;
  const store = await openStore(url, { synchronous, migrate: false, thread });
  const warm = warmup();
  if (warm) {
    // Its own Worker on the same store, claiming only the warm-up jobs; stopped before READY.
    const warmer = new Worker({ store, actions: [benchAction(warm.port ?? port, c, warm.action)], leaseMs: 30_000, pollMs: 200, env: { TOKEN: "t" } });
    let warmed = 0;
    const all = new Promise<void>((resolve) => warmer.events.on("job:delivered", () => ++warmed === warm.count && resolve()));
    warmer.start();
    await all;
    await warmer.stop(5000);
  }
  const counts = { claims: 0, claimed: 0, completionWrites: 0, completeJobCalls: 0, completionsWithClaims: 0 };
  // Methods bound to the real store (its private fields need the real `this`); writes counted.
  const counted = new Proxy(store, {
    get(target, key) {
      if (key === "claimDueJobs") return async (o: Parameters<Store["claimDueJobs"]>[0]) => {
        counts.claims++;
        const jobs = await target.claimDueJobs(o);
        counts.claimed += jobs.length;
        return jobs;
      };
      // Completions that ride with a claim (completion-committer.ts): a claim, no completion write.
      if (key === "completeThenClaim" && target.completeThenClaim) return async (items: Parameters<Store["completeJobs"]>[0], at: number, o: Parameters<Store["claimDueJobs"]>[0]) => {
        counts.claims++;
        counts.completionsWithClaims += items.length;
        const r = await target.completeThenClaim!(items, at, o);
        counts.claimed += r.jobs.length;
        return r;
      };
      if (key === "completeJobs") return (items: Parameters<Store["completeJobs"]>[0], now: number) => (counts.completionWrites++, target.completeJobs(items, now));
      if (key === "completeJob") return (id: string, w: string, now: number) => (counts.completeJobCalls++, target.completeJob(id, w, now));
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  const worker = new Worker({ store: counted, actions: [benchAction(port, c)], leaseMs: 30_000, pollMs: 200, env: { TOKEN: "t" }, ...(process.env.DRAIN_COMPLETION_WAIT_MS ? { completionWaitMs: Number(process.env.DRAIN_COMPLETION_WAIT_MS) } : {}) });
  // serve's observers: metrics and one JSON log line per delivery, through the buffer of serve's
  // stdout sink, written every STDOUT_WINDOW_MS as serve writes it (to a file here: stdout carries
  // this role's reports). Until the eighth session this wrote once per event-loop turn, which
  // overstated the log's cost (bench/results/drain.md).
  const logFd = logFile ? openSync(logFile, "a") : undefined;
  const logBuffer = logFd !== undefined ? turnBuffer((text) => writeSync(logFd, text), STDOUT_WINDOW_MS) : undefined;
  if (logBuffer) observeWorker(worker.events, new Metrics(), createLogger({ sink: (line) => logBuffer.push(line) }));
  let delivered = 0;
  let lastAt = 0;
  let errors = 0;
  worker.events.on("job:delivered", () => {
    delivered++;
    lastAt = wallNow();
  });
  worker.events.on("worker:error", (e) => {
    if (errors++ < 5) console.error(`worker error: ${e.op}: ${e.error}`);
  });
  const stop = waitForLine("stop");
  await waitForGo();
  const cpu0 = process.cpuUsage();
  const threads0 = threadCpu();
  const startAt = wallNow();
  worker.start();
  await stop;
  await worker.stop(5000);
  report({ startAt, lastAt, delivered, errors, cpuMs: cpuMs(cpu0), threads: threadSplit(threads0, delivered), peakRssMiB: peakRssMiB(), ...counts });
  await store.close();
  logBuffer?.flush();
  if (logFd !== undefined) closeSync(logFd);
}

/**
 * The floor of a durable worker: the fetch loop, but working off the pre-filled outbox through the
 * store as serve opens it (SQLite synchronous=full, on its own thread). It claims up to C jobs,
 * POSTs each job's stored payload as is to one fixed sink URL (no templating, events, deadlines or
 * retries: anything but a 200 fails the run), and records the successes. One store call at a
 * time: every completion that arrived while one was running goes with the next, inside the claim
 * that refills the free slots (Store.completeThenClaim: one transaction, one fsync), or alone
 * (completeJobs) once the outbox has no more due jobs. So C requests stay in flight and the store
 * writes as seldom as its own latency allows. Drains until a claim comes back short and nothing is
 * left in flight or unrecorded, then reports.
 */
async function floorRole(url: string, port: number, c: number, queue: number): Promise<void> {
  const store = await openStore(url, { synchronous: "full", migrate: false, thread: true });
  const warm = warmup();
  if (warm) {
    // The warm-up jobs of its own action, queued ahead of the N, into the warm-up sink when there is one.
    const w = await floorDrain(store, warm.port ?? port, c, queue, warm.action, noFloorCounts());
    if (w.delivered !== warm.count) throw new Error(`floor warm-up: ${w.delivered} of ${warm.count} delivered`);
  }
  const counts = noFloorCounts();
  await waitForGo();
  const cpu0 = process.cpuUsage();
  const threads0 = threadCpu();
  const startAt = wallNow();
  const { delivered, lastAt } = await floorDrain(store, port, c, queue, BENCH_ACTION, counts);
  report({ startAt, lastAt, delivered, cpuMs: cpuMs(cpu0), threads: threadSplit(threads0, delivered), peakRssMiB: peakRssMiB(), ...counts });
  await store.close();
}

type FloorCounts = { claims: number; claimed: number; completionWrites: number; completionsWithClaims: number };
const noFloorCounts = (): FloorCounts => ({ claims: 0, claimed: 0, completionWrites: 0, completionsWithClaims: 0 });

/**
 * floorRole's loop over the jobs of `action`: resolves with how many it recorded done and when the
 * last write returned. `queue`: claimed jobs it may hold beyond the C in flight, so that a freed
 * slot starts the next job at once instead of waiting for the store's next claim (0: claims only
 * for free slots).
 */
function floorDrain(store: Store, port: number, c: number, queue: number, action: string, counts: FloorCounts): Promise<{ delivered: number; lastAt: number }> {
  const worker = `floor-${process.pid}`;
  const target = `http://127.0.0.1:${port}/floor`;
  const waiting: Job[] = [];
  /**
   * The free room at which it claims (and writes the completions held so far): half its queue, or
   * DRAIN_FLOOR_CLAIM_AT; at most its queue, so the C in flight never wait for the claim; without a
   * queue, whenever the store is idle. Claiming whenever the store was idle cost a slow sink ~1.5×
   * the store calls (L = 1 ms, C = 16: 6.5 jobs per claim against 12, 92 against 68 µs per
   * delivery, 60 against 68 % of C/L); at 0 ms claims are as large either way (bench/results/drain.md).
   */
  const claimAt = Math.max(1, Math.min(Number(process.env.DRAIN_FLOOR_CLAIM_AT ?? Math.floor(queue / 2)), queue));
  let inFlight = 0;
  let delivered = 0;
  let lastAt = 0;
  /** A claim came back with fewer jobs than asked: none is due any more (nothing else adds jobs). */
  let exhausted = false;
  let storeBusy = false;
  let scheduled = false;
  let failed = false;
  let completions: CompletedJob[] = [];
  return new Promise((resolve, reject) => {
    const fail = (err: unknown) => {
      failed = true;
      reject(err);
    };
    const recorded = (items: CompletedJob[], ids: string[]) => {
      if (ids.length !== items.length) throw new Error(`floor: ${items.length - ids.length} of ${items.length} completions lost their lease`);
      delivered += items.length;
      if (items.length) lastAt = wallNow();
    };
    const start = () => {
      while (inFlight < c && waiting.length) {
        inFlight++;
        post(waiting.shift()!).catch(fail);
      }
    };
    const post = async (job: Job) => {
      const res = await fetch(target, {
        method: "POST",
        headers: { "user-agent": "kratos-hooks/bench", "content-type": "application/json", authorization: "Bearer t", "idempotency-key": job.id },
        body: JSON.stringify(job.payload),
        redirect: "manual",
      });
      if (res.status !== 200) throw new Error(`sink answered ${res.status}`);
      await res.body?.cancel();
      inFlight--;
      completions.push({ id: job.id, worker });
      start();
      schedule();
    };
    // The answers handled in one event-loop turn go to the store together.
    const schedule = () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        pump();
      });
    };
    const pump = () => {
      if (storeBusy || failed) return;
      const free = exhausted ? 0 : c + queue - inFlight - waiting.length;
      const items = completions;
      // Completions wait (unrecorded, under their lease) for a claim worth making, unless the outbox is drained.
      if (!exhausted && free < claimAt) return;
      if (free === 0 && items.length === 0) {
        if (exhausted && inFlight === 0 && waiting.length === 0) resolve({ delivered, lastAt });
        return;
      }
      completions = [];
      storeBusy = true;
      const now = Date.now();
      const claim = { worker, now, leaseMs: 30_000, limit: free, actions: [action] };
      let call: Promise<Job[]>;
      if (free > 0 && items.length > 0 && store.completeThenClaim) {
        counts.claims++;
        counts.completionsWithClaims += items.length;
        call = store.completeThenClaim(items, now, claim).then((r) => (recorded(items, r.completed), r.jobs));
      } else {
        const written = items.length > 0 ? (counts.completionWrites++, store.completeJobs(items, now).then((ids) => recorded(items, ids))) : Promise.resolve();
        call = free > 0 ? written.then(() => (counts.claims++, store.claimDueJobs(claim))) : written.then(() => []);
      }
      call.then((jobs) => {
        storeBusy = false;
        if (free > 0) {
          counts.claimed += jobs.length;
          if (jobs.length < free) exhausted = true;
        }
        waiting.push(...jobs);
        start();
        pump();
      }, fail);
    };
    pump();
  });
}

/** µs of CPU per delivery by thread: event loop, SQLite store thread, Bun's HTTP client thread, the rest. */
type ThreadSplit = { loop: number; store: number; http: number; other: number };

function threadSplit(before: Map<string, number>, deliveries: number): ThreadSplit {
  const used = threadCpuUsed(before, threadCpu());
  const us = (seconds: number) => (seconds * 1e6) / Math.max(1, deliveries);
  const loop = used.get("event loop") ?? 0;
  const store = used.get("Worker") ?? 0;
  const http = used.get("HTTP Client") ?? 0;
  const all = [...used.values()].reduce((a, b) => a + b, 0);
  return { loop: us(loop), store: us(store), http: us(http), other: us(all - loop - store - http) };
}

type Report = { startAt: number; lastAt: number; delivered: number; cpuMs: number; threads?: ThreadSplit; peakRssMiB: number; errors?: number; claims?: number; claimed?: number; completionWrites?: number; completeJobCalls?: number; completionsWithClaims?: number };

function report(r: Report): void {
  console.log(`REPORT ${JSON.stringify(r)}`);
}
const cpuMs = (from: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(from);
  return Math.round((d.user + d.system) / 1000);
};
/** VmHWM: the process's peak resident set. */
const peakRssMiB = () => Math.round(Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? 0) / 1024);

let stdinLines: AsyncIterator<string> | undefined;
const seen = new Set<string>();
const waiters = new Map<string, () => void>();
/** Resolves when `line` arrives on stdin (the orchestrator's "go" / "stop"). */
function waitForLine(line: string): Promise<void> {
  if (seen.has(line)) return Promise.resolve();
  const p = new Promise<void>((r) => waiters.set(line, r));
  if (!stdinLines) {
    stdinLines = console[Symbol.asyncIterator]();
    void (async () => {
      for (let l = await stdinLines!.next(); !l.done; l = await stdinLines!.next()) {
        seen.add(l.value.trim());
        waiters.get(l.value.trim())?.();
      }
    })();
  }
  return p;
}
function waitForGo(): Promise<void> {
  console.log("READY");
  return waitForLine("go");
}

// ---- orchestrator ------------------------------------------------------------------------------

type Child = { proc: Bun.Subprocess<"pipe", "pipe", "inherit">; lines: AsyncIterator<string> };

/** `warm`: the child's warm-up (see warmup()); none when DRAIN_WARMUP=0. */
function spawnRole(args: string[], script = import.meta.path, warm?: { action: string; count: number; port?: number }, extraEnv: Record<string, string> = {}): Child {
  const flags = args[0] === "worker" ? (process.env.DRAIN_WORKER_FLAGS ?? "").split(" ").filter(Boolean) : [];
  const env = { ...process.env, ...extraEnv, DRAIN_WARM: warm && warm.count > 0 ? `${warm.action}:${warm.count}${warm.port ? `:${warm.port}` : ""}` : "" };
  const proc = Bun.spawn([process.execPath, ...flags, script, ...args], { stdin: "pipe", stdout: "pipe", stderr: "inherit", env });
  return { proc, lines: linesOf(proc.stdout) };
}

async function* linesOfGen(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += decoder.decode(chunk, { stream: true });
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
}
const linesOf = (s: ReadableStream<Uint8Array>) => linesOfGen(s)[Symbol.asyncIterator]();

async function expectLine(c: Child, pred: (l: string) => boolean, what: string): Promise<string> {
  for (;;) {
    const l = await c.lines.next();
    if (l.done) throw new Error(`child exited before ${what}`);
    if (pred(l.value)) return l.value;
  }
}
const send = (c: Child, line: string) => {
  c.proc.stdin.write(`${line}\n`);
  c.proc.stdin.flush();
};

/** Busy and total jiffies of all CPUs, to see how much of the machine a run used. */
function cpuJiffies(): { busy: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + f[4]!;
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

async function fill(store: Store, port: number, n: number, c: number, actionId?: string): Promise<void> {
  await fillOutbox(store, benchAction(port, c, actionId).id, n);
}

/** A SQLite outbox in a new temp dir, pre-filled with `warm` warm-up jobs, then `n` timed ones. */
async function filledSqliteOutbox(port: number, n: number, c: number, warm: number): Promise<{ dir: string; url: string }> {
  const dir = mkdtempSync(join(tmpdir(), "kh-bench-drain-"));
  const url = `sqlite:${join(dir, "outbox.db")}`;
  const store = await openStore(url, { synchronous: "full" });
  await fill(store, port, warm, c, warmAction(0));
  await fill(store, port, n, c);
  await store.close();
  return { dir, url };
}

type Result = { rate: number; reports: Report[]; cpuBusyPct: number; sinkUs: number; sinkHoldMs: number };

/** The sink's process (orchestrate sets it): its CPU per request is part of every scenario's cost. */
let sinkPid = 0;
const sinkCpuSeconds = () => [...threadCpu(sinkPid).values()].reduce((a, b) => a + b, 0);

const sinkCount = async (port: number) => Number(await (await fetch(`http://127.0.0.1:${port}/count`)).text());
const sinkHeld = async (port: number) => Number(await (await fetch(`http://127.0.0.1:${port}/hold`)).text());

/** Spawns the children, says go, waits until `finished`, stops them and computes the rate. */
async function runChildren(children: Child[], n: number, port: number, finished: () => Promise<boolean>, stopWhenDone: boolean): Promise<Result> {
  for (const c of children) await expectLine(c, (l) => l === "READY", "READY");
  const before = await sinkCount(port);
  const held0 = await sinkHeld(port);
  const sink0 = sinkCpuSeconds();
  const j0 = cpuJiffies();
  const goAt = wallNow();
  for (const c of children) send(c, "go");
  if (stopWhenDone) {
    while (!(await finished())) await Bun.sleep(20);
    for (const c of children) send(c, "stop");
  }
  let j1 = stopWhenDone ? cpuJiffies() : undefined;
  let sink1 = stopWhenDone ? sinkCpuSeconds() : undefined;
  const reports = await Promise.all(children.map(async (c) => JSON.parse((await expectLine(c, (l) => l.startsWith("REPORT "), "its report")).slice(7)) as Report));
  j1 ??= cpuJiffies();
  sink1 ??= sinkCpuSeconds();
  for (const c of children) c.proc.stdin.end();
  await Promise.all(children.map((c) => c.proc.exited));
  const delivered = reports.reduce((a, r) => a + r.delivered, 0);
  const requests = (await sinkCount(port)) - before;
  if (delivered !== n || requests !== n) throw new Error(`expected ${n} deliveries, workers report ${delivered} and the sink saw ${requests}`);
  const end = Math.max(...reports.map((r) => r.lastAt));
  const cpuBusyPct = Math.round((100 * (j1.busy - j0.busy)) / Math.max(1, j1.total - j0.total));
  return { rate: n / ((end - goAt) / 1000), reports, cpuBusyPct, sinkUs: ((sink1 - sink0) * 1e6) / n, sinkHoldMs: ((await sinkHeld(port)) - held0) / n };
}

/** Deliveries each child makes untimed before the timed N (DRAIN_WARMUP, default N; 0 = none). */
const WARMUP = (n: number) => Number(process.env.DRAIN_WARMUP ?? n);
/** The warm-up jobs of worker instance `i`: an action of their own, so only that instance claims them. */
const warmAction = (i: number) => `bench.warm.${i}`;

async function baseline(port: number, n: number, c: number): Promise<Result> {
  return runChildren([spawnRole(["fetch", String(port), String(n), String(c)], undefined, { action: "fetch", count: WARMUP(n) })], n, port, async () => true, false);
}

/** BENCH_BASELINE=<checkout>: that checkout's worker role, to compare versions in one run. */
const BASELINE = process.env.BENCH_BASELINE;
/** Whether that checkout's jobs table is this one's (migration 3, which dropped jobs_state_created). */
const BASELINE_HAS_MIGRATION_3 = BASELINE !== undefined && /version: 3,/.test(readFileSync(join(BASELINE, "src/outbox/migrations/sqlite.ts"), "utf8"));

type SqliteRunOptions = { thread?: boolean; baseline?: boolean; observed?: boolean };

async function sqliteRun(port: number, n: number, c: number, synchronous: "full" | "normal", { thread = false, baseline = false, observed = false }: SqliteRunOptions = {}): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), "kh-bench-drain-"));
  const url = `sqlite:${join(dir, "outbox.db")}`;
  try {
    const store = await openStore(url, { synchronous });
    await fill(store, port, WARMUP(n), c, warmAction(0));
    await fill(store, port, n, c);
    await store.close();
    // The schema before migration 3, for a baseline checkout older than it (its worker does not migrate).
    if (baseline && !BASELINE_HAS_MIGRATION_3) {
      const db = new Database(join(dir, "outbox.db"));
      db.run("CREATE INDEX IF NOT EXISTS jobs_state_created ON jobs (state, created_at)");
      db.close();
    }
    // An existence probe through the partial indexes: cheap enough to poll without stealing CPU.
    const reader = new Database(join(dir, "outbox.db"), { readonly: true });
    const busy = reader.query("SELECT EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_due WHERE state = 'pending') OR EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_lease WHERE state = 'running') AS busy");
    const done = async () => (busy.get() as { busy: number }).busy === 0;
    const script = baseline ? join(BASELINE!, "bench/drain.ts") : import.meta.path;
    const args = ["worker", url, String(port), String(c), synchronous, thread ? "thread" : "in-process", ...(observed ? [join(dir, "serve.log")] : [])];
    const result = await runChildren([spawnRole(args, script, { action: warmAction(0), count: WARMUP(n) })], n, port, done, true);
    if (observed) {
      const lines = readFileSync(join(dir, "serve.log"), "utf8").split("\n").filter((l) => l.includes('"job delivered"')).length;
      if (lines !== n) throw new Error(`expected ${n} "job delivered" log lines, found ${lines}`);
    }
    const left = reader.query("SELECT count(*) AS n FROM jobs WHERE state <> 'done'").get() as { n: number };
    reader.close();
    if (left.n !== 0) throw new Error(`${left.n} jobs not done`);
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The floor (floorRole): one process draining N jobs through the store as serve opens it, after a
 * warm-up of `warm` jobs of its own action (into the sink on `warmPort` if given). It stops by
 * itself when the outbox is drained; every job must be done after.
 */
async function floorRun(port: number, n: number, c: number, queue: number, warm: number, warmPort?: number): Promise<Result> {
  const { dir, url } = await filledSqliteOutbox(port, n, c, warm);
  try {
    const result = await runChildren([spawnRole(["floor", url, String(port), String(c), String(queue)], undefined, { action: warmAction(0), count: warm, ...(warmPort ? { port: warmPort } : {}) })], n, port, async () => true, false);
    const reader = new Database(join(dir, "outbox.db"), { readonly: true });
    const left = reader.query("SELECT count(*) AS n FROM jobs WHERE state <> 'done'").get() as { n: number };
    reader.close();
    if (left.n !== 0) throw new Error(`floor: ${left.n} jobs not done`);
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let schemaSeq = 0;
async function postgresRun(admin: SQL, port: number, n: number, c: number, instances: number): Promise<Result> {
  const schema = `kh_bench_drain_${process.pid}_${++schemaSeq}`;
  const url = new URL(PG_URL);
  url.searchParams.set("schema", schema);
  try {
    const store = await openStore(url.toString(), { poolMax: 2 });
    for (let i = 0; i < instances; i++) await fill(store, port, WARMUP(n), c, warmAction(i));
    await fill(store, port, n, c);
    // Statistics, as autovacuum would have gathered them on an outbox that grew to this size;
    // without them the claim's planner reads jobs_due by bitmap (see postgres/claim-due-jobs.ts).
    await admin.unsafe(`ANALYZE "${schema}".jobs`);
    await store.close();
    const done = async () => !(await admin.unsafe(`SELECT EXISTS (SELECT 1 FROM "${schema}".jobs WHERE state IN ('pending', 'running')) AS busy`))[0].busy;
    const children = Array.from({ length: instances }, (_, i) => spawnRole(["worker", url.toString(), String(port), String(c), "full", "in-process"], undefined, { action: warmAction(i), count: WARMUP(n) }));
    const result = await runChildren(children, n, port, done, true);
    const [left] = await admin.unsafe(`SELECT count(*)::int AS n FROM "${schema}".jobs WHERE state <> 'done'`);
    if (left.n !== 0) throw new Error(`${left.n} jobs not done`);
    return result;
  } finally {
    await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
}

/** The floor's scenario name; DRAIN_ONLY="store thread" keeps it. */
const FLOOR = "floor: fetch loop + durable claim and completion (SQLite full, store thread)";
/** The floor's queue of claimed jobs beyond the C in flight: DRAIN_FLOOR_QUEUE, default C. */
const floorQueue = (c: number) => Number(process.env.DRAIN_FLOOR_QUEUE ?? c);
const FLOOR_NO_QUEUE = "floor without a queue: claims only for free slots (SQLite full, store thread)";

async function orchestrate(n: number, c: number, rounds: number): Promise<void> {
  const sinkChild = spawnRole(["sink"]);
  sinkPid = sinkChild.proc.pid;
  const port = Number((await sinkChild.lines.next()).value);
  const admin = new SQL(PG_URL, { max: 1, connectionTimeout: 3 });
  const pg = await admin`SELECT 1`.then(() => null, (err: Error) => `unreachable (${(err as { code?: string }).code ?? err.message})`);

  const scenarios: [string, () => Promise<Result>][] = [
    ["fetch loop (baseline)", () => baseline(port, n, c)],
    [FLOOR, () => floorRun(port, n, c, floorQueue(c), WARMUP(n))],
    [FLOOR_NO_QUEUE, () => floorRun(port, n, c, 0, WARMUP(n))],
    ["worker, sqlite synchronous=full", () => sqliteRun(port, n, c, "full")],
    ["worker, sqlite synchronous=full, store thread (as serve runs it)", () => sqliteRun(port, n, c, "full", { thread: true })],
    ["worker, sqlite synchronous=full, store thread, with serve's metrics and log (a JSON line per delivery)", () => sqliteRun(port, n, c, "full", { thread: true, observed: true })],
    ["worker, sqlite synchronous=normal", () => sqliteRun(port, n, c, "normal")],
  ];
  if (BASELINE) scenarios.push([`baseline ${BASELINE}: worker, sqlite synchronous=full, store thread`, () => sqliteRun(port, n, c, "full", { thread: true, baseline: true })]);
  if (!pg) {
    scenarios.push(["worker, postgres, 1 process", () => postgresRun(admin, port, n, c, 1)]);
    scenarios.push(["worker, postgres, 2 processes", () => postgresRun(admin, port, n, c, 2)]);
  }
  // DRAIN_ONLY=<text>: only the baseline and the scenarios whose name contains it.
  const only = process.env.DRAIN_ONLY;
  if (only) scenarios.splice(0, scenarios.length, ...scenarios.filter(([name], i) => i === 0 || name.includes(only)));
  const results = new Map<string, Result[]>(scenarios.map(([name]) => [name, []]));
  for (let r = 1; r <= rounds; r++) {
    for (const [name, run] of scenarios) {
      const res = await run();
      results.get(name)!.push(res);
      console.error(`round ${r}: ${name}: ${Math.round(res.rate)}/s (cpu ${res.cpuBusyPct}%)`);
    }
  }
  sinkChild.proc.kill();
  await admin.close();

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const medianRun = (rs: Result[]) => rs.find((x) => x.rate === median(rs.map((y) => y.rate)))!;
  const base = median(results.get("fetch loop (baseline)")!.map((x) => x.rate));
  const cpu = cpus()[0]?.model ?? "unknown";
  console.log(`machine: ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, ${cpu}`);
  console.log(`bun ${Bun.version}, ${new Date().toISOString().slice(0, 16)}Z; N=${n} jobs after a warm-up of ${WARMUP(n)}, concurrency C=${c}, median of ${rounds} rounds\n`);
  console.log("| scenario | deliveries/s (median) | runs | vs fetch loop | claims (jobs/claim) | completion writes (jobs/write) | worker CPU µs/delivery | of it: loop / store / HTTP client / other | sink CPU µs/delivery | worker peak RSS | machine CPU busy |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const [name] of scenarios) {
    const rs = results.get(name)!;
    const m = medianRun(rs);
    const rate = median(rs.map((x) => x.rate));
    const claims = m.reports.reduce((a, x) => a + (x.claims ?? 0), 0);
    const writes = m.reports.reduce((a, x) => a + (x.completionWrites ?? 0) + (x.completeJobCalls ?? 0), 0);
    const carried = m.reports.reduce((a, x) => a + (x.completionsWithClaims ?? 0), 0);
    const cpuUs = Math.round((1000 * m.reports.reduce((a, x) => a + x.cpuMs, 0)) / n);
    const rss = m.reports.map((x) => `${x.peakRssMiB}`).join(" + ");
    const isBase = name.startsWith("fetch");
    console.log(
      `| ${name} | ${Math.round(rate)} | ${rs.map((x) => Math.round(x.rate)).join(", ")} | ${isBase ? "1.00" : (rate / base).toFixed(2)} | ` +
        `${isBase ? "-" : `${claims} (${(n / claims).toFixed(1)})`} | ${isBase ? "-" : `${writes} (${((n - carried) / writes).toFixed(1)})${carried ? `, ${carried} with claims` : ""}`} | ${cpuUs} | ${splitText(m.reports)} | ${m.sinkUs.toFixed(1)} | ${rss} MiB | ${m.cpuBusyPct}% |`,
    );
  }
  if (pg) console.log(`| worker, postgres | skipped: ${pg} | | | | | | | | | |`);
}

// ---- slow sinks: Little's law -------------------------------------------------------------------

/** serve's default action concurrency (config/resolve.ts DEFAULTS) and a raised one. */
const SLOW_CONCURRENCIES = (process.env.DRAIN_SLOW_C ?? "16,128").split(",").map(Number);
const SLOW_LATENCIES = (process.env.DRAIN_SLOW_L ?? "1,10,50,200").split(",").map(Number);
/** How long a timed run should take at C/L: long enough for many waves, short enough to repeat. */
const SLOW_RUN_MS = Number(process.env.DRAIN_SLOW_MS ?? 1500);

/** Jobs for one slow-sink run: about SLOW_RUN_MS at C/L, at least 4 waves, at most 8,000, a whole number of waves. */
function slowN(c: number, latencyMs: number): number {
  const n = Math.min(8000, Math.max(4 * c, Math.round((SLOW_RUN_MS / latencyMs) * c)));
  return Math.ceil(n / c) * c;
}

/**
 * `bun bench/drain.ts slow [rounds=1]`: a sink that answers after a fixed latency L, for each L in
 * DRAIN_SLOW_L (1,10,50,200 ms) and each C in DRAIN_SLOW_C (16 = the default concurrency, and 128):
 * the worker as serve runs it (SQLite full, store on its own thread) and a plain fetch loop with
 * the same C, and the floor (floorRole: the least a durable worker pays, with its queue of C and
 * without), against C/L, the most Little's law allows (C requests in flight, each L long). These
 * runs are bound by latency, not CPU, so they mean something on a busy machine too, except where
 * C/L approaches what the machine's CPU can do at all (L = 1 ms): the fetch loop shows that
 * ceiling. Warm-up: 20,000 deliveries per child (DRAIN_WARMUP overrides) into a second sink that
 * answers at once, so it takes a second, not 20,000 × L / C. With the 2,000 deliveries into the
 * slow sink it did before, the worker was still being compiled in the timed run (its JIT thread
 * at ~23 µs per delivery at L = 1 ms, C = 16, against ~2 after 16,000), which took CPU from the
 * deliveries on 2 cores; the fetch loop, with less code, warms up sooner.
 *
 * BENCH_BASELINE=<checkout> adds that checkout's src/outbox/worker.ts (only the Worker class, on
 * this checkout's store and bench: valid while the two differ in worker.ts alone), run right after
 * this one's in every round.
 */
async function orchestrateSlow(rounds: number): Promise<void> {
  type Row = { latency: number; c: number; n: number; fetch: number[]; worker: number[]; runs: Result[]; busy: number[]; base: number[]; floor: number[]; floorRuns: Result[]; floorBare: number[] };
  const rows: Row[] = [];
  const warmSink = spawnRole(["sink"]);
  const warmPort = Number((await warmSink.lines.next()).value);
  const baseModule = BASELINE ? join(BASELINE, "src/outbox/worker.ts") : undefined;
  for (const latency of SLOW_LATENCIES) {
    const sinkChild = spawnRole(["sink", String(latency)]);
    sinkPid = sinkChild.proc.pid;
    const port = Number((await sinkChild.lines.next()).value);
    for (const c of SLOW_CONCURRENCIES) {
      const n = slowN(c, latency);
      const warm = Number(process.env.DRAIN_WARMUP ?? 20_000);
      const row: Row = { latency, c, n, fetch: [], worker: [], runs: [], busy: [], base: [], floor: [], floorRuns: [], floorBare: [] };
      for (let r = 1; r <= rounds; r++) {
        const f = await runChildren([spawnRole(["fetch", String(port), String(n), String(c)], undefined, { action: "fetch", count: warm, port: warmPort })], n, port, async () => true, false);
        const fl = await floorRun(port, n, c, floorQueue(c), warm, warmPort);
        const fb = await floorRun(port, n, c, 0, warm, warmPort);
        const w = await slowWorkerRun(port, n, c, warm, warmPort);
        const b = baseModule ? await slowWorkerRun(port, n, c, warm, warmPort, baseModule) : undefined;
        row.fetch.push(f.rate);
        row.worker.push(w.rate);
        row.runs.push(w);
        row.floor.push(fl.rate);
        row.floorRuns.push(fl);
        row.floorBare.push(fb.rate);
        row.busy.push(f.cpuBusyPct, fl.cpuBusyPct, fb.cpuBusyPct, w.cpuBusyPct);
        if (b) row.base.push(b.rate);
        console.error(`round ${r}: L=${latency} ms C=${c} N=${n}: C/L ${Math.round((c * 1000) / latency)}/s, fetch ${Math.round(f.rate)}/s, floor ${Math.round(fl.rate)}/s, without a queue ${Math.round(fb.rate)}/s, worker ${Math.round(w.rate)}/s (cpu ${w.cpuBusyPct}%)${b ? `, baseline worker ${Math.round(b.rate)}/s` : ""}`);
      }
      rows.push(row);
    }
    sinkChild.proc.kill();
  }
  warmSink.proc.kill();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`machine: ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, ${cpus()[0]?.model ?? "unknown"}`);
  console.log(`bun ${Bun.version}, ${new Date().toISOString().slice(0, 16)}Z; worker: SQLite full, store thread (as serve runs it); median of ${rounds} round(s)${BASELINE ? `; baseline worker.ts: ${BASELINE}` : ""}\n`);
  console.log(`| L | C | N | C/L (Little) | fetch loop /s | of C/L | floor /s | floor, of C/L | floor without a queue, of C/L | worker /s | of C/L | of fetch loop | sink's real hold | floor / worker CPU µs/delivery | floor / worker claims (jobs/claim) | machine CPU busy |${BASELINE ? " baseline worker /s (runs) |" : ""}`);
  console.log(`|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|${BASELINE ? "---|" : ""}`);
  for (const r of rows) {
    const ideal = (r.c * 1000) / r.latency;
    const f = median(r.fetch);
    const w = median(r.worker);
    const run = r.runs[r.worker.indexOf(w)]!;
    const fl = median(r.floor);
    const flRun = r.floorRuns[r.floor.indexOf(fl)]!;
    const claimsOf = (x: Result) => x.reports.reduce((a, y) => a + (y.claims ?? 0), 0);
    const cpuOf = (x: Result) => Math.round((1000 * x.reports.reduce((a, y) => a + y.cpuMs, 0)) / r.n);
    const claimText = (x: Result) => `${claimsOf(x)} (${(r.n / Math.max(1, claimsOf(x))).toFixed(1)})`;
    const pct = (x: number) => `${Math.round((100 * x) / ideal)} %`;
    console.log(
      `| ${r.latency} ms | ${r.c} | ${r.n} | ${Math.round(ideal)} | ${Math.round(f)} | ${pct(f)} | ${Math.round(fl)} | ${pct(fl)} | ${pct(median(r.floorBare))} | ${Math.round(w)} | ${pct(w)} | ${(w / f).toFixed(2)} | ` +
        `${run.sinkHoldMs.toFixed(2)} ms | ${cpuOf(flRun)} / ${cpuOf(run)} | ${claimText(flRun)} / ${claimText(run)} | ${Math.min(...r.busy)}-${Math.max(...r.busy)} % |` +
        (BASELINE ? ` ${Math.round(median(r.base))} (${r.base.map(Math.round).join(", ")}) |` : ""),
    );
  }
}

/** One worker process (SQLite full, store thread) draining `n` jobs into the sink on `port`. */
async function slowWorkerRun(port: number, n: number, c: number, warm: number, warmPort: number, workerModule?: string): Promise<Result> {
  const { dir, url } = await filledSqliteOutbox(port, n, c, warm);
  try {
    const reader = new Database(join(dir, "outbox.db"), { readonly: true });
    const busy = reader.query("SELECT EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_due WHERE state = 'pending') OR EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_lease WHERE state = 'running') AS busy");
    const done = async () => (busy.get() as { busy: number }).busy === 0;
    const env: Record<string, string> = workerModule ? { DRAIN_WORKER_MODULE: workerModule } : {};
    const result = await runChildren([spawnRole(["worker", url, String(port), String(c), "full", "thread"], undefined, { action: warmAction(0), count: warm, port: warmPort }, env)], n, port, done, true);
    reader.close();
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The reports' thread split (per process, joined by " + "); "?" from a baseline checkout that does not report it. */
function splitText(reports: Report[]): string {
  const f = (x: number) => (x ? x.toFixed(1) : "-");
  return reports.map((r) => (r.threads ? `${f(r.threads.loop)} / ${f(r.threads.store)} / ${f(r.threads.http)} / ${f(r.threads.other)}` : "?")).join(" + ");
}

const [role, ...args] = process.argv.slice(2);
if (role === "sink") sink(Number(args[0] ?? 0));
else if (role === "fetch") {
  await fetchLoop(Number(args[0]), Number(args[1]), Number(args[2]));
  process.exit(0); // the stdin reader would keep the process alive
} else if (role === "floor") {
  await floorRole(args[0]!, Number(args[1]), Number(args[2]), Number(args[3] ?? 0));
  process.exit(0);
} else if (role === "worker") {
  await workerRole(args[0]!, Number(args[1]), Number(args[2]), args[3] as "full" | "normal", args[4] === "thread", args[5]);
  process.exit(0);
}
else if (role === "slow") await orchestrateSlow(Number(args[0] ?? 1));
else await orchestrate(Number(role ?? 20_000), Number(args[0] ?? 64), Number(args[1] ?? 3));
