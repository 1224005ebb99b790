// Every delivery attempt joins its job's history, through the real worker, a real SQLite store and
// an HTTP sink on 127.0.0.1; `outbox show` and `outbox list` read it back as an operator would.
import { afterEach, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { seededRandom } from "../../src/outbox/retry.ts";
import { Worker } from "../../src/outbox/worker.ts";
import { childTraceparent } from "../../src/trace-context.ts";
import { httpAction } from "../actions/helpers.ts";
import { recordEvents, startSink, tempStore, until } from "./fixtures.ts";

const ROOT = resolve(import.meta.dir, "../..");
const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function cli(...args: string[]) {
  const p = Bun.spawnSync([process.execPath, "src/cli.ts", "outbox", ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", timeout: 20_000 });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

async function setup(status: (n: number) => number, attempts = 3) {
  let n = 0;
  const sink = startSink({ status: () => status(++n) });
  const t = await tempStore();
  cleanups.push(sink.stop, t.cleanup);
  const action = httpAction({ id: "welcome.crm", hook: "welcome", url: `${sink.url}/contacts`, retry: { attempts, baseMs: 1, capMs: 5 } });
  const worker = new Worker({ store: t.store, actions: [action], leaseMs: 5000, pollMs: 20, minPollMs: 2, random: seededRandom(1) });
  cleanups.push(() => worker.stop(1000));
  const events = recordEvents(worker);
  const now = Date.now();
  const id = Bun.randomUUIDv7();
  await t.store.acceptBatch([
    { hook: "welcome", key: id, response: { status: 204, body: null }, expiresAt: now + 60_000, now, jobs: [{ id, hook: "welcome", action: action.id, payload: { body: {} }, maxAttempts: attempts, runAt: now, triggerId: "trig-42", identityId: "ident-7", traceparent: TRACEPARENT }] },
  ]);
  return { ...t, sink, worker, events, id };
}

describe("attempt history", () => {
  test("a failed attempt and the delivery after it are both recorded: time, duration, outcome, status, error excerpt", async () => {
    const { store, worker, events, id } = await setup((n) => (n === 1 ? 503 : 204));
    const before = Date.now();
    worker.start();
    await until(() => events.of("job:delivered").length === 1, "the delivery");
    await until(async () => (await store.listAttempts(id)).length === 2, "two attempts recorded");
    const [first, second] = await store.listAttempts(id);
    expect(first).toMatchObject({ n: 1, outcome: "retry", code: 503 });
    expect(first!.detail).toContain("answered 503: nope");
    expect(first!.startedAt).toBeGreaterThanOrEqual(before);
    expect(second).toMatchObject({ n: 2, outcome: "delivered", code: 204, detail: null });
    expect(second!.durationMs).toBeGreaterThanOrEqual(0);
    expect(await store.getJob(id)).toMatchObject({ state: "done", lastError: null, attemptsRecorded: 2 });
  });

  test("job events carry the trigger id and trace id; the delivery carries a child traceparent of the webhook's", async () => {
    const { worker, events, sink } = await setup(() => 200);
    worker.start();
    await until(() => events.of("job:delivered").length === 1, "the delivery");
    expect(events.of("job:delivered")[0]).toMatchObject({ triggerId: "trig-42", traceId: "4bf92f3577b34da6a3ce929d0e0e4736" });
    const sent = sink.deliveries[0]!.headers.traceparent!;
    expect(sent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    expect(sent).not.toBe(TRACEPARENT);
  });

  test("outbox show prints the attempts; retry keeps them, gives a fresh budget and shows the total", async () => {
    const { store, worker, events, id, url } = await setup(() => 500, 2);
    worker.start();
    await until(() => events.of("job:dead").length === 1, "the dead letter");
    await worker.stop(1000);
    let r = cli("show", id, "--store", url);
    expect(r.code).toBe(0);
    expect(r.out).toContain("state:        dead");
    expect(r.out).toContain("trigger id:   trig-42");
    expect(r.out).toContain("trace id:     4bf92f3577b34da6a3ce929d0e0e4736");
    expect(r.out).toMatch(/#1 .* retry\s+500\s+POST http:\/\/127\.0\.0\.1:\d+\/contacts answered 500: nope/);
    expect(r.out).toMatch(/#2 .* dead\s+500\s+POST/);
    expect(cli("retry", id, "--store", url).code).toBe(0);
    r = cli("show", id, "--store", url);
    expect(r.out).toContain("attempts:     0 of 2 since the last retry; 2 in total");
    expect(r.out).toMatch(/#2 .* dead/);
    const json = JSON.parse(cli("show", id, "--store", url, "--json").out);
    expect(json.attemptHistory.map((a: { n: number; outcome: string }) => [a.n, a.outcome])).toEqual([[1, "retry"], [2, "dead"]]);
    expect(await store.getJob(id)).toMatchObject({ state: "pending", attempts: 0, attemptsRecorded: 2 });
    const list = cli("list", "--store", url);
    expect(list.out).toMatch(new RegExp(`${id}\\s+pending\\s+welcome\\.crm\\s+0/2 \\(2 total\\)`));
  });

  test("outbox list finds a job by trigger id and identity id, and pages newest first", async () => {
    const { id, url, store } = await setup(() => 200);
    const more = await Promise.all(
      [1, 2, 3].map(async (i) => {
        const jid = Bun.randomUUIDv7();
        const now = Date.now();
        await store.acceptBatch([{ hook: "welcome", key: jid, response: { status: 204, body: null }, expiresAt: now + 60_000, now, jobs: [{ id: jid, hook: "welcome", action: "welcome.crm", payload: {}, maxAttempts: 1, runAt: now + 60_000, triggerId: `other-${i}` }] }]);
        return jid;
      }),
    );
    const ids = (...args: string[]) => (JSON.parse(cli("list", "--store", url, "--json", ...args).out) as Array<{ id: string }>).map((j) => j.id);
    expect(ids("--trigger-id", "trig-42")).toEqual([id]);
    expect(ids("--identity-id", "ident-7")).toEqual([id]);
    expect(ids("--trigger-id", "nope")).toEqual([]);
    const all = [id, ...more].sort().reverse();
    expect(ids()).toEqual(all);
    const page = cli("list", "--store", url, "--limit", "2");
    expect(page.out).toContain(`more: --before ${all[1]}`);
    expect(ids("--limit", "2", "--before", all[1]!)).toEqual(all.slice(2));
    expect(ids("--since", "1h")).toHaveLength(4);
    expect(ids("--until", "2000-01-01T00:00:00Z")).toEqual([]);
    expect(cli("list", "--store", url, "--since", "yesterday").code).toBe(2);
  });
});

test("childTraceparent keeps the trace id and flags and makes a new span id each time", () => {
  const a = childTraceparent(TRACEPARENT);
  const b = childTraceparent(TRACEPARENT);
  expect(a.slice(0, 36)).toBe(TRACEPARENT.slice(0, 36));
  expect(a.slice(-3)).toBe("-01");
  expect(a).not.toBe(b);
});
