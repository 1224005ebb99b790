// The admin page through app.handle over a real SQLite store: sign-in, origin and CSRF checks on
// every action, and hostile job values escaped wherever they land.
import { afterEach, describe, expect, test } from "bun:test";
import { createAdminApp } from "../../src/admin/app.ts";
import { RecentRequests } from "../../src/admin/recent-requests.ts";
import type { Store } from "../../src/outbox/store.ts";
import { loadTestConfig } from "../server/helpers.ts";
import { tempStore } from "../outbox/fixtures.ts";

const TOKEN = "admin-token-0123456789abcdef";
const ORIGIN = "http://127.0.0.1:4460";
const HOSTILE = `<script>alert("x")</script><img src=x onerror=alert(1)>"'&`;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup() {
  const t = await tempStore();
  cleanups.push(t.cleanup);
  const recent = new RecentRequests();
  let retried = 0;
  const admin = createAdminApp({ config: loadTestConfig(), store: t.store, recent, metricsText: () => "", token: TOKEN, onRetried: () => retried++ });
  const req = (path: string, init: RequestInit & { cookie?: string; origin?: string | null } = {}) => {
    const headers = new Headers(init.headers);
    headers.set("host", "127.0.0.1:4460");
    if (init.cookie) headers.set("cookie", init.cookie);
    if (init.origin !== null && (init.method ?? "GET") === "POST") headers.set("origin", init.origin ?? ORIGIN);
    if (init.body) headers.set("content-type", "application/x-www-form-urlencoded");
    return admin.handle(new Request(`${ORIGIN}${path}`, { ...init, headers }));
  };
  const signIn = async () => {
    const res = await req("/login", { method: "POST", body: `token=${encodeURIComponent(TOKEN)}` });
    expect(res.status).toBe(303);
    const cookie = res.headers.get("set-cookie")!.split(";")[0]!;
    const html = await (await req("/", { cookie })).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
    return { cookie, csrf };
  };
  return { ...t, recent, req, signIn, retried: () => retried };
}

async function deadJob(store: Store, payload: unknown = { body: { name: HOSTILE } }) {
  const id = Bun.randomUUIDv7();
  const now = Date.now();
  await store.acceptBatch([{ hook: "welcome", key: id, response: { status: 204, body: null }, expiresAt: now + 60_000, now, jobs: [{ id, hook: "welcome", action: "welcome.crm", payload, maxAttempts: 1, runAt: now, triggerId: HOSTILE }] }]);
  await store.claimDueJobs({ worker: "w", now, leaseMs: 60_000, limit: 10 });
  await store.failJob(id, "w", `answered 500: ${HOSTILE}`, null, now, { startedAt: now, durationMs: 5, outcome: "dead", code: 500, detail: `answered 500: ${HOSTILE}` });
  return id;
}

describe("sign-in", () => {
  test("every page but the sign-in sends a visitor without a session to it", async () => {
    const { req } = await setup();
    for (const path of ["/", "/jobs", "/webhooks", "/jobs/x"]) {
      const res = await req(path);
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe("/login");
    }
  });

  test("a wrong token is refused; the right one gives an HttpOnly, SameSite=Strict session cookie", async () => {
    const { req } = await setup();
    const wrong = await req("/login", { method: "POST", body: "token=admin-token-0123456789abcdeX" });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain("Wrong token.");
    expect(wrong.headers.get("set-cookie")).toBeNull();
    const right = await req("/login", { method: "POST", body: `token=${TOKEN}` });
    expect(right.status).toBe(303);
    expect(right.headers.get("set-cookie")).toMatch(/^kh_admin=[\w-]{40,}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200$/);
  });

  test("a sign-in posted from another origin, or with no origin at all, is refused", async () => {
    const { req } = await setup();
    expect((await req("/login", { method: "POST", body: `token=${TOKEN}`, origin: "https://evil.example" })).status).toBe(403);
    expect((await req("/login", { method: "POST", body: `token=${TOKEN}`, origin: null })).status).toBe(403);
  });

  test("an invented session cookie is no session", async () => {
    const { req } = await setup();
    expect((await req("/", { cookie: "kh_admin=made-up" })).status).toBe(303);
  });
});

describe("actions are CSRF-safe", () => {
  test("retry needs the session's CSRF token and the page's origin; with both it retries and wakes the worker", async () => {
    const { req, signIn, store, retried } = await setup();
    const id = await deadJob(store);
    const { cookie, csrf } = await signIn();
    const post = (body: string, origin?: string | null) => req(`/jobs/${id}/retry`, { method: "POST", body, cookie, origin });
    expect((await post("csrf=wrong")).status).toBe(403);
    expect((await post("")).status).toBe(403);
    expect((await post(`csrf=${csrf}`, "https://evil.example")).status).toBe(403);
    expect((await post(`csrf=${csrf}`, null)).status).toBe(403);
    expect((await req(`/jobs/${id}/retry`, { method: "POST", body: `csrf=${csrf}` })).status).toBe(401); // no cookie
    expect((await store.getJob(id))!.state).toBe("dead");
    const ok = await post(`csrf=${csrf}`);
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toBe(`/jobs/${id}?done=retried`);
    expect((await store.getJob(id))!.state).toBe("pending");
    expect(retried()).toBe(1);
  });

  test("discard deletes a dead job only; retry all dead takes every dead job of the hook", async () => {
    const { req, signIn, store } = await setup();
    const [a, b, c] = [await deadJob(store), await deadJob(store), await deadJob(store)];
    const { cookie, csrf } = await signIn();
    expect((await req(`/jobs/${a}/discard`, { method: "POST", body: `csrf=${csrf}`, cookie })).headers.get("location")).toBe("/jobs?state=dead&done=discarded");
    expect(await store.getJob(a)).toBeUndefined();
    const res = await req("/jobs/retry-dead", { method: "POST", body: `csrf=${csrf}&hook=welcome`, cookie });
    expect(res.status).toBe(303);
    expect((await store.getJob(b))!.state).toBe("pending");
    expect((await store.getJob(c))!.state).toBe("pending");
    // A pending job is not discarded.
    expect((await req(`/jobs/${b}/discard`, { method: "POST", body: `csrf=${csrf}`, cookie })).headers.get("location")).toBe(`/jobs/${b}?done=not-discarded`);
    expect((await store.getJob(b))!.state).toBe("pending");
  });
});

describe("hostile values", () => {
  test("traits, trigger ids and error texts are escaped on every page; no script can run (CSP)", async () => {
    const { req, signIn, store, recent } = await setup();
    const id = await deadJob(store);
    recent.record({ at: Date.now(), hook: "welcome", status: 204, outcome: "accepted", duplicate: false, triggerId: HOSTILE, requestId: HOSTILE, identityId: HOSTILE, traceId: null, error: null, jobIds: [id] });
    const { cookie } = await signIn();
    for (const path of [`/jobs/${id}`, "/jobs?state=dead", `/webhooks?q=${encodeURIComponent(HOSTILE)}`, `/jobs?trigger_id=${encodeURIComponent(HOSTILE)}`]) {
      const res = await req(path, { cookie });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
      const text = await res.text();
      expect(text).not.toContain("<script");
      expect(text).not.toContain("<img");
      expect(text).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;");
    }
  });
});
