// The server side of bench/ack.ts, in its own process so the load generator does not share its
// event loop. Mode `bare`: an Elysia POST handler that reads the body and answers 204 (the
// ceiling). Mode `receiver`: the real receiver (auth, body limit, JSON, schema, dedupe, group
// commit into SQLite synchronous=full, 1 job per request). Prints the port on stdout.
import { Elysia } from "elysia";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfigText } from "../src/config/load.ts";
import { GroupCommitter } from "../src/outbox/group-commit.ts";
import { openStore } from "../src/outbox/open-store.ts";
import { createApp } from "../src/server/app.ts";
import { createLogger } from "../src/server/log.ts";

const mode = process.argv[2] ?? "receiver";
if (mode === "bare") {
  const app = new Elysia().post("/hooks/bench", async ({ request }) => {
    await request.text();
    return new Response(null, { status: 204 });
  }, { parse: "none" });
  app.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(app.server!.port);
} else {
  const dir = mkdtempSync(join(tmpdir(), "kh-bench-ack-"));
  const yaml = `
kratos: { version: v26.2.0 }
receiver: { url: http://127.0.0.1:4459 }
serve: { store: "sqlite:${join(dir, "outbox.db")}", synchronous: full }
hooks:
  bench:
    on: registration.after
    methods: [password]
    mode: notify
    auth: { type: api_key, in: header, name: X-Hooks-Key, secret_env: BENCH_SECRET }
    body:
      identity_id: identity.id
      email: { from: identity.traits.email, format: email }
      flow_id: flow.id
    actions:
      - name: crm
        http: { url: "http://127.0.0.1:1/contacts", body: { email: "{{body.email}}" } }
`;
  const file = join(dir, "hooks.yaml");
  writeFileSync(file, yaml);
  const config = loadConfigText(yaml, file, { env: {}, cwd: dir });
  const synchronous = mode === "receiver-normal" ? "normal" : "full";
  const store = await openStore(config.serve.store, { synchronous });
  const committer = new GroupCommitter(store, { maxWaitMs: config.serve.groupCommitWaitMs });
  // receiver-nostore: the whole pipeline with an accept that commits nothing (isolates the store).
  const accept = mode === "receiver-nostore" ? async () => ({ duplicate: false as const }) : (a: Parameters<typeof committer.accept>[0]) => committer.accept(a);
  // BENCH_LOG=1: one JSON line per request to stdout, as `serve` does (bench/ack.ts drains it).
  const log = process.env.BENCH_LOG === "1" ? createLogger({ level: "info" }) : createLogger({ level: "warn", sink: () => {} });
  const receiver = createApp({ config, accept, store, log, env: { BENCH_SECRET: "bench-secret" } });
  receiver.app.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(receiver.app.server!.port);
}
