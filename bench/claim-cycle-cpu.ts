// Store-thread CPU of the drain's cycle alone, in process: completeThenClaimFramed (the claim that
// carries the previous claim's completions, each with its delivered attempt) on a SqliteStore at
// synchronous=full, N jobs of serve's payload, claims of C, exactly as the store thread runs it
// for the worker (thread-host.ts). No HTTP, no thread, no worker: the SQL and the reply's framing
// only. Checkouts alternate, each run in a fresh child process:
//
//   bun bench/claim-cycle-cpu.ts [baseline checkout=.] [N=20000] [rounds=4] [C=128]
//
// Prints CPU µs per job (claim + completion), median over rounds. Results: bench/results/drain.md.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fillOutbox } from "./prefill.ts";

async function child(root: string, n: number, c: number): Promise<void> {
  const { SqliteStore } = await import(join(root, "src/outbox/sqlite/store.ts"));
  const { acceptedWebhook } = await import(join(root, "src/actions/index.ts"));
  const { completionRows } = (await import(join(root, "src/outbox/sqlite/record-attempts.ts"))) as { completionRows?: (items: unknown[]) => unknown };
  let at = Date.now();
  const dir = mkdtempSync(join(tmpdir(), "kh-bench-claim-cycle-"));
  try {
    const store = new SqliteStore(join(dir, "outbox.db"), { synchronous: "full" });
    await store.migrate();
    const now = Date.now();
    for (const action of ["warm", "a"]) await fillOutbox(store, action, n, { acceptedWebhook, now });
    for (const action of ["warm", "a"]) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let items: { id: string; worker: string; attempt: unknown }[] = [];
      let done = 0;
      for (;;) {
        // The completions as that checkout's thread receives them: CompletionRows (record-attempts.ts
        // completionRows) since w3, AttemptRows before.
        const rows = completionRows ? completionRows(items) : items.map((i) => [i.id, i.worker, at, 3, "delivered", 200, null]);
        const framed = await store.completeThenClaimFramed(rows, Date.now(), { worker: "host:1:abcdef12", now: Date.now(), leaseMs: 30_000, limit: c, actions: [action] });
        // What the thread sends back, as it sends it.
        const text = `\n${JSON.stringify({ id: 1, value: framed.head })}\n${framed.tail}`;
        const head = (framed.head as unknown[])[0] as string[] | null;
        done += head ? head.length : items.length;
        const claimed = (framed.head as unknown[])[1] as unknown[][];
        if (!text.length || !claimed.length) break;
        at = Date.now();
        items = claimed.map((r) => ({ id: r[0] as string, worker: "host:1:abcdef12", attempt: { startedAt: at, durationMs: 3, outcome: "delivered", code: 200, detail: null } }));
      }
      const cpu = process.cpuUsage(cpu0);
      const ms = performance.now() - t0;
      if (done !== n) throw new Error(`completed ${done} of ${n}`);
      if (action === "a") console.log(`RESULT ${JSON.stringify({ us: (cpu.user + cpu.system) / n, rate: n / (ms / 1000) })}`);
    }
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function orchestrate(baseline: string, n: number, rounds: number, c: number): Promise<void> {
  const roots = [...new Set([resolve(baseline), resolve(import.meta.dir, "..")])];
  const results = new Map<string, number[]>(roots.map((r) => [r, []]));
  for (let round = 0; round < rounds; round++) {
    for (const root of round % 2 ? [...roots].reverse() : roots) {
      const proc = Bun.spawn([process.execPath, import.meta.path, "child", root, String(n), String(c)], { stdout: "pipe", stderr: "inherit" });
      const out = await new Response(proc.stdout).text();
      if ((await proc.exited) !== 0) throw new Error(`${root}: the child failed`);
      const r = JSON.parse(out.split("\n").find((l) => l.startsWith("RESULT "))!.slice(7)) as { us: number };
      results.get(root)!.push(r.us);
      console.error(`round ${round + 1}: ${root}: ${r.us.toFixed(2)} µs/job`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`N=${n}, claims of ${c} carrying the previous claim's completions; store CPU µs per job, median (all rounds)`);
  for (const [root, us] of results) console.log(`| ${root} | ${median(us).toFixed(2)} (${us.map((u) => u.toFixed(2)).join(", ")}) |`);
}

const [role, ...args] = process.argv.slice(2);
if (role === "child") await child(args[0]!, Number(args[1]), Number(args[2]));
else await orchestrate(role ?? ".", Number(args[0] ?? 20_000), Number(args[1] ?? 4), Number(args[2] ?? 128));
