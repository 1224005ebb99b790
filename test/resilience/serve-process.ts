// `kratos-hooks serve` as a real child process for the resilience tests: started with the real CLI
// (on Bun, or on Deno with the README's `deno run -A src/cli.ts`),
// its JSON log lines drained continuously (a full stdout pipe would stall the server under load),
// killed only by its own PID. Every process started here is recorded so afterAll can kill the
// ones a failed test left behind.
import type { Subprocess } from "bun";
import { join } from "node:path";

const CLI = join(import.meta.dir, "../../src/cli.ts");

export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

type Proc = Subprocess<"ignore", "pipe", "pipe">;
const everyProcess = new Set<Proc>();

/** SIGKILLs every serve process this module started that is still running (afterAll). */
export function killLeftovers(): void {
  for (const p of everyProcess) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  everyProcess.clear();
}

export type ServeOptions = {
  config: string;
  /** Store URL passed as --store. */
  store: string;
  /** Port to listen on (0 = any free one). */
  port?: number;
  env?: Record<string, string>;
  /** How long to wait for the "listening" line. */
  startTimeoutMs?: number;
  /** More serve flags (e.g. --no-worker). */
  args?: string[];
  /** Which runtime runs the CLI: `bun src/cli.ts` (default) or `deno run -A src/cli.ts` (README). */
  runtime?: Runtime;
};

export type Runtime = "bun" | "deno";

/** The README's command for each runtime. */
export function cliCommand(runtime: Runtime = "bun"): string[] {
  return runtime === "deno" ? ["deno", "run", "-A", CLI] : ["bun", CLI];
}

export class ServeProcess {
  readonly proc: Proc;
  readonly lines: LogLine[] = [];
  readonly #listening: Promise<LogLine>;
  #stderrText = "";
  port = 0;

  private constructor(readonly opts: ServeOptions) {
    this.proc = Bun.spawn([...cliCommand(opts.runtime), "serve", "--config", opts.config, "--store", opts.store, "--listen", `127.0.0.1:${opts.port ?? 0}`, ...(opts.args ?? [])], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...opts.env },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    everyProcess.add(this.proc);
    let found: (l: LogLine) => void;
    this.#listening = new Promise<LogLine>((resolve) => (found = resolve));
    void this.#drain(this.proc.stdout, (l) => l.msg === "listening" && found(l));
    void this.#drain(this.proc.stderr, () => {}, true);
  }

  /** Spawns serve and waits for its "listening" line; throws (with its stderr) if it exits first. */
  static async start(opts: ServeOptions): Promise<ServeProcess> {
    const s = new ServeProcess(opts);
    const timeoutMs = opts.startTimeoutMs ?? 30_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      s.#listening.then((l) => ({ l })),
      s.proc.exited.then((code) => ({ code })),
      new Promise<{ timeout: true }>((r) => (timer = setTimeout(() => r({ timeout: true }), timeoutMs))),
    ]);
    clearTimeout(timer);
    if ("l" in outcome) {
      s.port = Number(outcome.l.port);
      return s;
    }
    if (s.alive) s.proc.kill("SIGKILL");
    await s.proc.exited;
    await Bun.sleep(50); // let the drains collect the last lines
    throw new Error(`serve did not start (${"code" in outcome ? `exit ${outcome.code}` : "timeout"}): ${s.#stderrText.slice(-2000)}`);
  }

  get pid(): number {
    return this.proc.pid;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** SIGKILL by PID: no shutdown, no flush, like an OOM kill. Resolves when it is gone. */
  async kill(): Promise<void> {
    if (this.alive) this.proc.kill("SIGKILL");
    await this.proc.exited;
  }

  /** SIGTERM (graceful shutdown); resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.alive) this.proc.kill("SIGTERM");
    return await this.proc.exited;
  }

  /** The outbox job counts by state, as /metrics reports them (from the store). */
  async jobsByState(): Promise<Record<string, number>> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^kratos_hooks_jobs\{state="(\w+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
    return out;
  }

  /** The sum of every sample of one metric (all label sets), from /metrics. */
  async metricSum(name: string): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    let sum = 0;
    for (const line of text.split("\n")) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    return sum;
  }

  /** Log lines with this msg (both streams). */
  logs(msg: string): LogLine[] {
    return this.lines.filter((l) => l.msg === msg);
  }

  async #drain(stream: ReadableStream<Uint8Array>, onLine: (l: LogLine) => void, isStderr = false): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      if (isStderr) this.#stderrText = (this.#stderrText + text).slice(-20_000);
      buffer += text;
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const raw = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        let line: LogLine;
        try {
          line = JSON.parse(raw) as LogLine;
        } catch {
          line = { msg: "(not json)", text: raw };
        }
        // Keep everything but the per-request info lines, which are many and asserted through responses.
        if (!(line.msg === "request" && line.level === "info") && line.msg !== "job delivered") this.lines.push(line);
        onLine(line);
      }
    }
  }
}

/** A port outside the ephemeral range (32768+ here) that is free now, so a restarted serve can bind it again. */
export function stablePort(): number {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      const s = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
      s.stop(true);
      return port;
    } catch {
      // taken: try another
    }
  }
  throw new Error("no free port found in 20000-31999");
}
