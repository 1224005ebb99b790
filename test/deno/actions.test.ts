// The exec action's tests (no shell, stdin, exit codes, timeouts killing the process group) run
// under Deno too: `serve` on Deno delivers exec actions through the same node:child_process code.
import { expect, test } from "bun:test";
import { casesIn, denoTest } from "./run-deno-test.ts";

test("the exec action's tests pass under Deno", async () => {
  const run = await denoTest(["test/actions/exec.test.ts"]);
  expect({ code: run.code, passed: run.passed, failed: run.failed }).toEqual({ code: 0, passed: casesIn("test/actions/exec.test.ts"), failed: 0 });
}, 120_000);
