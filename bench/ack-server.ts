// The in-process servers of bench/ack.ts (the receiver modes run `kratos-hooks serve` itself).
// Mode `bare`: an Elysia POST handler that reads the body and answers 204 (the ceiling). Mode
// `receiver-nostore`: the receiver's app (auth, body limit, JSON, schema, dedupe key, 1 job, the
// JSON request log to stdout as `serve` writes it) with an accept that commits nothing, to isolate
// the store. Prints the port on stdout.
import { Elysia } from "elysia";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfigText } from "../src/config/load.ts";
import { GroupCommitter } from "../src/outbox/group-commit.ts";
import type { Acceptance } from "../src/outbox/store.ts";
import { openStore } from "../src/outbox/open-store.ts";
import { createApp } from "../src/server/app.ts";
import { listenBun } from "../src/server/listen.ts";
import { createLogger } from "../src/server/log.ts";
import { hooksYaml } from "./ack-hooks.ts";

const mode = process.argv[2] ?? "bare";

/** serve's GroupCommitter (its batches and window) in front of a store that does no work and answers each batch "all new" after `delayMs`. */
function committerAnsweringAfter(delayMs: number): GroupCommitter {
  return new GroupCommitter(
    { acceptBatch: (batch) => new Promise((resolve) => setTimeout(() => resolve(batch.map(() => ({ duplicate: false }))), delayMs)) },
    { maxWaitMs: 2, maxBatch: 32, maxInFlight: 2, goWhenIdle: true },
  );
}
if (mode === "bare") {
  const app = new Elysia().post("/hooks/bench", async ({ request }) => {
    await request.text();
    return new Response(null, { status: 204 });
  }, { parse: "none" });
  app.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(app.server!.port);
} else if (mode === "bare-bun") {
  // The floor under Elysia: Bun.serve's own router, as listen.ts serves a hook's path.
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    routes: {
      "/hooks/bench": async (request) => {
        await request.text();
        return new Response(null, { status: 204 });
      },
    },
    fetch: () => new Response(null, { status: 404 }),
  });
  console.log(server.port);
} else if (mode === "floor-parse" || mode === "floor-wait") {
  // The least any receiver does, on the same Bun.serve routes: read the body and parse its JSON.
  // `floor-wait` then answers as a durable receiver must, after a commit: through serve's
  // GroupCommitter (same batches and window) to a store that does no work and answers each batch
  // after BENCH_ACCEPT_DELAY_MS (default 1, about what a SQLite commit with its fsync takes here).
  // No auth, schema, dedupe key, job, log or metrics: what these cost the event loop is a floor
  // under the receiver's, whatever its store (bench/results/ack.md, ninth session).
  const delayMs = Number(process.env.BENCH_ACCEPT_DELAY_MS ?? 1);
  const committer = mode === "floor-wait" ? committerAnsweringAfter(delayMs) : undefined;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    routes: {
      "/hooks/bench": async (request) => {
        const body: unknown = JSON.parse(await request.text());
        if (committer) await committer.accept(body as Acceptance); // the store reads nothing of it
        return new Response(null, { status: 204 });
      },
    },
    fetch: () => new Response(null, { status: 404 }),
  });
  console.log(server.port);
} else if (mode === "receiver-nostore") {
  const yaml = hooksYaml("sqlite::memory:", "full");
  const config = loadConfigText(yaml, join(tmpdir(), "bench-nostore.yaml"), { env: {}, cwd: tmpdir() });
  const store = await openStore(config.serve.store); // in memory, only for /health/ready and /metrics
  // BENCH_ACCEPT_DELAY_MS=n: acceptances go through serve's GroupCommitter to a store that answers
  // each batch "all new" after n ms (a timer, no work), to see what answering later costs the loop.
  const delayMs = Number(process.env.BENCH_ACCEPT_DELAY_MS ?? -1);
  const committer = delayMs >= 0 ? committerAnsweringAfter(delayMs) : undefined;
  const accept: Parameters<typeof createApp>[0]["accept"] = committer ? (a) => committer.accept(a) : async () => ({ duplicate: false });
  const receiver = createApp({ config, accept, store, log: createLogger({ level: (process.env.BENCH_LOG_LEVEL ?? "info") as "info" }), env: { BENCH_SECRET: "bench-secret" } });
  console.log(listenBun(receiver, { host: "127.0.0.1", port: 0 }).port); // as `serve` listens
} else throw new Error(`ack-server: unknown mode ${mode}`);
// Exit cleanly on SIGTERM (ack.ts's stop), so that `bun --cpu-prof` writes its profile.
process.on("SIGTERM", () => process.exit(0));
