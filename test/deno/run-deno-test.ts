// Runs test files with `deno test`, "bun:test" mapped to the shim (bun-test.ts), for the bun tests
// that check a suite under Deno too. Type checking is Bun's tsc's job (scripts/test.sh).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");

export type DenoTestRun = { code: number | null; passed: number; failed: number; output: string };

export async function denoTest(files: string[], timeoutMs = 170_000): Promise<DenoTestRun> {
  const proc = Bun.spawn(["deno", "test", "-A", "--no-check", "--import-map", "test/deno/import-map.json", ...files], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: "1" },
    stdout: "pipe",
    stderr: "pipe",
    timeout: timeoutMs,
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const summary = /(ok|FAILED) \| (\d+) passed \| (\d+) failed/.exec(out);
  const output = `${out.split("\n").filter((l) => !/ \.\.\. ok/.test(l)).join("\n")}\n${err}`;
  if (code !== 0 || !summary) console.error(output);
  return { code, passed: Number(summary?.[2]), failed: Number(summary?.[3]), output };
}

/** How many cases a test file declares (`test(` at the start of a line). */
export function casesIn(file: string): number {
  return readFileSync(resolve(ROOT, file), "utf8").match(/^\s+test\(|^test\(/gm)?.length ?? 0;
}
