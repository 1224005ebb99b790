// CPU per delivery of deliver() (template phase 2 + http action), without the outbox: N
// deliveries of the drain bench's http action, C at a time, to the drain bench's sink (its own
// process), next to a plain fetch loop in the same process. For profiling the delivery path:
//
//   bun bench/deliver-cpu.ts [N=20000] [C=64]            (add --cpu-prof to profile)
//
// Payloads are built like the receiver does and round-tripped through JSON like the store does.
import { acceptedWebhook, deliver, DeliveryTimeout } from "../src/actions/index.ts";
import type { ResolvedHttpAction } from "../src/config/types.ts";

const N = Number(process.argv[2] ?? 20_000);
const C = Number(process.argv[3] ?? 64);

const sink = Bun.spawn([process.execPath, new URL("./drain.ts", import.meta.url).pathname, "sink"], { stdin: "pipe", stdout: "pipe" });
const reader = sink.stdout.getReader();
const port = Number(new TextDecoder().decode((await reader.read()).value).trim());

const action: ResolvedHttpAction = {
  kind: "http", id: "bench.crm", hook: "bench", retry: { attempts: 5, baseMs: 1000, capMs: 60_000 }, concurrency: C,
  method: "POST", url: `http://127.0.0.1:${port}/contacts/{{body.id}}`, headers: { Authorization: "Bearer {{env.TOKEN}}" },
  body: { email: "{{body.email}}", n: "{{body.n}}" }, timeoutMs: 5000, retry4xx: false,
};
const env = { TOKEN: "t" };

const jobs = Array.from({ length: N }, (_, i) => {
  const id = Bun.randomUUIDv7();
  const text = JSON.stringify(acceptedWebhook({ id: `u${i}`, email: `u${i}@example.com`, n: i }, "bench", id, id, new Date().toISOString()));
  return { id, text };
});

async function run(label: string, one: (i: number) => Promise<void>): Promise<void> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: C }, async () => {
    for (let i = next++; i < N; i = next++) await one(i);
  }));
  const ms = performance.now() - t0;
  const d = process.cpuUsage(cpu0);
  console.log(`${label}: ${Math.round(N / (ms / 1000))}/s, ${((d.user + d.system) / N).toFixed(1)} µs CPU/delivery`);
}

const abortTimedOut = (c: AbortController) => c.abort(new DeliveryTimeout(action.timeoutMs));
const viaDeliver = async (i: number) => {
  const j = jobs[i]!;
  // As the worker does: a controller and one timer per delivery carrying the action's timeout.
  const controller = new AbortController();
  const timer = setTimeout(abortTimedOut, action.timeoutMs, controller);
  try {
    // The store parses the payload column per claim; so does this.
    await deliver(action, JSON.parse(j.text), { jobId: j.id, hook: "bench", action: action.id, attempt: 1, env, signal: controller.signal, signalHasTimeout: true });
  } finally {
    clearTimeout(timer);
  }
};
const viaFetch = async (i: number) => {
  const res = await fetch(`http://127.0.0.1:${port}/contacts/u${i}`, {
    method: "POST",
    headers: { "user-agent": "kratos-hooks/bench", "content-type": "application/json", authorization: "Bearer t", "idempotency-key": jobs[i]!.id },
    body: JSON.stringify({ email: `u${i}@example.com`, n: i }),
    redirect: "manual",
  });
  if (res.status !== 200) throw new Error(`sink answered ${res.status}`);
  await res.body?.cancel();
};

for (let r = 0; r < 2; r++) {
  await run("fetch loop", viaFetch);
  await run("deliver()  ", viaDeliver);
}
sink.kill();
