// Deno runs with only the permissions it is given: a missing one is a one-line message naming
// it and what to do, not a stack trace.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");

test("serve on Deno without --allow-sys names the permission it needs and exits 2", () => {
  const dir = mkdtempSync(join(tmpdir(), "kh-deno-perm-"));
  try {
    const r = Bun.spawnSync(
      ["deno", "run", "--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-run", "src/cli.ts", "serve", "--config", "config/hooks.yaml", "--listen", "127.0.0.1:0", "--store", `sqlite:${join(dir, "a.db")}`],
      { cwd: ROOT, env: { ...process.env, NO_COLOR: "1", KRATOS_HOOKS_SECRET: "s", KRATOS_HOOKS_BASIC_PASSWORD: "p", CRM_TOKEN: "t" }, timeout: 30_000 },
    );
    expect({ code: r.exitCode, stderr: r.stderr.toString() }).toEqual({
      code: 2,
      stderr:
        'kratos-hooks: Requires sys access to "hostname", run again with the --allow-sys flag\n' +
        "  hint: run it as 'deno run -A src/cli.ts ...', or grant the permissions docs/deno.md lists\n",
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 40_000);
