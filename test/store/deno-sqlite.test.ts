// The shared Store suite on node:sqlite under Deno (sqlite.deno.ts), run from bun test so CI runs
// it with everything else: every case of the suite must run there and pass. And the store Deno
// cannot open (Postgres: its client is Bun's) is refused with a message, never a crash.
import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { casesIn, denoTest } from "../deno/run-deno-test.ts";

const ROOT = resolve(import.meta.dir, "../..");

test("the Store suite passes on node:sqlite under Deno: in process, with the index flushed, on a store thread", async () => {
  const run = await denoTest(["test/store/sqlite.deno.ts"]);
  expect({ code: run.code, passed: run.passed, failed: run.failed }).toEqual({
    code: 0,
    passed: 3 * casesIn("test/store/store.suite.ts") + casesIn("test/store/sqlite.deno.ts"),
    failed: 0,
  });
}, 180_000);
test("on Deno, serve, outbox and migrate refuse a postgres store in one message saying what to do, without the password", () => {
  const url = "postgres://someone:hunter2-not-real@127.0.0.1:5432/test";
  const run = (...args: string[]) => Bun.spawnSync(["deno", "run", "-A", "src/cli.ts", ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1", KRATOS_HOOKS_SECRET: "s", KRATOS_HOOKS_BASIC_PASSWORD: "p", CRM_TOKEN: "t" }, timeout: 30_000 });
  for (const args of [["serve", "--config", "config/hooks.yaml", "--store", url, "--listen", "127.0.0.1:0"], ["outbox", "stats", "--store", url], ["migrate", "--store", url]]) {
    const r = run(...args);
    const stderr = r.stderr.toString();
    expect({ args: args[0], code: r.exitCode, stderr }).toEqual({
      args: args[0],
      code: 2,
      stderr:
        "kratos-hooks: the postgres store needs Bun (its client is Bun.SQL)\n" +
        "  hint: run this command with bun or the kratos-hooks binary, or use a sqlite:<path> store on Deno (docs/deno.md)\n",
    });
    expect(r.stdout.toString() + stderr).not.toContain("hunter2");
  }
}, 60_000);
