// The exec action: runs argv directly (no shell, so body values cannot inject commands), writes
// the job as JSON to stdin, and reads success from the exit code.
import { spawn } from "node:child_process";
import type { ResolvedExecAction } from "../config/types.ts";
import { NO_SECRETS } from "../secrets.ts";
import type { Env } from "../template.ts";
import { DeliveryError, excerpt, snippet, type DeliveryContext, type DeliveryResult, type ExecInput } from "./types.ts";

/** Time between SIGTERM and SIGKILL when a command overruns its timeout. */
export const KILL_GRACE_MS = 2_000;
const STDERR_TAIL_BYTES = 4096;

/**
 * The environment a command starts from: PATH, LANG, LC_*, TZ and HOME as serve has them, nothing
 * else. serve's own environment holds the webhook secrets, the SMTP password and every token the
 * actions use; a command gets a value only when its action declares it in `env`.
 */
export function baseEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && (k === "PATH" || k === "LANG" || k === "TZ" || k === "HOME" || k.startsWith("LC_"))) out[k] = v;
  }
  return out;
}

/** What the command reads on stdin. */
export type ExecStdin = { job_id: string; hook: string; action: string; attempt: number; body: unknown };

export function deliverExec(action: ResolvedExecAction, input: ExecInput, ctx: DeliveryContext, killGraceMs = KILL_GRACE_MS): Promise<DeliveryResult> {
  const [file, ...args] = input.argv;
  if (!file) return Promise.reject(new DeliveryError("empty command", false));
  const stdin: ExecStdin = { job_id: ctx.jobId, hook: ctx.hook, action: ctx.action, attempt: ctx.attempt, body: input.body };

  return new Promise<DeliveryResult>((resolve, reject) => {
    // detached: the command leads its own process group, so a timeout kills what it started too
    // (a shell's children) by signalling -PID.
    const env = { ...baseEnv(ctx.env), ...input.env, KRATOS_HOOKS_JOB_ID: ctx.jobId, KRATOS_HOOKS_ATTEMPT: String(ctx.attempt) };
    const nul = [...input.argv, ...Object.values(env)].some((a) => a.includes("\0"));
    if (nul) return reject(new DeliveryError(`cannot run ${file}: an argument or env value holds a NUL byte`, false));
    const child = spawn(file, args, { cwd: action.cwd, env, stdio: ["pipe", "ignore", "pipe"], detached: true });
    // stderr is redacted as it streams in, then only its end is kept: a secret is masked whole
    // before any cut could leave a piece of it.
    const redacting = (ctx.redactor ?? NO_SECRETS).stream();
    let stderr = "";
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (d: string) => {
      stderr = (stderr + redacting.push(d)).slice(-STDERR_TAIL_BYTES);
    });
    // A command that exits without reading stdin closes the pipe: that is not a failure.
    child.stdin!.on("error", () => {});
    child.stdin!.end(JSON.stringify(stdin));

    let killedFor: "timeout" | "abort" | undefined;
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const kill = (why: "timeout" | "abort") => {
      if (killedFor || child.exitCode !== null || child.signalCode !== null) return;
      killedFor = why;
      signalGroup(child.pid, "SIGTERM");
      killTimer = setTimeout(() => signalGroup(child.pid, "SIGKILL"), killGraceMs);
    };
    const timer = setTimeout(() => kill("timeout"), action.timeoutMs);
    const onAbort = () => kill("abort");
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener("abort", onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      ctx.signal.removeEventListener("abort", onAbort);
    };

    child.on("error", (err: NodeJS.ErrnoException) => {
      done();
      // The command could not start (ENOENT, EACCES): retrying the same argv will not help.
      reject(new DeliveryError(`cannot run ${file}: ${err.code ?? ""} ${excerpt(err.message, ctx, 120)}`.trim(), false));
    });
    child.on("exit", (code, signal) => {
      // stderr may still be draining; wait for the pipes to close, but not for a background
      // process that inherited them.
      let settled = false;
      const settle = () => {
        if (settled) return;
        settled = true;
        finish(code, signal);
      };
      child.once("close", settle);
      setTimeout(settle, 200);
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      done();
      // The group may still hold children that ignored SIGTERM; make sure none outlives the job.
      if (killedFor) signalGroup(child.pid, "SIGKILL");
      stderr = (stderr + redacting.end()).slice(-STDERR_TAIL_BYTES);
      const tail = stderr ? `; stderr: ${snippet(stderr.slice(-400), 400)}` : "";
      if (killedFor === "timeout") reject(new DeliveryError(`${file} timed out after ${action.timeoutMs}ms and was killed${tail}`, true));
      else if (killedFor === "abort") reject(new DeliveryError(`${file} was killed (worker deadline or shutdown)${tail}`, true));
      else if (code === 0) resolve({ code: 0 });
      else reject(new DeliveryError(`${file} exited with ${code !== null ? `code ${code}` : `signal ${signal}`}${tail}`, true, undefined, code ?? undefined));
    };
  });
}

function signalGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // Already gone.
  }
}
