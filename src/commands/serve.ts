// `kratos-hooks serve`: load hooks.yaml, open the store, and run the receiver (one endpoint per
// hook, answers after the outbox commit) and the delivery worker in one process. SIGTERM/SIGINT
// shut down gracefully: stop accepting (new deliveries get 503 so Kratos retries, CONTRACT §4.2),
// let in-flight requests commit, stop the worker (finish or give back deliveries within
// serve.shutdown_timeout), close the store, exit 0.
import { loadConfig } from "../config/load.ts";
import type { ResolvedConfig } from "../config/types.ts";
import { ConfigErrors, UsageError } from "../errors.ts";
import { missingEnv } from "../config/env-needs.ts";
import { GroupCommitter } from "../outbox/group-commit.ts";
import { openStatsReader, openStore, redactStoreUrl } from "../outbox/open-store.ts";
import { StoreUnavailableError, type Store } from "../outbox/store.ts";
import { Worker } from "../outbox/worker.ts";
import { RetentionSweeper } from "../outbox/retention.ts";
import { createAdminApp } from "../admin/app.ts";
import { RecentRequests } from "../admin/recent-requests.ts";
import pkg from "../../package.json" with { type: "json" };
import { parseListen } from "../config/resolve.ts";
import { createApp } from "../server/app.ts";
import { listen, listenHandler, type Listening } from "../server/listen.ts";
import { knownSecrets } from "../secrets.ts";
import { createLogger, flushLogs, isLogLevel, type Logger } from "../server/log.ts";
import { Metrics } from "../server/metrics.ts";
import { observeWorker } from "../server/observe-worker.ts";
import { defineCommand, configFlag, configPath } from "./command.ts";

/** Expired dedupe records are purged this often (they are ignored once expired anyway). */
const DEDUPE_PURGE_EVERY_MS = 10 * 60 * 1000;

export type ServeOptions = {
  config: ResolvedConfig;
  log: Logger;
  /** Run the delivery worker in this process (default true). */
  worker?: boolean;
  env?: Record<string, string | undefined>;
};

export type RunningServer = {
  listening: Listening;
  /** The admin page's listener, when serve.admin is on. */
  admin?: { hostname: string; port: number };
  /** Graceful shutdown; resolves when everything is closed. Safe to call twice. */
  shutdown(reason: string): Promise<void>;
};

/** Starts everything; throws (before listening) on a config, secret or store problem. */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const { config, log } = opts;
  const env = opts.env ?? process.env;
  for (const w of config.warnings ?? []) log.warn("config warning", { warning: w.format() });
  // Every variable the receiver and (when it runs here) the worker read, all reported at once:
  // starting without one would fail every request or every job later.
  const missing = missingEnv(config.envNeeds ?? [], env, { worker: opts.worker !== false });
  if (missing.length > 0) throw new ConfigErrors(missing);
  const shownStore = redactStoreUrl(config.serve.store);
  const adminSetup = config.serve.admin ? adminSettings(config.serve.admin, env) : undefined;
  const store: Store = await openStore(config.serve.store, { synchronous: config.serve.synchronous, thread: true });
  const statsReader = await openStatsReader(config.serve.store, store);
  const metrics = new Metrics();
  // SQLite commits on its store thread: two batches of 32 in flight let the event loop fill one
  // while the other commits; one batch of 64 left the event loop idle during every commit
  // (bench/results/ack.md, second session). An idle SQLite store commits at once: at 500
  // requests/s the 2 ms wait was most of each answer (p50 2.75 ms against 0.80 ms, p99 4.9-6.4 ms
  // against 2.9-3.2 ms, third session). Postgres keeps the wait: its tails at that rate were as
  // noisy either way in our runs (a shared local server), so the change is not shown to be safe there.
  const committer = new GroupCommitter(store, {
    maxWaitMs: config.serve.groupCommitWaitMs,
    ...(store.kind === "sqlite" ? { maxBatch: 32, maxInFlight: 2, goWhenIdle: true } : {}),
  });
  let worker: Worker | undefined;
  const recent = adminSetup ? new RecentRequests() : undefined;
  let receiver: ReturnType<typeof createApp>;
  try {
    // Either may throw (a secret unset, a permission Deno was not given): the store thread must not keep the process up.
    const w = (worker = opts.worker === false ? undefined : Worker.fromConfig(config, store, { env }));
    receiver = createApp({ config, accept: (a) => committer.accept(a), store, statsStore: statsReader, metrics, log, env, onEnqueued: w ? () => w.wake() : undefined, recent });
  } catch (err) {
    await statsReader.close();
    await store.close();
    throw err;
  }
  for (const hook of config.hooks) if (!hook.auth) log.warn("hook has no auth: anyone who can reach it can trigger its actions", { hook: hook.name, path: hook.routePath });

  let listening: Listening;
  try {
    listening = await listen(receiver, config.serve.listen, config.hooks);
  } catch (err) {
    await statsReader.close();
    await store.close();
    const { host, port } = config.serve.listen;
    const code = (err as NodeJS.ErrnoException)?.code;
    throw new UsageError(
      `cannot listen on ${host}:${port}: ${code === "EADDRINUSE" ? "the address is already in use" : code === "EACCES" ? "permission denied" : ((err as Error)?.message ?? String(err))}`,
      "pick another address with --listen, serve.listen or KRATOS_HOOKS_LISTEN",
    );
  }
  let admin: { listening: Listening; app: ReturnType<typeof createAdminApp> } | undefined;
  if (adminSetup) {
    // Reads from the stats reader, as /metrics reads: a page load or search never waits behind acks.
    const adminStore = {
      stats: (now: number) => statsReader.stats(now),
      listJobs: statsReader.listJobs.bind(statsReader),
      getJob: statsReader.getJob.bind(statsReader),
      listAttempts: statsReader.listAttempts.bind(statsReader),
      retryJobs: store.retryJobs.bind(store),
      purgeJobs: store.purgeJobs.bind(store),
    };
    const app = createAdminApp({ config, store: adminStore, recent: recent!, metricsText: () => metrics.render(), token: adminSetup.token, onRetried: worker ? () => worker!.wake() : undefined, log });
    try {
      admin = { app, listening: listenHandler(app.handle, { host: adminSetup.host, port: adminSetup.port }) };
    } catch (err) {
      await listening.stop(0);
      await statsReader.close();
      await store.close();
      const code = (err as NodeJS.ErrnoException)?.code;
      throw new UsageError(`cannot listen on ${adminSetup.host}:${adminSetup.port} for the admin page: ${code === "EADDRINUSE" ? "the address is already in use" : ((err as Error)?.message ?? String(err))}`, "pick another serve.admin.listen, or `off`");
    }
    app.start();
    log.info("admin page listening", { host: admin.listening.hostname, port: admin.listening.port });
  }
  const unobserve = worker ? observeWorker(worker.events, metrics, log) : undefined;
  worker?.start();
  const purge = setInterval(() => {
    store.purgeExpiredDedupe(Date.now()).catch((err) => log.warn("dedupe purge failed", { error: (err as Error)?.message ?? String(err) }));
  }, DEDUPE_PURGE_EVERY_MS);
  purge.unref?.();
  const retention = new RetentionSweeper(store, {
    ...config.serve.retention,
    onSweep: (r) => log.info("retention: deleted finished jobs", { done: r.done, dead: r.dead, ms: r.ms }),
    onError: (err) => log.warn("retention sweep failed; next one in a minute", { error: (err as Error)?.message ?? String(err) }),
  });
  retention.start();
  log.info("listening", {
    version: pkg.version,
    store_kind: store.kind,
    host: listening.hostname,
    port: listening.port,
    server: listening.kind,
    store: shownStore,
    hooks: config.hooks.map((h) => `${h.method} ${h.routePath}`),
    worker: worker !== undefined,
    retention: { done: keptFor(config.serve.retention.doneMs), dead: keptFor(config.serve.retention.deadMs) },
  });

  let closing: Promise<void> | undefined;
  const shutdown = (reason: string) =>
    (closing ??= (async () => {
      const timeoutMs = config.serve.shutdownTimeoutMs;
      log.info("shutting down", { reason, timeout_ms: timeoutMs });
      clearInterval(purge);
      receiver.drain();
      const retentionStopped = retention.stop();
      admin?.app.stop();
      // Both within one timeout: in-flight requests finish (their commit included; after the
      // timeout connections are cut), and meanwhile the worker stops claiming and finishes or gives
      // back its deliveries. Jobs committed during the drain wait for the next start.
      await Promise.all([listening.stop(timeoutMs).then(() => committer.close()), worker?.stop(timeoutMs), retentionStopped, admin?.listening.stop(0)]);
      unobserve?.();
      receiver.refusedLog.flush();
      await statsReader.close();
      await store.close();
      log.info("stopped", {});
      flushLogs();
    })());
  return { listening, shutdown, ...(admin ? { admin: { hostname: admin.listening.hostname, port: admin.listening.port } } : {}) };
}

/** A retention for the start-up line, in the largest whole unit: 7d, 12h, 90m, forever. */
function keptFor(ms: number | null): string {
  if (ms === null) return "forever";
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** The admin page's address and token, checked before anything starts: a page without its token never listens. */
function adminSettings(admin: { listen: string; tokenEnv: string }, env: Record<string, string | undefined>): { host: string; port: number; token: string } {
  const at = parseListen(admin.listen);
  if (!at) throw new UsageError(`serve.admin.listen '${admin.listen}' is not host:port`, "e.g. 127.0.0.1:4460, or `off`");
  const token = env[admin.tokenEnv];
  if (!token) throw new UsageError(`environment variable ${admin.tokenEnv} (serve.admin.token_env) is not set`, "set it to a long random value, e.g. openssl rand -hex 32; the admin page signs in with it");
  if (token.length < 16) throw new UsageError(`environment variable ${admin.tokenEnv} (serve.admin.token_env) is shorter than 16 characters`, "use a long random value, e.g. openssl rand -hex 32");
  return { host: at.host, port: at.port, token };
}

export const command = defineCommand({
  name: "serve",
  summary: "Serve the webhooks: auth, validation, dedupe, durable outbox, delivery workers.",
  usage: "kratos-hooks serve [--config <hooks.yaml>] [--listen <host:port>] [--store <url>] [--no-worker] [--log-level <level>] [--dev]",
  flags: {
    config: configFlag("to serve"),
    listen: { type: "string", short: "l", placeholder: "<host:port>", description: "Listen address; overrides serve.listen and KRATOS_HOOKS_LISTEN." },
    store: { type: "string", short: "s", placeholder: "<url>", description: "sqlite:<path> or postgres://... (Postgres on Bun only); overrides serve.store and KRATOS_HOOKS_STORE." },
    "no-worker": { type: "boolean", description: "Only receive; deliver with another process (kratos-hooks serve on the same store)." },
    "log-level": { type: "string", placeholder: "<level>", description: "debug, info (default), warn or error. Logs are JSON lines: info to stdout, warn/error to stderr." },
    dev: { type: "boolean", description: "Development: catch what actions deliver to loopback (kratos-hooks sink, in-process) and send each notify hook one sample webhook." },
  },
  details: `Endpoints: one per hook at its path (any method but TRACE; Kratos always uses the configured
one), GET /health/live, GET /health/ready (503 when the store does not answer or 3 commits in
a row failed), GET /metrics (Prometheus text; job counts refreshed at most every 5 s; requires a
bearer token when serve.metrics.token_env is set). A path with a '.' or '..' segment (%2e too)
gets 400 before routing.
Answers: notify 204 once the jobs are committed; interrupt 422 with Kratos messages on a deny, else
204; enrich 200 {"identity":{...}} with the changed metadata, else 204. A repeat of a delivery
(same Ory-Webhook-Trigger-Id, declared dedupe key or body, within the dedupe window) gets the first
answer again and enqueues nothing. 401 wrong credentials, 400 invalid JSON or body (naming the
field), 413 body over serve.body_limit, 415 not JSON, 503 store unavailable (Kratos retries).
Secrets are read from the env vars named by secret_env / password_env; serve refuses to start
when one is unset, or when an {{ env.X }} an action or enrich step uses is, listing every one
(with --no-worker, only what the receiver reads). Every env var hooks.yaml names, the SMTP password and the store's password are
masked as *** in logs and stored errors; exec commands get PATH, LANG, LC_*, TZ, HOME and their
declared env only (docs/security.md). SIGTERM/SIGINT: graceful shutdown within serve.shutdown_timeout, exit 0.
--dev starts the sink (HTTP and SMTP) on each loopback address the config's http and email
actions deliver to, prints one 'sink:' line per delivery, and sends one Kratos-shaped sample
webhook to each notify hook whose actions all deliver there (none that would reach a real service or
run a command). Never in production.
Retention: done jobs are deleted 7 days after they finished, dead ones after 30 days
(serve.retention), in the background in small batches.
Admin page: with serve.admin.listen (e.g. 127.0.0.1:4460) serve also answers an admin page on that
address, signed in with the value of serve.admin.token_env (hooks, live counts, recent webhooks,
jobs with their attempts, retry and discard of dead letters). Off by default.`,
  async run({ flags }) {
    const level = (flags["log-level"] as string | undefined) ?? "info";
    if (!isLogLevel(level)) throw new UsageError(`serve: unknown log level '${level}'`, "use debug, info, warn or error");
    let config = loadConfig(configPath(flags));
    if (flags.listen !== undefined) {
      const l = parseListen(flags.listen as string);
      if (!l) throw new UsageError(`serve: --listen '${flags.listen}' is not host:port`, "e.g. --listen 127.0.0.1:4459 or --listen :4459");
      config = { ...config, serve: { ...config.serve, listen: l } };
    }
    if (flags.store !== undefined) config = { ...config, serve: { ...config.serve, store: flags.store as string } };
    // Every line is redacted with every secret this config names (src/secrets.ts).
    const log = createLogger({ level, redactor: knownSecrets(config, process.env) });

    // --dev: the sink listens before the worker starts delivering to it.
    const dev = flags.dev ? await import("../dev/dev-mode.ts") : undefined;
    const sink = dev ? await dev.startDevSink(config) : undefined;
    let server: RunningServer;
    try {
      server = await startServer({ config, log, worker: !flags["no-worker"] });
    } catch (err) {
      await sink?.stop();
      if (err instanceof StoreUnavailableError) {
        log.error("cannot open the store", { store: redactStoreUrl(config.serve.store), error: err.message });
        return 1;
      }
      throw err;
    }
    if (dev) await dev.sendDevSamples(config, server.listening);
    const signal = await new Promise<string>((resolve) => {
      process.once("SIGTERM", () => resolve("SIGTERM"));
      process.once("SIGINT", () => resolve("SIGINT"));
    });
    // A second signal while draining exits at once.
    const force = (s: string) => {
      log.warn("second signal: exiting without waiting", { signal: s });
      flushLogs();
      process.exit(1);
    };
    process.once("SIGTERM", () => force("SIGTERM"));
    process.once("SIGINT", () => force("SIGINT"));
    await server.shutdown(signal);
    await sink?.stop();
    return 0;
  },
});
