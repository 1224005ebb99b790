// The shared Store suite on node:sqlite under Deno (sqlite.deno.ts), run from bun test so CI runs
// it with everything else: every case of the suite must run there and pass. And the store Deno
// cannot open (Postgres: its client is Bun's) is refused with a message, never a crash.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const cases = (file: string) => readFileSync(resolve(import.meta.dir, file), "utf8").match(/^\s+test\(/gm)?.length ?? 0;

test("the Store suite passes on node:sqlite under Deno: in process, with the index flushed, on a store thread", async () => {
  const proc = Bun.spawn(["deno", "test", "-A", "--no-check", "--import-map", "test/deno/import-map.json", "test/store/sqlite.deno.ts"], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: "1" },
    stdout: "pipe",
    stderr: "pipe",
    timeout: 170_000,
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const summary = /(ok|FAILED) \| (\d+) passed \| (\d+) failed/.exec(out);
  if (code !== 0 || !summary) console.error(out.split("\n").filter((l) => !/ \.\.\. ok/.test(l)).join("\n"), err);
  expect({ code, passed: Number(summary?.[2]), failed: Number(summary?.[3]) }).toEqual({
    code: 0,
    passed: 3 * cases("store.suite.ts") + cases("sqlite.deno.ts"),
    failed: 0,
  });
}, 180_000);

test("on Deno, serve, outbox and migrate refuse a postgres store in one message saying what to do, without the password", () => {
  const url = "postgres://someone:hunter2-not-real@127.0.0.1:5432/test";
  const run = (...args: string[]) => Bun.spawnSync(["deno", "run", "-A", "src/cli.ts", ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" }, timeout: 30_000 });
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
