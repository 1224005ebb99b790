// Event-loop CPU per delivery of what serve hangs on the outbox worker's events (observe-worker.ts):
// a `job:delivered` event built as the worker builds it, serve's Metrics, and serve's logger
// (src/server/log.ts, with a redactor of two secrets as src/secrets.ts builds it) writing its JSON
// line through the 5 ms stdout buffer to process.stdout. In-process, no worker, no store: the
// events are emitted 64 per event-loop turn (about what a drain hands the loop), from jobs built
// before the clock starts. Checkouts alternate round by round in one process:
//
//   bun bench/observe-cpu.ts <dir> [<dir> ...] | cat >/dev/null     (a dir holds a checkout's src/)
//
// `parts:<dir>`: that checkout's pieces one by one (the event alone, + metrics, + log without a
// redactor, + redaction), to see where the time goes. stdout carries only the log lines; results
// go to stderr. CPU from CLOCK_THREAD_CPUTIME_ID. Results: bench/results/drain.md (eighth session, second round).
import { openSync, writeSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ownThreadCpuUs } from "./thread-cpu.ts";

const N = Number(process.env.N ?? 100_000);
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const PER_TURN = Number(process.env.PER_TURN ?? 64);
const devNull = openSync(join(tmpdir(), `kh-bench-observe-${process.pid}.log`), "w");
const dirs = process.argv.length > 2 ? process.argv.slice(2) : [join(import.meta.dir, "..")];

// Two secrets as serve knows them: a hook's api key and an action's bearer token.
// SECRETS=a,b,c: others instead.
const SECRETS = process.env.SECRETS?.split(",") ?? ["bench-secret", "tok_4f8a9c2e7b1d4e6fa3c5b8d9e0f1a2b3"];
type Job = { id: string; hook: string; action: string; attempts: number; maxAttempts: number; triggerId: string | null; traceparent: string | null };
const jobs: Job[] = Array.from({ length: 4096 }, (_, i) => ({
  id: Bun.randomUUIDv7(),
  hook: "registration",
  action: "registration.crm",
  attempts: 1,
  maxAttempts: 5,
  triggerId: crypto.randomUUID(),
  traceparent: i % 2 ? `00-${crypto.randomUUID().replace(/-/g, "")}-00f067aa0ba902b7-01` : null,
}));

type Run = { label: string; emit(job: Job, durationMs: number): void };

async function load(spec: string): Promise<Run[]> {
  const parts = spec.startsWith("parts:");
  const root = resolve(parts ? spec.slice(6) : spec);
  const { WorkerEventEmitter, deliveredEvent } = await import(join(root, "src/outbox/worker.ts"));
  const { observeWorker } = await import(join(root, "src/server/observe-worker.ts"));
  const { createLogger, turnBuffer } = await import(join(root, "src/server/log.ts"));
  const { Metrics } = await import(join(root, "src/server/metrics.ts"));
  const { Redactor } = await import(join(root, "src/secrets.ts"));
  const { traceIdOf } = await import(join(root, "src/trace-context.ts"));
  // The worker's job:delivered event: its deliveredEvent (since the eighth session, second round), or before that
  // its jobEvent (src/outbox/worker.ts) and `{ ...jobEvent(job), durationMs }`.
  const jobEvent = (job: Job) => {
    const ev: Record<string, unknown> = { jobId: job.id, hook: job.hook, action: job.action, attempt: job.attempts, maxAttempts: job.maxAttempts, triggerId: job.triggerId ?? null };
    const traceId = traceIdOf(job.traceparent);
    if (traceId) ev.traceId = traceId;
    return ev;
  };
  const observed = (metrics: unknown, log: unknown): Run["emit"] => {
    const events = new WorkerEventEmitter();
    observeWorker(events, metrics, log);
    return (job, durationMs) => {
      if (events.has("job:delivered")) events.emit("job:delivered", deliveredEvent ? deliveredEvent(job, durationMs) : { ...jobEvent(job), durationMs });
    };
  };
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const full: Run = { label: spec, emit: observed(new Metrics(), createLogger({ level: "info", redactor: new Redactor(SECRETS) })) };
  if (!parts) return [full];
  return [
    { label: `${spec} event only`, emit: observed({ deliveryAttempt() {}, jobDead() {} }, silent) },
    { label: `${spec} + metrics`, emit: observed(new Metrics(), silent) },
    { label: `${spec} + log, no redactor, no-op sink`, emit: observed(new Metrics(), createLogger({ level: "info", sink: () => {} })) },
    { label: `${spec} + log, no redactor`, emit: observed(new Metrics(), createLogger({ level: "info" })) },
    { ...full, label: `${spec} + redactor (all)` },
    // bench/drain.ts's observed worker: its lines to a file, one writeSync per event-loop turn (serve: stdout, once per 5 ms).
    { label: `${spec} all, drain.ts's sink`, emit: observed(new Metrics(), createLogger({ level: "info", redactor: new Redactor(SECRETS), sink: ((b) => (line: string) => b.push(line))(turnBuffer((text: string) => writeSync(devNull, text))) })) },
  ];
}

async function measure(run: Run, n: number): Promise<number> {
  await new Promise((r) => setImmediate(r));
  const t0 = ownThreadCpuUs();
  for (let i = 0; i < n; ) {
    for (const end = Math.min(n, i + PER_TURN); i < end; i++) run.emit(jobs[i & 4095]!, 3 + (i % 40));
    await new Promise((r) => setImmediate(r));
  }
  return (ownThreadCpuUs() - t0) / n;
}

const runs: Run[] = [];
for (const d of dirs) runs.push(...(await load(d)));
for (const r of runs) await measure(r, 20_000); // warm-up
const results = new Map<string, number[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (const r of round % 2 ? [...runs].reverse() : runs) {
    const us = await measure(r, N);
    results.set(r.label, [...(results.get(r.label) ?? []), us]);
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.error(`N=${N} per round, ${ROUNDS} rounds, ${PER_TURN} per turn; ${new Date().toISOString().slice(0, 16)}Z; load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
for (const [label, xs] of results) console.error(`${label}: median ${med(xs).toFixed(2)} µs/delivery (${xs.map((x) => x.toFixed(2)).join(", ")})`);
