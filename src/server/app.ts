// The receiver's Elysia app: one endpoint per hook (at the path of the URL generate gave Kratos),
// health checks and /metrics at the root. Built from the ResolvedConfig and an `accept` function
// (the GroupCommitter in `serve`); every hook is compiled at startup (secrets read, schemas
// compiled, files loaded), so a mistake fails `serve` before it listens. Bodies are never parsed
// by Elysia (`parse: "none"`): auth and the body limit run first.
import { Elysia } from "elysia";
import { ConfigError, HttpError } from "../errors.ts";
import { isReservedPath, RESERVED_PATHS, sameRoute } from "../config/resolve.ts";
import type { ResolvedConfig } from "../config/types.ts";
import type { Store } from "../outbox/store.ts";
import { compileHookRoute, errorResponse, jsonResponse, type Accept, type Clock, type Env, type HookRoute } from "./hook-route.ts";
import { compileMetricsAuth } from "./auth.ts";
import { createLogger, type Logger } from "./log.ts";
import { LogBudget } from "./log-budget.ts";
import { Metrics, PROMETHEUS_CONTENT_TYPE } from "./metrics.ts";
import { ProcessMetrics } from "./process-metrics.ts";
import { Readiness } from "./readiness.ts";
import { FileCache } from "./rules.ts";
import { StoreSnapshot } from "./store-snapshot.ts";
import { newUuidV7 } from "./job-id.ts";
import type { RecentRequests } from "../admin/recent-requests.ts";

export type { Accept, Clock } from "./hook-route.ts";

export type AppDeps = {
  config: ResolvedConfig;
  accept: Accept;
  /** For /health/ready (ping) and the job gauges of /metrics (stats, unless `statsStore` is given). */
  store: Pick<Store, "ping" | "stats">;
  /** Where /metrics reads its snapshot of job counts; `serve` gives SQLite a reader of its own (open-store.ts). */
  statsStore?: Pick<Store, "stats">;
  /** How old the job counts of /metrics may get before a scrape refreshes them; default 5 s. */
  snapshotMaxAgeMs?: number;
  /** Consecutive failed commits after which /health/ready is 503; default 3. */
  unreadyAfterCommitFailures?: number;
  clock?: Clock;
  metrics?: Metrics;
  log?: Logger;
  /** Where auth secrets are read (secret_env / password_env); process.env by default. */
  env?: Env;
  /** Job ids; uuid v7 by default. */
  newJobId?: () => string;
  /** Called after a commit that enqueued jobs: `serve` wakes the outbox worker. */
  onEnqueued?: () => void;
  /** How long /health/ready waits for store.ping() or its probe commit; default 2 s. */
  readyTimeoutMs?: number;
  /** Where the admin page reads recent requests from (serve.admin on). */
  recent?: RecentRequests;
  /** The budget of log lines about requests refused before authentication; 20 then 5 a second by default. */
  refusedLog?: LogBudget;
};

const systemClock: Clock = { now: () => Date.now() };

/** The hook and key of readiness's probe commits: no hook name can take them (model.ts Name). */
const PROBE_HOOK = "kratos-hooks:readiness";

export function createApp(deps: AppDeps) {
  const { config, store } = deps;
  const clock = deps.clock ?? systemClock;
  const metrics = deps.metrics ?? new Metrics();
  const log = deps.log ?? createLogger();
  const env = deps.env ?? process.env;
  const newJobId = deps.newJobId ?? newUuidV7;
  const readyTimeoutMs = deps.readyTimeoutMs ?? 2000;
  let draining = false;
  const files = new FileCache();
  const processMetrics = new ProcessMetrics({ now: clock.now });
  const refusedLog = deps.refusedLog ?? new LogBudget(log, { onDrop: () => metrics.logLineDropped() });
  const metricsAuth = compileMetricsAuth(config.serve.metricsTokenEnv, env);
  const snapshot = new StoreSnapshot(deps.statsStore ?? store, { maxAgeMs: deps.snapshotMaxAgeMs, now: clock.now });
  // The probe: an already expired dedupe record and no jobs, committed as acks are.
  const probeCommit = () => {
    const now = clock.now();
    return deps.accept({ hook: PROBE_HOOK, key: `${PROBE_HOOK}:probe`, response: { status: 204, body: null }, expiresAt: now, jobs: [], now });
  };
  const readiness = new Readiness(() => store.ping(), probeCommit, { timeoutMs: readyTimeoutMs, unreadyAfter: deps.unreadyAfterCommitFailures, now: clock.now });
  // Each route tells readiness of its commits itself (RouteDeps.commits), where it awaits them: a
  // .then around every accept was one more promise per webhook.
  const commits = { succeeded: () => readiness.commitSucceeded(), failed: (err: unknown) => readiness.commitFailed(err) };
  let wasReady = true;

  const seen = new Map<string, string>();
  const routes: HookRoute[] = config.hooks.map((hook) => {
    // A guard: `check` (semantics.ts) reports this with the file position before serve gets here.
    if (isReservedPath(hook.routePath)) {
      throw new ConfigError(
        `path ${hook.routePath} is reserved by the receiver`,
        hook.loc,
        `hooks.${hook.name}.path`,
        `pick another path (hooks are served at receiver.url's path + path); ${RESERVED_PATHS.join(", ")} are built in`,
      );
    }
    const other = seen.get(sameRoute(hook.routePath));
    if (other) throw new ConfigError(`path ${hook.routePath} is also used by hook '${other}'`, hook.loc, `hooks.${hook.name}.path`, "give each hook its own path");
    seen.set(sameRoute(hook.routePath), hook.name);
    return compileHookRoute(hook, { config, accept: deps.accept, commits, clock, metrics, log, refusedLog, env, files, newJobId, draining: () => draining, onEnqueued: deps.onEnqueued, recent: deps.recent });
  });

  const app = new Elysia({ handler: { standardHostname: false } });
  for (const route of routes) app.all(route.hook.routePath, ({ request }) => route.handle(request), { parse: "none" });

  app
    .get("/health/live", () => jsonResponse(200, '{"status":"ok"}'))
    .get("/health/ready", async () => {
      if (draining) return jsonResponse(503, '{"status":"shutting_down"}');
      const state = await readiness.check();
      // Logged when it changes, not per probe: anyone may call this endpoint.
      if (state.ready !== wasReady) {
        wasReady = state.ready;
        if (state.ready) log.info("ready again", {});
        else log.warn("not ready", { status: state.status, error: state.error, commit_failures: readiness.commitFailures });
      }
      return state.ready ? jsonResponse(200, '{"status":"ok"}') : jsonResponse(503, `{"status":"${state.status}"}`);
    })
    .get("/metrics", async ({ request }) => {
      if (!metricsAuth(request.headers)) {
        refusedLog.write("warn", "metrics: missing or wrong bearer token", { status: 401 });
        return errorResponse(new HttpError(401, "unauthorized", "missing or wrong bearer token"), { "www-authenticate": 'Bearer realm="metrics"' });
      }
      const snap = await snapshot.read();
      if (snap.stats) metrics.updateStoreStats(snap.stats);
      if (!snap.ok) metrics.storeStatsFailed();
      if (snap.ageMs !== undefined) metrics.storeSnapshotAge(snap.ageMs / 1000);
      if (snap.error) log.warn("metrics: store stats failed", { error: snap.error });
      return new Response(metrics.render() + processMetrics.render(), { headers: { "content-type": PROMETHEUS_CONTENT_TYPE } });
    })
    .onError(({ code, error }) => {
      if (code === "NOT_FOUND") return errorResponse(new HttpError(404, "not_found", "no hook at this path"));
      log.error("internal error", { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
      return errorResponse(new HttpError(500, "internal", "internal error"));
    });

  return {
    app,
    metrics,
    routes,
    /** Flushed at shutdown: its summary of dropped lines. */
    refusedLog,
    /** Every path the app answers (hooks and the built-in endpoints), each also with a trailing `/`. */
    paths: [...routes.map((r) => r.hook.routePath), ...RESERVED_PATHS],
    /** Test entry: the same pipeline as over HTTP, without a socket. */
    handle: (request: Request) => app.handle(request),
    /** Start answering 503 to deliveries and readiness (shutdown). */
    drain(): void {
      draining = true;
    },
  };
}

export type ReceiverApp = ReturnType<typeof createApp>;
