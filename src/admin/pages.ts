// The admin page's views, rendered on the server with `html` (every value escaped). Each function
// takes plain data and returns Html; fetching it is app.ts's job.
import type { ResolvedConfig, ResolvedHook } from "../config/types.ts";
import type { Attempt, Job, JobState, Stats } from "../outbox/store.ts";
import { traceIdOf } from "../trace-context.ts";
import { href, html, type Html } from "./html.ts";
import { quantile, ratePerSecond, total, type MetricSnapshot } from "./metric-numbers.ts";
import type { RecentRequest } from "./recent-requests.ts";

export const STATES: JobState[] = ["pending", "running", "done", "dead"];
export type Nav = "overview" | "webhooks" | "jobs";

/** `refreshSeconds`: the page reloads itself (live counts without a script; CSP allows no script). */
export function layout(title: string, nav: Nav | undefined, csrf: string | undefined, body: Html, flash?: string, refreshSeconds?: number): Html {
  const link = (to: Nav, path: string, label: string) => html`<a href="${path}" class="${nav === to ? "on" : ""}">${label}</a>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
${refreshSeconds ? html`<meta http-equiv="refresh" content="${refreshSeconds}">` : ""}<title>${title} · kratos-hooks</title><link rel="stylesheet" href="/admin.css"></head>
<body><header><span class="brand">kratos-hooks</span>${
    csrf
      ? html`<nav>${link("overview", "/", "Overview")}${link("webhooks", "/webhooks", "Webhooks")}${link("jobs", "/jobs", "Jobs")}<a href="/jobs?state=dead">Dead letters</a></nav>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="${csrf}"><button class="quiet" type="submit">Sign out</button></form>`
      : ""
  }</header>
<main>${flash ? html`<div class="flash" role="status">${flash}</div>` : ""}${body}</main></body></html>`;
}

export function loginPage(error?: string): Html {
  return layout(
    "Sign in",
    undefined,
    undefined,
    html`<div class="card login"><h1>Sign in</h1>${error ? html`<div class="error-box" role="alert">${error}</div>` : ""}
<form method="post" action="/login"><label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button></form>
<p class="muted">The token is the value of the variable named by serve.admin.token_env.</p></div>`,
  );
}

function stateBadge(s: string): Html {
  return html`<span class="state ${s}">${s}</span>`;
}

function time(t: number): string {
  return new Date(t).toISOString().replace("T", " ").replace(/\.\d{3}Z$/, "Z");
}

function fixed(n: number | undefined, unit: string, digits = 1): string {
  return n === undefined ? "–" : `${n.toFixed(digits)}${unit}`;
}

function authText(h: ResolvedHook): string {
  if (!h.auth) return "none";
  return h.auth.type === "api_key" ? `api_key (${h.auth.in} ${h.auth.name})` : h.auth.type;
}

export type OverviewData = { config: ResolvedConfig; stats: Stats; now: MetricSnapshot; base: MetricSnapshot | undefined };

export function overviewPage(d: OverviewData, csrf: string, flash?: string): Html {
  const { now, base } = d;
  const counts = html`<div class="counts">${STATES.map(
    (s) => html`<a class="count" href="${href("/jobs", { state: s })}" data-state="${s}"><b>${d.stats.byState[s]}</b><span>${s}</span></a>`,
  )}<div class="count"><b>${fixed(d.stats.oldestDueAgeMs / 1000, "s")}</b><span>oldest due job waiting</span></div></div>`;
  const hooks = d.config.hooks.map((h) => {
    const requests = (s: MetricSnapshot) => total(s, "kratos_hooks_requests_total", "hook", h.name);
    const p99 = quantile(now, "kratos_hooks_ack_duration_seconds", "hook", h.name, 0.99, base) ?? quantile(now, "kratos_hooks_ack_duration_seconds", "hook", h.name);
    return html`<tr data-hook="${h.name}"><td><a href="${href("/webhooks", { hook: h.name })}"><b>${h.name}</b></a><div class="muted mono">${h.method} ${h.routePath}</div></td>
<td>${h.point}${h.methods.length ? html`<div class="muted">${h.methods.join(", ")}</div>` : ""}</td><td>${h.mode}</td><td>${authText(h)}</td>
<td>${h.actions.length ? h.actions.map((a) => html`<div><a href="${href("/jobs", { action: a.id })}">${a.id}</a> <span class="muted">${a.kind}</span></div>`) : html`<span class="muted">none</span>`}</td>
<td class="num">${requests(now)}</td><td class="num">${fixed(ratePerSecond(now, base, requests) * 60, "/min")}</td><td class="num">${fixed(p99 === undefined ? undefined : p99 * 1000, " ms")}</td></tr>`;
  });
  const actions = d.config.hooks.flatMap((h) => h.actions).map((a) => {
    const ok = (s: MetricSnapshot) => total(s, "kratos_hooks_delivery_attempts_total", "action", a.id, { result: "ok" });
    const failed = (s: MetricSnapshot) => total(s, "kratos_hooks_delivery_attempts_total", "action", a.id, { result: "error" });
    const p99 = quantile(now, "kratos_hooks_delivery_duration_seconds", "action", a.id, 0.99, base) ?? quantile(now, "kratos_hooks_delivery_duration_seconds", "action", a.id);
    return html`<tr data-action="${a.id}"><td><a href="${href("/jobs", { action: a.id })}">${a.id}</a></td><td>${a.kind}</td><td class="num">${ok(now)}</td><td class="num">${failed(now)}</td>
<td class="num">${total(now, "kratos_hooks_jobs_dead_total", "action", a.id)}</td><td class="num">${fixed(ratePerSecond(now, base, ok) * 60, "/min")}</td><td class="num">${fixed(p99 === undefined ? undefined : p99 * 1000, " ms")}</td></tr>`;
  });
  return layout(
    "Overview",
    "overview",
    csrf,
    html`<h1>Overview</h1>${counts}
<div class="card"><h2>Hooks</h2><table><thead><tr><th>Hook</th><th>Kratos point</th><th>Mode</th><th>Auth</th><th>Actions</th><th class="num">Requests</th><th class="num">Rate (1 min)</th><th class="num">Ack p99</th></tr></thead><tbody>${hooks}</tbody></table></div>
<div class="card"><h2>Actions</h2><table><thead><tr><th>Action</th><th>Kind</th><th class="num">Delivered</th><th class="num">Failed attempts</th><th class="num">Dead</th><th class="num">Rate (1 min)</th><th class="num">p99</th></tr></thead><tbody>${actions}</tbody></table>
<p class="muted">Counts since this process started, from the numbers /metrics serves; rates over the last minute. This page reloads every 10 seconds.</p></div>`,
    flash,
    10,
  );
}

export function webhooksPage(d: { config: ResolvedConfig; hook?: string; q?: string; requests: RecentRequest[] }, csrf: string): Html {
  const rows = d.requests.map(
    (r) => html`<tr><td class="mono time">${time(r.at)}</td><td>${r.hook}</td><td>${stateBadge(r.duplicate ? "duplicate" : r.outcome)}${r.error ? html` <span class="muted">${r.error}</span>` : ""}</td><td class="num">${r.status}</td>
<td class="mono">${r.triggerId ?? "–"}</td><td class="mono hide-narrow">${r.identityId ?? "–"}</td>
<td>${r.jobIds.length ? html`<a href="${href("/jobs", r.triggerId ? { trigger_id: r.triggerId } : { ids: r.jobIds.join(",") })}">${r.jobIds.length} job${r.jobIds.length === 1 ? "" : "s"}</a>` : html`<span class="muted">none</span>`}</td></tr>`,
  );
  return layout(
    "Webhooks",
    "webhooks",
    csrf,
    html`<h1>Webhooks</h1>
<form class="search" method="get" action="/webhooks"><select name="hook" aria-label="hook"><option value="">every hook</option>${d.config.hooks.map((h) => html`<option value="${h.name}"${h.name === d.hook ? html` selected` : ""}>${h.name}</option>`)}</select>
<input type="search" name="q" value="${d.q ?? ""}" placeholder="trigger id, identity id, accepted, denied, duplicate" aria-label="search"><button type="submit">Search</button></form>
<div class="card"><table><thead><tr><th>Received</th><th>Hook</th><th>Outcome</th><th class="num">Status</th><th>Trigger id</th><th class="hide-narrow">Identity</th><th>Jobs</th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="7" class="muted">No requests ${d.q ? "match" : "yet"}.</td></tr>`}</tbody></table>
<p class="muted">The last requests of each hook answered by this process (kept in memory). Older webhooks: search Jobs by trigger id or identity.</p></div>`,
  );
}

export type JobsQuery = { state?: JobState; hook?: string; action?: string; trigger_id?: string; identity_id?: string; before?: string; ids?: string };

export function jobsPage(d: { query: JobsQuery; jobs: Job[]; stats: Stats; limit: number }, csrf: string, flash?: string): Html {
  const q = d.query;
  const keep = { hook: q.hook, action: q.action, trigger_id: q.trigger_id, identity_id: q.identity_id };
  const tabs = html`<div class="tabs"><a href="${href("/jobs", keep)}" class="${q.state ? "" : "on"}">all</a>${STATES.map(
    (s) => html`<a href="${href("/jobs", { ...keep, state: s })}" class="${q.state === s ? "on" : ""}">${s} ${d.stats.byState[s]}</a>`,
  )}</div>`;
  const rows = d.jobs.map(
    (j) => html`<tr data-job="${j.id}"><td class="mono"><a href="/jobs/${encodeURIComponent(j.id)}">${j.id}</a></td><td>${stateBadge(j.state)}</td><td>${j.action}</td>
<td class="num">${j.attempts}/${j.maxAttempts}${(j.attemptsRecorded ?? 0) > j.attempts ? html` <span class="muted">(${j.attemptsRecorded} total)</span>` : ""}</td>
<td class="mono time hide-narrow">${time(j.createdAt)}</td><td>${j.lastError ?? ""}</td></tr>`,
  );
  const deadActions =
    q.state === "dead" && d.stats.byState.dead > 0
      ? html`<form class="inline" method="post" action="/jobs/retry-dead"><input type="hidden" name="csrf" value="${csrf}">${q.hook ? html`<input type="hidden" name="hook" value="${q.hook}">` : ""}${q.action ? html`<input type="hidden" name="action" value="${q.action}">` : ""}<button type="submit">Retry all dead${q.hook ? html` of ${q.hook}` : ""}${q.action ? html` of ${q.action}` : ""}</button></form>`
      : "";
  const next = d.jobs.length === d.limit ? html`<p><a href="${href("/jobs", { ...keep, state: q.state, before: d.jobs.at(-1)!.id })}">Older jobs →</a></p>` : "";
  return layout(
    "Jobs",
    "jobs",
    csrf,
    html`<h1>Jobs${q.trigger_id ? html` of trigger <span class="mono">${q.trigger_id}</span>` : ""}${q.identity_id ? html` about identity <span class="mono">${q.identity_id}</span>` : ""}</h1>${tabs}
<form class="search" method="get" action="/jobs">${q.state ? html`<input type="hidden" name="state" value="${q.state}">` : ""}<input type="search" name="trigger_id" value="${q.trigger_id ?? ""}" placeholder="trigger id" aria-label="trigger id"><input type="search" name="identity_id" value="${q.identity_id ?? ""}" placeholder="identity id" aria-label="identity id"><button type="submit">Find</button> ${deadActions}</form>
<div class="card"><table><thead><tr><th>Job</th><th>State</th><th>Action</th><th class="num">Attempts</th><th class="hide-narrow">Created</th><th>Last error</th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="6" class="muted">No jobs.</td></tr>`}</tbody></table>${next}</div>`,
    flash,
  );
}

export function jobPage(d: { job: Job; attempts: Attempt[] }, csrf: string, flash?: string): Html {
  const j = d.job;
  const traceId = traceIdOf(j.traceparent);
  const attempts = d.attempts.map(
    (a) => html`<tr data-attempt="${a.n}"><td class="num">#${a.n}</td><td class="mono time">${time(a.startedAt)}</td><td class="num">${a.durationMs} ms</td><td>${stateBadge(a.outcome)}</td><td class="num">${a.code ?? "–"}</td><td class="mono detail">${a.detail ?? ""}</td></tr>`,
  );
  const actions =
    j.state === "running"
      ? html`<p class="muted">A worker holds this job right now.</p>`
      : html`<form class="inline" method="post" action="/jobs/${encodeURIComponent(j.id)}/retry"><input type="hidden" name="csrf" value="${csrf}"><button type="submit">Retry now</button></form>
${j.state === "dead" ? html` <form class="inline" method="post" action="/jobs/${encodeURIComponent(j.id)}/discard"><input type="hidden" name="csrf" value="${csrf}"><button class="danger" type="submit">Discard</button></form>` : ""}`;
  return layout(
    `Job ${j.id}`,
    "jobs",
    csrf,
    html`<h1>Job <span class="mono">${j.id}</span> ${stateBadge(j.state)}</h1>
<div class="card"><dl class="facts"><dt>Hook</dt><dd>${j.hook}</dd><dt>Action</dt><dd>${j.action}</dd>
<dt>Attempts</dt><dd>${j.attempts} of ${j.maxAttempts}${(j.attemptsRecorded ?? 0) > j.attempts ? ` since the last retry; ${j.attemptsRecorded} in total` : ""}</dd>
<dt>Trigger id</dt><dd class="mono">${j.triggerId ? html`<a href="${href("/jobs", { trigger_id: j.triggerId })}">${j.triggerId}</a>` : "–"}</dd>
<dt>Identity</dt><dd class="mono">${j.identityId ? html`<a href="${href("/jobs", { identity_id: j.identityId })}">${j.identityId}</a>` : "–"}</dd>
${traceId ? html`<dt>Trace id</dt><dd class="mono">${traceId}</dd>` : ""}
<dt>Created</dt><dd>${time(j.createdAt)}</dd><dt>Updated</dt><dd>${time(j.updatedAt)}</dd>
${j.state === "pending" ? html`<dt>Next run</dt><dd>${time(j.runAt)}</dd>` : ""}
${j.lastError ? html`<dt>Last error</dt><dd>${j.lastError}</dd>` : ""}</dl><p>${actions}</p></div>
<div class="card"><h2>Attempts</h2><table><thead><tr><th class="num">#</th><th>Started</th><th class="num">Took</th><th>Outcome</th><th class="num">Code</th><th>Response / error</th></tr></thead>
<tbody>${attempts.length ? attempts : html`<tr><td colspan="6" class="muted">No attempt yet.</td></tr>`}</tbody></table></div>
<div class="card"><h2>Payload</h2><pre>${JSON.stringify(j.payload, null, 2)}</pre></div>`,
    flash,
  );
}

export function notFoundPage(what: string, csrf: string | undefined): Html {
  return layout("Not found", undefined, csrf, html`<div class="card"><h1>Not found</h1><p>${what}</p><p><a href="/">Back to the overview</a></p></div>`);
}
