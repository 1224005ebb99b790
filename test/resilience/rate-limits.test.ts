// Rate limits across instances (issue 15): three `serve` processes on one Postgres schema share a
// destination's serve.rate_limits through the store (docs/delivery.md "Rate limits"), so the
// destination sees the limit, not three times it. The sink counts deliveries per second of its
// own clock; every action of the test config delivers to it, so all three hooks' jobs draw on the
// one limit.
import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { serveEnv, welcomeAuth, writeHooksYaml } from "./hooks.ts";
import { pool, sendLikeKratos } from "./kratos-client.ts";
import { cleanupsAfterAll, dropSchema, freshSchema, storeUrl, waitForDrain } from "./postgres.ts";
import { ServeProcess } from "./serve-process.ts";
import { startRecordingSink } from "./sink.ts";

const cleanups = cleanupsAfterAll();

const RATE = 20;
/** A bucket holds a tenth of a second's worth (rateLimitBurst). */
const BURST = 2;
const TRIGGERS = 60; // two jobs each: 120 jobs, six seconds at 20/s
/** Deliveries a second may show beyond the limit: the burst, and a claim's jobs landing just across a second's edge. */
const SLACK = BURST + 2;

describe("rate limits across serve instances", () => {
  test("three processes on one Postgres keep a destination's limit between them: the sink sees at most the limit per second", async () => {
    const t0 = performance.now();
    const sink = startRecordingSink();
    cleanups.push(sink.stop);
    const { dir, file } = writeHooksYaml(sink.url, { rateLimit: RATE });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const schema = freshSchema();
    cleanups.push(() => dropSchema(schema));
    const store = storeUrl(schema);
    const serves = await Promise.all(["a", "b", "c"].map((i) => ServeProcess.start({ config: file, store, env: serveEnv(i) })));

    // Spread over the three, so each holds jobs of its own from the start.
    const sends = Array.from({ length: TRIGGERS }, (_, i) => ({ i, trigger: crypto.randomUUID(), id: crypto.randomUUID() }));
    const results = await pool(sends, 12, (s) =>
      sendLikeKratos({ port: () => serves[s.i % 3]!.port, path: "/hooks/welcome", body: { identity_id: s.id, email: `r${s.i}@example.org` }, headers: welcomeAuth, trigger: s.trigger }),
    );
    expect(results.map((r) => r.final.status).filter((x) => x !== 204)).toEqual([]);
    const jobs = await waitForDrain(schema, serves[0]!, sink, "every job to be delivered");
    expect(jobs).toBe(2 * TRIGGERS);

    const starts = sink.deliveries.map((d) => d.start).sort((x, y) => x - y);
    const first = starts[0]!;
    const perSecond: number[] = [];
    for (const t of starts) {
      const s = Math.floor((t - first) / 1000);
      perSecond[s] = (perSecond[s] ?? 0) + 1;
    }
    const counts = Array.from(perSecond, (n) => n ?? 0);
    // Every second of the sink's clock (from the first delivery) within the limit.
    expect(counts.filter((n) => n > RATE + SLACK)).toEqual([]);
    // And any one-second window, wherever it starts.
    const busiest = Math.max(...starts.map((t, i) => starts.slice(i).filter((u) => u < t + 1000).length));
    expect(busiest).toBeLessThanOrEqual(RATE + SLACK);
    // The whole backlog at the limit: (jobs − burst) / rate seconds, not a third of that.
    const spanMs = starts.at(-1)! - first;
    expect(spanMs).toBeGreaterThanOrEqual(((2 * TRIGGERS - BURST) / RATE) * 1000 - 500);
    // Each job delivered once: none had to be retried.
    const byInstance = Object.fromEntries(["a", "b", "c"].map((i) => [i, sink.deliveries.filter((d) => d.instance === i).length]));
    expect(sink.deliveries.length).toBe(2 * TRIGGERS);

    for (const s of serves) expect(s.logs("internal error")).toEqual([]);
    for (const s of serves) expect(await s.stop()).toBe(0);
    console.log(
      `[resilience] rate limit ${RATE}/s shared by 3 instances: ${jobs} jobs delivered in ${(spanMs / 1000).toFixed(1)} s; per second ${JSON.stringify(counts)}; ` +
        `busiest one-second window ${busiest}; by instance ${JSON.stringify(byInstance)}; total ${Math.round(performance.now() - t0)} ms`,
    );
  }, 60_000);
});
