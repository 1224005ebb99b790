// Cold start of the compiled binary (--version, generate of the example, generate of 1,000 hooks)
// beside a compiled hello-world built with the same flags (package.json "build") and a bare
// `bun -e ''`, in one run. The commands run interleaved, round after round, so a noisy spell on a
// shared machine hits all of them; each is reported as its median (and fastest) wall time and its
// median CPU time (user + system), which other work on the machine disturbs less than wall time.
//
//   bun bench/cold-start.ts [runs=30]
//
// Also `generate` of 1,000 hooks from source (`bun src/cli.ts`). BENCH_BASELINE=<dir> (a `git
// worktree` of an older commit) adds that checkout's binary, built the way its package.json
// "build" says, and its generate from source, interleaved with the rest. Results:
// bench/results/cold-start.md.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";

const runs = Number(process.argv[2] ?? 30);
const root = join(import.meta.dir, "..");
const tmp = mkdtempSync(join(tmpdir(), "kh-cold-start-"));
const sh = (cmd: string[], cwd = root) => {
  const p = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${p.stderr.toString()}`);
  return p.stdout.toString();
};
/** The flags of package.json "build". */
const build = (entries: string[], out: string) => sh(["bun", "build", "--compile", "--minify", "--bytecode", "--splitting", "--format", "esm", ...entries, "--outfile", out]);
const BASELINE = process.env.BENCH_BASELINE;

try {
  const bin = join(tmp, "kratos-hooks");
  build(["src/cli.ts", "src/outbox/sqlite/thread-host.ts"], bin);
  writeFileSync(join(tmp, "hello.ts"), 'console.log("hello, world");\n');
  build([join(tmp, "hello.ts")], join(tmp, "hello"));
  writeFileSync(join(tmp, "hooks-1000.yaml"), sh(["bun", "bench/make-hooks.ts", "1000"]));
  const commands: [string, string[]][] = [
    ["compiled hello-world (baseline)", [join(tmp, "hello")]],
    ["bun -e ''", ["bun", "-e", ""]],
    ["kratos-hooks --version", [bin, "--version"]],
    ["kratos-hooks generate (example)", [bin, "generate", "--config", "config/hooks.yaml", "--out", join(tmp, "out-example")]],
    ["kratos-hooks generate (1,000 hooks)", [bin, "generate", "--config", join(tmp, "hooks-1000.yaml"), "--out", join(tmp, "out-1000")]],
    ["bun src/cli.ts generate (1,000 hooks)", ["bun", "src/cli.ts", "generate", "--config", join(tmp, "hooks-1000.yaml"), "--out", join(tmp, "out-1000-src")]],
  ];
  if (BASELINE) {
    const old = join(tmp, "baseline-kratos-hooks");
    const script = (JSON.parse(sh(["cat", join(BASELINE, "package.json")])) as { scripts: { build: string } }).scripts.build;
    sh(["sh", "-c", script.replace(/--outfile \S+/, `--outfile ${old}`)], BASELINE);
    commands.push(
      [`baseline ${BASELINE}: --version`, [old, "--version"]],
      [`baseline ${BASELINE}: generate (1,000 hooks)`, [old, "generate", "--config", join(tmp, "hooks-1000.yaml"), "--out", join(tmp, "out-1000-old")]],
      [`baseline ${BASELINE}: bun src/cli.ts generate (1,000 hooks)`, ["bun", join(BASELINE, "src/cli.ts"), "generate", "--config", join(tmp, "hooks-1000.yaml"), "--out", join(tmp, "out-1000-old-src")]],
    );
  }
  const wall = commands.map(() => [] as number[]);
  const cpu = commands.map(() => [] as number[]);
  for (let r = -3; r < runs; r++) {
    commands.forEach(([, cmd], i) => {
      const t0 = performance.now();
      const p = Bun.spawnSync(cmd, { cwd: root, stdout: "ignore", stderr: "pipe" });
      const ms = performance.now() - t0;
      if (p.exitCode !== 0) throw new Error(`${cmd.join(" ")} exited ${p.exitCode}: ${p.stderr.toString()}`);
      if (r < 0) return; // warm-up rounds: page cache, first-run effects
      wall[i]!.push(ms);
      const u = p.resourceUsage!.cpuTime;
      cpu[i]!.push(Number(u.user + u.system) / 1000);
    });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const load = sh(["cat", "/proc/loadavg"]).split(" ").slice(0, 3).join(" ");
  console.log(`machine: ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, ${cpus()[0]?.model ?? "unknown"}; load average ${load} at the end`);
  console.log(`bun ${Bun.version}, ${new Date().toISOString().slice(0, 16)}Z; ${runs} interleaved rounds after 3 warm-up rounds\n`);
  console.log("| command | median ms | fastest ms | ratio to compiled hello-world (median) | CPU ms (median) | CPU ratio |");
  console.log("|---|---|---|---|---|---|");
  const w0 = median(wall[0]!);
  const c0 = median(cpu[0]!);
  commands.forEach(([name], i) => {
    const w = median(wall[i]!);
    const c = median(cpu[i]!);
    console.log(`| ${name} | ${w.toFixed(1)} | ${Math.min(...wall[i]!).toFixed(1)} | ${(w / w0).toFixed(2)} | ${c.toFixed(1)} | ${(c / c0).toFixed(2)} |`);
  });
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
