import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildJobPayload, deliver, DeliveryError } from "../../src/actions/index.ts";
import { deliveryContext, execAction } from "./helpers.ts";

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kh-exec-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const body = { identity_id: "id-1", email: "ada@example.com" };

async function run(over: Parameters<typeof execAction>[0], jobId = "job-x", env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", DEPLOY_KEY: "k3y-value" }) {
  const action = execAction(over);
  const payload = buildJobPayload(action, { body, hook: "verified", jobId });
  try {
    await deliver(action, payload, deliveryContext({ jobId, hook: "verified", action: action.id, attempt: 2, env }));
    return { payload, error: undefined };
  } catch (err) {
    return { payload, error: err as DeliveryError };
  }
}

/** Running, i.e. present and not a zombie (an orphan's zombie waits for PID 1, which may never reap it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

describe("exec action", () => {
  test("writes the job JSON to stdin, passes templated argv and env, exit 0 is success", async () => {
    const out = join(dir, "stdin.json");
    const { error, payload } = await run({
      command: ["/bin/sh", "-c", 'cat > "$1"; printf "%s|%s|%s" "$2" "$KEY" "$KRATOS_HOOKS_JOB_ID" > "$1.meta"', "sh", out, "{{body.email}}"],
      env: { KEY: "{{env.DEPLOY_KEY}}" },
    }, "job-stdin");
    expect(error).toBeUndefined();
    expect(JSON.parse(readFileSync(out, "utf8"))).toEqual({ job_id: "job-stdin", hook: "verified", action: "h.exec", attempt: 2, body });
    expect(readFileSync(`${out}.meta`, "utf8")).toBe("ada@example.com|k3y-value|job-stdin");
    expect(JSON.stringify(payload)).not.toContain("k3y-value");
  });

  test("argv is not run through a shell: a body value stays one argument", async () => {
    const out = join(dir, "argv.txt");
    const action = execAction({ command: ["/bin/sh", "-c", 'printf "%s" "$1" > "$2"', "sh", "{{body.email}}", out] });
    const payload = buildJobPayload(action, { body: { email: "a; touch /tmp/pwned-kh" }, hook: "h", jobId: "j" });
    await deliver(action, payload, deliveryContext({ env: { PATH: process.env.PATH ?? "" } }));
    expect(readFileSync(out, "utf8")).toBe("a; touch /tmp/pwned-kh");
    expect(existsSync("/tmp/pwned-kh")).toBe(false);
  });

  test("a non-zero exit is retryable and carries the stderr tail, with secrets scrubbed", async () => {
    const { error } = await run({ command: ["/bin/sh", "-c", 'echo "lots of noise" >&2; echo "failed with key $K" >&2; exit 3'], env: { K: "{{env.DEPLOY_KEY}}" } });
    expect(error).toBeInstanceOf(DeliveryError);
    expect(error!.retryable).toBe(true);
    expect(error!.message).toContain("code 3");
    expect(error!.message).toContain("failed with key ***");
    expect(error!.message).not.toContain("k3y-value");
  });

  test("a command that overruns its timeout is killed by PID, with its children", async () => {
    const pidFile = join(dir, "pids");
    const started = Date.now();
    const { error } = await run({
      // The shell ignores SIGTERM, so only SIGKILL after the grace period ends it.
      command: ["/bin/sh", "-c", `trap "" TERM; sleep 30 & echo "$$ $!" > ${pidFile}; wait`],
      timeoutMs: 200,
    });
    expect(error!.retryable).toBe(true);
    expect(error!.message).toContain("timed out after 200ms");
    const [shPid, sleepPid] = readFileSync(pidFile, "utf8").trim().split(" ").map(Number);
    // Give the kernel a moment to reap.
    for (let i = 0; i < 50 && (alive(shPid!) || alive(sleepPid!)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive(shPid!)).toBe(false);
    expect(alive(sleepPid!)).toBe(false);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test("a command that cannot start is not retryable", async () => {
    const { error } = await run({ command: [join(dir, "no-such-binary")] });
    expect(error!.retryable).toBe(false);
    expect(error!.message).toContain("cannot run");
  });

  test("a command that ignores stdin still succeeds", async () => {
    const { error } = await run({ command: ["/bin/true"] });
    expect(error).toBeUndefined();
  });

  test("cwd is honoured", async () => {
    const { error } = await run({ command: ["/bin/sh", "-c", "pwd > here.txt"], cwd: dir });
    expect(error).toBeUndefined();
    expect(readFileSync(join(dir, "here.txt"), "utf8").trim()).toBe(dir);
  });
});
