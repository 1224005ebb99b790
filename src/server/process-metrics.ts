// The process_* metrics every Prometheus client library exports (names and units as the
// Prometheus client guidelines define them, so stock dashboards and alerts work), and a
// kratos_hooks_build_info gauge whose labels say which build is running. Read at scrape time, at
// most once a second: a sample costs ~60 µs of the event loop (/proc reads), which 32 scrapers in a
// loop turned into a threefold median ack (test/security/open-endpoints.test.ts); scrapes within
// the second get the same text.
import { readdirSync, readFileSync } from "node:fs";
import pkg from "../../package.json" with { type: "json" };
import { RUNTIME } from "../runtime.ts";
import { Counter, Gauge, Registry } from "./metrics.ts";

/** When this process started, in epoch seconds (process.uptime counts from the runtime's start). */
const START_SECONDS = Math.round((Date.now() / 1000 - process.uptime()) * 1000) / 1000;

export type ProcessMetricsOptions = {
  /** A sample younger than this is served again. Default 1 s. */
  maxAgeMs?: number;
  now?: () => number;
};

export class ProcessMetrics {
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  #text: string | undefined;
  #takenAt = 0;
  readonly #registry = new Registry();
  readonly #cpu = this.#registry.add(new Counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds."));
  readonly #rss = this.#registry.add(new Gauge("process_resident_memory_bytes", "Resident memory size in bytes."));
  readonly #fds = this.#registry.add(new Gauge("process_open_fds", "Number of open file descriptors."));
  readonly #maxFds = this.#registry.add(new Gauge("process_max_fds", "Maximum number of open file descriptors."));
  readonly #start = this.#registry.add(new Gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds."));
  readonly #build = this.#registry.add(new Gauge("kratos_hooks_build_info", "1, labelled with the kratos-hooks version and the runtime it runs on.", ["version", "runtime", "runtime_version"]));

  constructor(opts: ProcessMetricsOptions = {}) {
    this.#maxAgeMs = opts.maxAgeMs ?? 1000;
    this.#now = opts.now ?? Date.now;
    this.#start.set([], START_SECONDS);
    // process.versions names each runtime's own version (Deno sets `deno` beside a nominal `node`).
    const runtime = RUNTIME === "other" ? "node" : RUNTIME;
    const versions = process.versions as Record<string, string | undefined>;
    this.#build.set([pkg.version, runtime, versions[runtime] ?? process.versions.node], 1);
  }

  render(): string {
    const now = this.#now();
    if (this.#text !== undefined && now - this.#takenAt < this.#maxAgeMs) return this.#text;
    this.#takenAt = now;
    return (this.#text = this.#sample());
  }

  #sample(): string {
    const cpu = process.cpuUsage();
    const cell = this.#cpu.cell();
    cell.value = (cpu.user + cpu.system) / 1e6;
    this.#rss.set([], process.memoryUsage.rss());
    const fds = openFds();
    if (fds !== undefined) this.#fds.set([], fds);
    const max = maxFds();
    if (max !== undefined) this.#maxFds.set([], max);
    return this.#registry.render();
  }
}

/** Open descriptors from /proc (Linux); undefined elsewhere. The directory's own descriptor is not counted. */
function openFds(): number | undefined {
  try {
    return readdirSync("/proc/self/fd").length - 1;
  } catch {
    return undefined;
  }
}

/** The soft limit on open files, from /proc/self/limits (Linux); undefined elsewhere or when unlimited. */
function maxFds(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
