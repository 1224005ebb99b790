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
import { createLogger, type Logger } from "./log.ts";
import { Metrics, PROMETHEUS_CONTENT_TYPE } from "./metrics.ts";
import { FileCache } from "./rules.ts";
import { newUuidV7 } from "./job-id.ts";

export type { Accept, Clock } from "./hook-route.ts";

export type AppDeps = {
  config: ResolvedConfig;
  accept: Accept;
  /** For /health/ready (ping) and the job gauges of /metrics (stats). */
  store: Pick<Store, "ping" | "stats">;
  clock?: Clock;
  metrics?: Metrics;
  log?: Logger;
  /** Where auth secrets are read (secret_env / password_env); process.env by default. */
  env?: Env;
  /** Job ids; uuid v7 by default. */
  newJobId?: () => string;
  /** Called after a commit that enqueued jobs: `serve` wakes the outbox worker. */
  onEnqueued?: () => void;
  /** How long /health/ready waits for store.ping(); default 2 s. */
  readyTimeoutMs?: number;
};

const systemClock: Clock = { now: () => Date.now() };

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function createApp(deps: AppDeps) {
  const { config, accept, store } = deps;
  const clock = deps.clock ?? systemClock;
  const metrics = deps.metrics ?? new Metrics();
  const log = deps.log ?? createLogger();
  const env = deps.env ?? process.env;
  const newJobId = deps.newJobId ?? newUuidV7;
  const readyTimeoutMs = deps.readyTimeoutMs ?? 2000;
  let draining = false;
  const files = new FileCache();

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
    return compileHookRoute(hook, { config, accept, clock, metrics, log, env, files, newJobId, draining: () => draining, onEnqueued: deps.onEnqueued });
  });

  const app = new Elysia({ handler: { standardHostname: false } });
  for (const route of routes) app.all(route.hook.routePath, ({ request }) => route.handle(request), { parse: "none" });

  app
    .get("/health/live", () => jsonResponse(200, '{"status":"ok"}'))
    .get("/health/ready", async () => {
      if (draining) return jsonResponse(503, '{"status":"shutting_down"}');
      try {
        await withTimeout(store.ping(), readyTimeoutMs);
        return jsonResponse(200, '{"status":"ok"}');
      } catch (err) {
        log.warn("readiness: store ping failed", { error: (err as Error)?.message ?? String(err) });
        return jsonResponse(503, '{"status":"store_unavailable"}');
      }
    })
    .get("/metrics", async () => {
      try {
        metrics.updateStoreStats(await withTimeout(store.stats(clock.now()), readyTimeoutMs));
      } catch (err) {
        metrics.storeStatsFailed();
        log.warn("metrics: store stats failed", { error: (err as Error)?.message ?? String(err) });
      }
      return new Response(metrics.render(), { headers: { "content-type": PROMETHEUS_CONTENT_TYPE } });
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
    /** Test entry: the same pipeline as over HTTP, without a socket. */
    handle: (request: Request) => app.handle(request),
    /** Start answering 503 to deliveries and readiness (shutdown). */
    drain(): void {
      draining = true;
    },
  };
}

export type ReceiverApp = ReturnType<typeof createApp>;
