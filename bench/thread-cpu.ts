// CPU time per thread of a live process, from /proc/<pid>/task/*/stat (Linux), for the benches
// that split a run's CPU between the event loop, the SQLite store thread, Bun's HTTP client thread
// and the rest (bench/ack.ts, bench/drain.ts).
import { dlopen, FFIType, ptr } from "bun:ffi";
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux x86-64 and arm64). */
const CLK_TCK = 100;

/**
 * CPU seconds used so far by each thread of a live process (default: this one), summed by name;
 * the main thread (the event loop, whose thread id is the pid) is "event loop", a Bun Worker (the
 * SQLite store thread; Deno's worker-<n>) "Worker", Bun's fetch thread "HTTP Client". A thread that ends between the
 * listing and the read is skipped.
 */
export function threadCpu(pid = process.pid): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    } catch {
      continue;
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    // Deno names a Web Worker's thread worker-<n>: counted as Bun's are.
    const name = tid === String(pid) ? "event loop" : /^worker-\d+$/.test(comm) ? "Worker" : comm;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // from field 3 (state) on
    out.set(name, (out.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / CLK_TCK); // utime + stime
  }
  return out;
}

/** CPU seconds each thread used between two threadCpu() readings of one process. */
export function threadCpuUsed(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  return new Map([...after].map(([name, seconds]) => [name, seconds - (before.get(name) ?? 0)]));
}

const openLibc = () => dlopen("libc.so.6", { clock_gettime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 } });
let libc: ReturnType<typeof openLibc> | undefined;
const timespec = new BigInt64Array(2);

/**
 * The calling thread's own CPU time in µs (clock_gettime CLOCK_THREAD_CPUTIME_ID = 3, Linux): the
 * in-process benches' event-loop figure, finer than /proc's 10 ms ticks.
 */
export function ownThreadCpuUs(): number {
  libc ??= openLibc();
  libc.symbols.clock_gettime(3, ptr(timespec));
  return Number(timespec[0]) * 1e6 + Number(timespec[1]) / 1e3;
}
