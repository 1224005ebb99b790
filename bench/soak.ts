// Soak: `kratos-hooks serve` as deployed (SQLite synchronous=full, its store thread, the delivery
// worker on) under a steady open-loop load for minutes, every job delivered to a local sink. Does
// its memory stay flat, do its answers stay fast, does the outbox keep up? The ack bench's RSS
// figure comes from ~20 s runs; this one watches the same process for DURATION seconds.
//
//   bun bench/soak.ts [RATE=1000 req/s] [DURATION=300 s] [SAMPLE=30 s]
//
// Every SAMPLE seconds: VmRSS of serve, the answers' p50/p99 over the interval (from the scheduled
// send time: no coordinated omission), the deliveries the sink counted. At the end: every request
// answered 204, every job delivered (sink count = requests), serve stops on SIGTERM with exit 0.
// Traffic only to 127.0.0.1; the sink and serve are this script's children, ended by PID.
// SOAK_LOG=<file> keeps serve's JSON log (its request lines carry the server-side `ms`).
// Results: bench/results/soak.md.
import { spawn } from "bun";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { hooksYaml } from "./ack-hooks.ts";

const RATE = Number(process.argv[2] ?? 1000);
const DURATION = Number(process.argv[3] ?? 300);
const SAMPLE = Number(process.argv[4] ?? 30);
const dir = import.meta.dir;

/** First line of a child's stdout; the rest is drained so the pipe never fills (into `keep` if given). */
async function firstLine(stream: ReadableStream<Uint8Array>, pick: (line: string) => string | undefined, keep?: string): Promise<string> {
  const reader = stream.getReader();
  const sink = keep ? Bun.file(keep).writer() : undefined;
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`child exited before it was ready: ${buf}`);
    buf += decoder.decode(value, { stream: true });
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const found = pick(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (found !== undefined) {
        if (buf) sink?.write(buf);
        void (async () => {
          for (let r = await reader.read(); !r.done; r = await reader.read()) sink?.write(r.value);
          await sink?.end();
        })();
        return found;
      }
    }
  }
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024;
const hwmMb = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024;
const quantile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN);

const tmp = mkdtempSync(join(tmpdir(), "kh-soak-"));
const sink = spawn(["bun", join(dir, "drain.ts"), "sink"], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
const sinkPort = Number(await firstLine(sink.stdout, (l) => (/^\d+$/.test(l) ? l : undefined)));
const file = join(tmp, "hooks.yaml");
writeFileSync(file, hooksYaml(`sqlite:${join(tmp, "outbox.db")}`, "full", `http://127.0.0.1:${sinkPort}/contacts`));
const serve = spawn(["bun", join(dir, "../src/cli.ts"), "serve", "--config", file], { stdout: "pipe", stderr: "inherit", env: { ...process.env, BENCH_SECRET: "bench-secret" } });
// SOAK_LOG=<file>: keep serve's request log (each line has the answer's server-side `ms`).
const port = Number(await firstLine(serve.stdout, (l) => {
  const r = JSON.parse(l) as { msg?: string; port?: number };
  return r.msg === "listening" ? String(r.port) : undefined;
}, process.env.SOAK_LOG));
const delivered = async () => Number(await (await fetch(`http://127.0.0.1:${sinkPort}/count`)).text());

console.log(`machine: ${cpus().length} cores, ${cpus()[0]?.model}; bun ${Bun.version}; ${new Date().toISOString()}`);
console.log(`serve (SQLite synchronous=full, store thread, worker on) at an open-loop ${RATE} req/s for ${DURATION} s; one job per request, delivered to a local sink\n`);
console.log("| t (s) | requests sent | RSS MB | p50 ms | p99 ms | max ms | not 204 | delivered | outbox backlog |");
console.log("|---|---|---|---|---|---|---|---|---|");

const interval = 1000 / RATE;
const total = Math.round(RATE * DURATION);
let window: number[] = [];
let bad = 0;
let sent = 0;
const inflight = new Set<Promise<void>>();
const rows: { t: number; rss: number; p99: number }[] = [];
const t0 = performance.now();
let nextSample = t0 + SAMPLE * 1000;
const sample = async (t: number) => {
  const lat = window.sort((a, b) => a - b);
  window = [];
  const rss = rssMb(serve.pid);
  const done = await delivered();
  rows.push({ t, rss, p99: quantile(lat, 0.99) });
  console.log(`| ${t} | ${sent} | ${rss.toFixed(1)} | ${quantile(lat, 0.5).toFixed(2)} | ${quantile(lat, 0.99).toFixed(2)} | ${(lat[lat.length - 1] ?? NaN).toFixed(1)} | ${bad} | ${done} | ${sent - done} |`);
};
for (let i = 0; i < total; i++) {
  const due = t0 + i * interval;
  const wait = due - performance.now();
  if (wait > 1) await Bun.sleep(wait);
  if (performance.now() >= nextSample) {
    await sample(Math.round((nextSample - t0) / 1000));
    nextSample += SAMPLE * 1000;
  }
  const id = crypto.randomUUID();
  const body = `{\n   "email": "u${i}@example.org",\n   "flow_id": "${id}",\n   "identity_id": "${id}"\n}\n`;
  const from = Math.min(due, performance.now());
  sent++;
  const p: Promise<void> = fetch(`http://127.0.0.1:${port}/hooks/bench`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Hooks-Key": "bench-secret", "Ory-Webhook-Request-Id": id, "Ory-Webhook-Trigger-Id": id },
    body,
  })
    .then(async (r) => {
      await r.arrayBuffer();
      if (r.status !== 204) bad++;
      window.push(performance.now() - from);
    }, () => void bad++)
    .finally(() => inflight.delete(p));
  inflight.add(p);
}
await Promise.all(inflight);
await sample(DURATION);

// Drain: every job delivered within 60 s of the last request.
const drainUntil = performance.now() + 60_000;
while ((await delivered()) < sent && performance.now() < drainUntil) await Bun.sleep(200);
const finalDelivered = await delivered();
const peak = hwmMb(serve.pid);
serve.kill("SIGTERM");
const code = await serve.exited;
sink.kill("SIGTERM");
await sink.exited;
rmSync(tmp, { recursive: true, force: true });

const firstRss = rows[0]?.rss ?? NaN;
const lastRss = rows[rows.length - 1]?.rss ?? NaN;
console.log(`\nrequests ${sent}, not 204: ${bad}, delivered ${finalDelivered} (${finalDelivered === sent ? "all" : `MISSING ${sent - finalDelivered}`}); serve peak RSS (VmHWM) ${peak.toFixed(1)} MB; RSS at the first sample ${firstRss.toFixed(1)} MB, at the last ${lastRss.toFixed(1)} MB; worst interval p99 ${Math.max(...rows.map((r) => r.p99)).toFixed(2)} ms; serve exit code on SIGTERM ${code}`);
if (bad || finalDelivered !== sent || code !== 0) process.exitCode = 1;
