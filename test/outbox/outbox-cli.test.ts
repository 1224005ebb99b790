// `kratos-hooks outbox` run as a subprocess (bun src/cli.ts) against a real SQLite file, the way
// an operator runs it next to `serve`.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Store } from "../../src/outbox/store.ts";
import { httpAction } from "../actions/helpers.ts";
import { enqueue, tempStore } from "./fixtures.ts";

const ROOT = resolve(import.meta.dir, "../..");

function cli(...args: string[]) {
  const p = Bun.spawnSync([process.execPath, "src/cli.ts", "outbox", ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" }, timeout: 20_000 });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

let t: Awaited<ReturnType<typeof tempStore>>;
let store: Store;
const ids = { done: "", dead: "", pending: "", other: "" };

beforeAll(async () => {
  t = await tempStore();
  store = t.store;
  const crm = httpAction({ id: "welcome.crm", hook: "welcome", url: "http://127.0.0.1:9/contacts", headers: { Authorization: "Bearer {{env.CRM_TOKEN}}" }, body: { email: "{{body.email}}" } });
  const audit = httpAction({ id: "login-audit.audit", hook: "login-audit", url: "http://127.0.0.1:9/audit" });
  const crmIds = await enqueue(store, crm, [{ email: "a@example.com" }, { email: "b@example.com" }, { email: "c@example.com" }], { maxAttempts: 3 });
  [ids.done, ids.dead, ids.pending] = crmIds as [string, string, string];
  ids.other = (await enqueue(store, audit, [{}]))[0]!;
  const now = Date.now();
  await store.claimDueJobs({ worker: "w", now, leaseMs: 60_000, limit: 10, actions: ["welcome.crm"] });
  await store.completeJob(ids.done, "w", now);
  await store.failJob(ids.dead, "w", "POST http://127.0.0.1:9/contacts answered 422: invalid email", null, now);
  await store.releaseJob(ids.pending, "w", now);
});
afterAll(() => t.cleanup());

describe("outbox list", () => {
  test("lists every job with state, action and attempts", () => {
    const r = cli("list", "--store", t.url);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split("\n");
    expect(lines[0]).toMatch(/^ID\s+STATE\s+ACTION\s+ATTEMPTS/);
    expect(lines).toHaveLength(5);
    const row = (id: string) => lines.find((l) => l.startsWith(id))!;
    expect(row(ids.done)).toMatch(/\bdone\b.*welcome\.crm\s+1\/3/);
    expect(row(ids.dead)).toMatch(/\bdead\b.*invalid email/);
    expect(row(ids.pending)).toMatch(/\bpending\b.*0\/3/);
  });

  test("filters by state, hook and action, with a limit, as JSON", () => {
    const dead = JSON.parse(cli("list", "--store", t.url, "--state", "dead", "--json").out);
    expect(dead.map((j: { id: string }) => j.id)).toEqual([ids.dead]);
    expect(dead[0]).toMatchObject({ state: "dead", attempts: 1, lastError: expect.stringContaining("422") });
    const audit = JSON.parse(cli("list", "--store", t.url, "--hook", "login-audit", "--json").out);
    expect(audit.map((j: { id: string }) => j.id)).toEqual([ids.other]);
    const crm = JSON.parse(cli("list", "--store", t.url, "--action", "welcome.crm", "--limit", "2", "--json").out);
    expect(crm).toHaveLength(2);
  });

  test("rejects an unknown state with a usage error", () => {
    const r = cli("list", "--store", t.url, "--state", "failed");
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown state 'failed'");
  });
});

describe("outbox show", () => {
  test("prints one job with its payload as serve stores it: the accepted webhook, no env value", () => {
    const r = cli("show", ids.dead, "--store", t.url);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`id:           ${ids.dead}`);
    expect(r.out).toContain("state:        dead");
    expect(r.out).toContain("last error:   POST http://127.0.0.1:9/contacts answered 422");
    expect(r.out).toContain('"email": "b@example.com"');
    expect(r.out).toContain('"hook": "welcome"');
    expect(r.out).not.toContain("Authorization");
  });

  test("a payload rendered at acceptance shows its env refs as refs, never values", async () => {
    const crm = httpAction({ id: "welcome.crm", hook: "welcome", url: "http://127.0.0.1:9/contacts", headers: { Authorization: "Bearer {{env.CRM_TOKEN}}" }, body: { email: "{{body.email}}" } });
    const [id] = await enqueue(store, crm, [{ email: "r@example.com" }], { form: "rendered" });
    const r = Bun.spawnSync([process.execPath, "src/cli.ts", "outbox", "show", id!, "--store", t.url], { cwd: ROOT, stdout: "pipe", env: { ...process.env, CRM_TOKEN: "s3cret-token" } });
    const out = r.stdout.toString();
    expect(out).toContain('"Authorization": "Bearer {{ env.CRM_TOKEN }}"');
    expect(out).toContain('"email": "r@example.com"');
    expect(out).not.toContain("s3cret-token");
  });

  test("--json gives the job object", () => {
    const j = JSON.parse(cli("show", ids.done, "--store", t.url, "--json").out);
    expect(j).toMatchObject({ id: ids.done, state: "done", hook: "welcome", action: "welcome.crm" });
  });

  test("an unknown id exits 1", () => {
    const r = cli("show", "no-such-job", "--store", t.url);
    expect(r.code).toBe(1);
    expect(r.err).toContain("no job with id no-such-job");
  });
});

describe("outbox retry", () => {
  test("needs ids or --all-dead", () => {
    expect(cli("retry", "--store", t.url).code).toBe(2);
    expect(cli("retry", ids.dead, "--all-dead", "--store", t.url).code).toBe(2);
  });

  test("--all-dead puts dead jobs back to pending with attempts reset", async () => {
    const r = cli("retry", "--all-dead", "--hook", "welcome", "--store", t.url);
    expect(r.code).toBe(0);
    expect(r.out).toBe("1 job back to pending\n");
    expect(await store.getJob(ids.dead)).toMatchObject({ state: "pending", attempts: 0 });
  });

  test("named ids are retried; an unknown id makes it exit 1", async () => {
    const r = cli("retry", ids.done, "nope", "--store", t.url);
    expect(r.out).toBe("1 job back to pending\n");
    expect(r.code).toBe(1);
    expect((await store.getJob(ids.done))!.state).toBe("pending");
  });
});

describe("outbox purge", () => {
  test("deletes done jobs by default, dead ones only with --state dead, honouring --older-than", async () => {
    const now = Date.now();
    const [a, b] = await store.claimDueJobs({ worker: "w2", now, leaseMs: 60_000, limit: 2, actions: ["welcome.crm"] });
    await store.completeJob(a!.id, "w2", now);
    await store.failJob(b!.id, "w2", "gave up", null, now);

    let r = cli("purge", "--older-than", "1h", "--store", t.url);
    expect(r.out).toBe("0 done jobs deleted\n");
    r = cli("purge", "--store", t.url);
    expect(r.code).toBe(0);
    expect(r.out).toBe("1 done job deleted\n");
    expect(await store.getJob(a!.id)).toBeUndefined();
    expect((await store.getJob(b!.id))!.state).toBe("dead");
    r = cli("purge", "--state", "dead", "--store", t.url);
    expect(r.out).toBe("1 dead job deleted\n");
    expect(await store.getJob(b!.id)).toBeUndefined();
  });

  test("never purges pending or running jobs in bulk", () => {
    const r = cli("purge", "--state", "pending", "--store", t.url);
    expect(r.code).toBe(2);
  });
});

describe("outbox with --config", () => {
  test("opens serve.store of hooks.yaml", () => {
    const example = readFileSync(join(ROOT, "config/hooks.yaml"), "utf8");
    const file = join(t.dir, "hooks.yaml");
    writeFileSync(file, example.replace("store: sqlite:./var/kratos-hooks.db", `store: ${t.url}`));
    const r = cli("stats", "--config", file, "--json");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.byState.pending + s.byState.running + s.byState.done + s.byState.dead).toBeGreaterThan(0);
  });
});
