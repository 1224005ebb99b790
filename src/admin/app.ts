// The admin page: an Elysia app on its own listener (serve.admin.listen), server-rendered HTML,
// no script at all. Reads come from the Store (jobs, attempts, counts), the receiver's
// RecentRequests (webhooks) and the Prometheus text of /metrics (rates, p99). Every page but the
// sign-in needs the session cookie; every action is a POST checked for origin and CSRF token
// (session.ts), then answered with a redirect to a page that says what happened.
import { Elysia } from "elysia";
import type { ResolvedConfig } from "../config/types.ts";
import type { JobFilter, JobState, Store } from "../outbox/store.ts";
import { href, type Html } from "./html.ts";
import { MetricSampler } from "./metric-numbers.ts";
import { jobPage, jobsPage, loginPage, notFoundPage, overviewPage, STATES, webhooksPage, type JobsQuery } from "./pages.ts";
import type { RecentRequests } from "./recent-requests.ts";
import { AdminSessions, sameOrigin, sameSecret } from "./session.ts";
import { ADMIN_CSS } from "./style.ts";
import type { Logger } from "../server/log.ts";

export type AdminDeps = {
  config: ResolvedConfig;
  store: Pick<Store, "stats" | "listJobs" | "getJob" | "listAttempts" | "retryJobs" | "purgeJobs">;
  recent: RecentRequests;
  /** The Prometheus text /metrics serves (Metrics.render). */
  metricsText: () => string;
  token: string;
  /** After a retry: the worker claims at once instead of at its next poll. */
  onRetried?: () => void;
  now?: () => number;
  log?: Logger;
};

const PAGE_SIZE = 50;
/** Form bodies are a CSRF token and a field or two. */
const MAX_FORM_BYTES = 4096;
/** No script, no frame, no outside resource: even markup that slipped through escaping could not run. */
const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "cache-control": "no-store",
};
const FLASH: Record<string, string> = {
  retried: "The job is pending again and due now.",
  "retried-dead": "Dead jobs are pending again and due now.",
  discarded: "The dead job was discarded.",
  "not-retried": "Nothing was retried (the job is running, or already gone).",
  "not-discarded": "Nothing was discarded (only dead jobs can be).",
};

function page(body: Html, status = 200, extra: Record<string, string> = {}): Response {
  return new Response(body.text, { status, headers: { "content-type": "text/html; charset=utf-8", ...SECURITY_HEADERS, ...extra } });
}

function redirect(to: string, extra: Record<string, string> = {}): Response {
  return new Response(null, { status: 303, headers: { location: to, ...SECURITY_HEADERS, ...extra } });
}

async function readForm(request: Request): Promise<URLSearchParams | undefined> {
  const type = request.headers.get("content-type") ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded")) return undefined;
  const text = await request.text();
  return text.length > MAX_FORM_BYTES ? undefined : new URLSearchParams(text);
}

export function createAdminApp(d: AdminDeps) {
  const now = d.now ?? Date.now;
  const sessions = new AdminSessions(d.token, now);
  const sampler = new MetricSampler(d.metricsText, 60_000, 5_000, now);

  /** The session, or the answer to give instead (sign-in page for a GET, 401 for an action). */
  const session = (request: Request) => sessions.session(request);

  /** An action: origin and CSRF checked before `act` runs. */
  const action = async (request: Request, act: (form: URLSearchParams) => Promise<Response>): Promise<Response> => {
    const s = session(request);
    if (!s) return page(loginPage("Your session ended; sign in again."), 401);
    const form = await readForm(request);
    if (!form || !sameOrigin(request) || !sameSecret(form.get("csrf") ?? "", s.csrf)) {
      return page(notFoundPage("This action was refused: it did not come from this page (origin or CSRF token). Reload the page and try again.", s.csrf), 403);
    }
    return act(form);
  };

  const guarded = async (request: Request, render: (csrf: string) => Promise<Response>): Promise<Response> => {
    const s = session(request);
    return s ? render(s.csrf) : redirect("/login");
  };

  const flashOf = (request: Request) => FLASH[new URL(request.url).searchParams.get("done") ?? ""];

  const app = new Elysia({ handler: { standardHostname: false } })
    .get("/admin.css", () => new Response(ADMIN_CSS, { headers: { "content-type": "text/css; charset=utf-8", "cache-control": "max-age=300", "x-content-type-options": "nosniff" } }))
    .get("/login", ({ request }) => (session(request) ? redirect("/") : page(loginPage())))
    .post(
      "/login",
      async ({ request }) => {
        // No session yet, so no CSRF token: the origin check keeps other sites from signing a browser in.
        const form = await readForm(request);
        if (!form || !sameOrigin(request)) return page(loginPage("Sign-in refused: it did not come from this page."), 403);
        const signedIn = sessions.signIn(form.get("token") ?? "");
        if (!signedIn) return page(loginPage("Wrong token."), 401);
        return redirect("/", { "set-cookie": signedIn.cookie });
      },
      { parse: "none" },
    )
    .post("/logout", ({ request }) => action(request, async () => redirect("/login", { "set-cookie": sessions.signOut(request) })), { parse: "none" })
    .get("/", ({ request }) =>
      guarded(request, async (csrf) => {
        const { now: current, base } = sampler.current();
        return page(overviewPage({ config: d.config, stats: await d.store.stats(now()), now: current, base }, csrf, flashOf(request)));
      }),
    )
    .get("/webhooks", ({ request }) =>
      guarded(request, async (csrf) => {
        const p = new URL(request.url).searchParams;
        const hook = p.get("hook") || undefined;
        const q = p.get("q") || undefined;
        return page(webhooksPage({ config: d.config, hook, q, requests: d.recent.list({ hook, q, limit: 200 }) }, csrf));
      }),
    )
    .get("/jobs", ({ request }) =>
      guarded(request, async (csrf) => {
        const p = new URL(request.url).searchParams;
        const get = (k: string) => p.get(k) || undefined;
        const state = get("state");
        const query: JobsQuery = {
          state: STATES.includes(state as JobState) ? (state as JobState) : undefined,
          hook: get("hook"),
          action: get("action"),
          trigger_id: get("trigger_id"),
          identity_id: get("identity_id"),
          before: get("before"),
          ids: get("ids"),
        };
        const filter: JobFilter = { limit: PAGE_SIZE };
        if (query.state) filter.state = query.state;
        if (query.hook) filter.hook = query.hook;
        if (query.action) filter.action = query.action;
        if (query.trigger_id) filter.triggerId = query.trigger_id;
        if (query.identity_id) filter.identityId = query.identity_id;
        if (query.before) filter.beforeId = query.before;
        if (query.ids) filter.ids = query.ids.split(",").slice(0, PAGE_SIZE);
        const [jobs, stats] = await Promise.all([d.store.listJobs(filter), d.store.stats(now())]);
        return page(jobsPage({ query, jobs, stats, limit: PAGE_SIZE }, csrf, flashOf(request)));
      }),
    )
    .get("/jobs/:id", ({ request, params }) =>
      guarded(request, async (csrf) => {
        const job = await d.store.getJob(params.id);
        if (!job) return page(notFoundPage("No job with this id (it may have been purged by retention).", csrf), 404);
        return page(jobPage({ job, attempts: await d.store.listAttempts(job.id) }, csrf, flashOf(request)));
      }),
    )
    .post(
      "/jobs/retry-dead",
      ({ request }) =>
        action(request, async (form) => {
          const filter: JobFilter = { state: "dead" };
          if (form.get("hook")) filter.hook = form.get("hook")!;
          if (form.get("action")) filter.action = form.get("action")!;
          const n = await d.store.retryJobs(filter, now());
          if (n > 0) d.onRetried?.();
          return redirect(href("/jobs", { state: "dead", hook: filter.hook, action: filter.action, done: n > 0 ? "retried-dead" : "not-retried" }));
        }),
      { parse: "none" },
    )
    .post(
      "/jobs/:id/retry",
      ({ request, params }) =>
        action(request, async () => {
          const n = await d.store.retryJobs({ ids: [params.id] }, now());
          if (n > 0) d.onRetried?.();
          return redirect(href(`/jobs/${encodeURIComponent(params.id)}`, { done: n > 0 ? "retried" : "not-retried" }));
        }),
      { parse: "none" },
    )
    .post(
      "/jobs/:id/discard",
      ({ request, params }) =>
        action(request, async () => {
          const n = await d.store.purgeJobs({ ids: [params.id], state: "dead" });
          return redirect(n > 0 ? href("/jobs", { state: "dead", done: "discarded" }) : href(`/jobs/${encodeURIComponent(params.id)}`, { done: "not-discarded" }));
        }),
      { parse: "none" },
    )
    .onError(({ code, request, error }) => {
      const csrf = session(request)?.csrf;
      if (code === "NOT_FOUND") return page(notFoundPage("There is no page here.", csrf), 404);
      d.log?.warn("admin page: request failed", { path: new URL(request.url).pathname, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
      return page(notFoundPage("Something went wrong reading the outbox; try again.", csrf), 500);
    });

  return {
    app,
    handle: (request: Request) => app.handle(request),
    start: () => sampler.start(),
    stop: () => sampler.stop(),
  };
}
