// The real Postgres at 127.0.0.1:5432 (database `test`) for the resilience tests: one fresh schema
// per test, named in the store URL (`?schema=`) and also used as the connections'
// application_name, so a test can find and terminate its own serve's backends and no one else's
// (other engineers' suites share this server). Dropped afterwards.
import { afterAll } from "bun:test";
import { SQL } from "bun";
import { waitUntil } from "./kratos-client.ts";
import { killLeftovers, type ServeProcess } from "./serve-process.ts";
import type { Sink } from "./sink.ts";

const PG_USER = process.env.PGUSER ?? process.env.USER ?? "postgres";
export const PG_URL = process.env.KH_TEST_POSTGRES_URL ?? `postgres://${PG_USER}@127.0.0.1:5432/test`;

let admin: SQL | undefined;
/** One small admin pool for the whole file; closed by closeAdmin() in afterAll. */
export function adminSql(): SQL {
  return (admin ??= new SQL(PG_URL, { max: 2, connectionTimeout: 5 }));
}

export async function closeAdmin(): Promise<void> {
  await admin?.close();
  admin = undefined;
}

let n = 0;
export function freshSchema(): string {
  return `kh_resilience_${process.pid}_${Date.now().toString(36)}_${++n}`;
}

export async function dropSchema(schema: string): Promise<void> {
  await adminSql().unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/** The serve store URL for `schema`, optionally through a relay on `port`. */
export function storeUrl(schema: string, port?: number): string {
  const url = new URL(PG_URL);
  if (port !== undefined) url.port = String(port);
  url.searchParams.set("schema", schema);
  url.searchParams.set("application_name", schema);
  return url.toString();
}

/** pg_terminate_backend on every connection named `applicationName` (one test's serve), only those. */
export async function terminateBackends(applicationName: string): Promise<number> {
  const [row] = await adminSql()`
    SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = ${applicationName}`;
  return (row as { n: number }).n;
}

/** Each trigger's job actions, from the jobs table of `schema`. */
export async function jobsByTrigger(schema: string): Promise<Map<string, { actions: string[]; states: string[] }>> {
  const rows = (await adminSql().unsafe(`SELECT payload->>'trigger_id' AS trigger, action, state FROM "${schema}".jobs ORDER BY action`)) as Array<{
    trigger: string;
    action: string;
    state: string;
  }>;
  const m = new Map<string, { actions: string[]; states: string[] }>();
  for (const r of rows) {
    const e = m.get(r.trigger) ?? { actions: [], states: [] };
    e.actions.push(r.action);
    e.states.push(r.state);
    m.set(r.trigger, e);
  }
  return m;
}

/**
 * Waits until `serve` has no pending or running job and the sink saw one effect per job committed
 * in `schema` (acknowledged or not); returns how many jobs that is.
 */
export async function waitForDrain(schema: string, serve: Pick<ServeProcess, "jobsByState">, sink: Pick<Sink, "effects">, what: string): Promise<number> {
  let committed = 0;
  await waitUntil(
    async () => {
      committed = [...(await jobsByTrigger(schema)).values()].reduce((n, j) => n + j.actions.length, 0);
      const j = await serve.jobsByState();
      return j.pending === 0 && j.running === 0 && sink.effects.size === committed;
    },
    what,
    45_000,
    () => `${sink.effects.size}/${committed} effects`,
  );
  return committed;
}

/**
 * The cleanup list of one test file: afterAll kills the serve processes it left running (by PID),
 * runs the registered cleanups newest first, and closes the admin pool.
 */
export function cleanupsAfterAll(): Array<() => unknown> {
  const cleanups: Array<() => unknown> = [];
  afterAll(async () => {
    killLeftovers();
    for (const c of cleanups.splice(0).reverse()) await c();
    await closeAdmin();
  });
  return cleanups;
}
