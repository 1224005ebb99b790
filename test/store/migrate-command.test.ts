// `kratos-hooks migrate` through the real CLI entry point, as a deployment would run it.
import { Database } from "bun:sqlite";
import { SQL } from "bun";
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const CLI = resolve(import.meta.dir, "../../src/cli.ts");
const EXAMPLE = resolve(import.meta.dir, "../../config/hooks.yaml");
const PG_URL = process.env.KH_TEST_POSTGRES_URL ?? `postgres://${process.env.PGUSER ?? process.env.USER ?? "postgres"}@127.0.0.1:5432/test`;

async function cli(args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn(["bun", CLI, "migrate", ...args], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "kh-migrate-"));
  dirs.push(d);
  return d;
};
function versions(path: string) {
  const db = new Database(path, { readonly: true });
  try {
    return db.query("SELECT version FROM schema_migrations").all();
  } finally {
    db.close();
  }
}

describe("kratos-hooks migrate", () => {
  test("--store sqlite:<path> creates the file and applies every migration; a second run changes nothing", async () => {
    const path = join(tempDir(), "sub", "outbox.db");
    const first = await cli(["--store", `sqlite:${path}`]);
    expect(first).toMatchObject({ code: 0, stdout: `sqlite:${path}: schema up to date\n` });
    expect(versions(path)).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }]);
    expect((await cli(["--store", `sqlite:${path}`])).code).toBe(0);
    expect(versions(path)).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }]);
  });

  test("--config reads the store from hooks.yaml (here overridden by KRATOS_HOOKS_STORE)", async () => {
    const path = join(tempDir(), "from-config.db");
    const r = await cli(["--config", EXAMPLE], { KRATOS_HOOKS_STORE: `sqlite:${path}` });
    expect(r).toMatchObject({ code: 0 });
    expect(versions(path)).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }]);
  });

  describe("on postgres", () => {
    const admin = new SQL(PG_URL, { max: 1 });
    const schema = `kh_test_migrate_${process.pid}`;
    afterAll(async () => {
      await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.close();
    });

    test("?schema= in the URL picks the schema, and the password never reaches the output", async () => {
      const url = new URL(PG_URL);
      url.password = "hunter2-not-real";
      url.searchParams.set("schema", schema);
      const r = await cli(["--store", url.toString()]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("***@");
      expect(r.stdout + r.stderr).not.toContain("hunter2-not-real");
      expect([...(await admin`SELECT version FROM ${admin(schema)}.schema_migrations ORDER BY version`)]).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }]);
    });

    test("an unreachable database exits 1 with the reason and no password", async () => {
      const r = await cli(["--store", "postgres://someone:hunter2-not-real@127.0.0.1:1/test"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("ERR_POSTGRES_CONNECTION_REFUSED");
      expect(r.stdout + r.stderr).not.toContain("hunter2-not-real");
    });
  });

  test("needs exactly one of --store and --config", async () => {
    expect((await cli([])).code).toBe(2);
    expect((await cli(["--store", "sqlite::memory:", "--config", EXAMPLE])).code).toBe(2);
  });

  test("a Postgres database or role that does not exist: one clear line and hint, password shown as ***, no driver dump", async () => {
    const base = new URL(PG_URL);
    const noDb = new URL(PG_URL);
    noDb.pathname = "/kh_no_such_database";
    noDb.password = "hunter22-secret";
    const r = await cli(["--store", noDb.toString()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `kratos-hooks: cannot open the store postgres://${base.username}:***@${base.host}/kh_no_such_database: database "kh_no_such_database" does not exist\n` +
        "  hint: create the database (createdb <name>) or name an existing one in the store URL; set it in serve.store, KRATOS_HOOKS_STORE or --store\n",
    );
    const noRole = new URL(PG_URL);
    noRole.username = "kh_no_such_role";
    const s = await cli(["--store", noRole.toString()]);
    expect(s.code).toBe(2);
    expect(s.stderr).toStartWith(`kratos-hooks: cannot open the store postgres://kh_no_such_role@${base.host}${base.pathname}: role "kh_no_such_role" does not exist\n  hint: create the role`);
    for (const text of [r.stderr, s.stderr]) {
      expect(text).not.toContain("PostgresError");
      expect(text).not.toContain("Bun v");
      expect(text).not.toContain("hunter22");
    }
  });

  test("an unknown store scheme is a usage error", async () => {
    const r = await cli(["--store", "mysql://x@y/z"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unsupported store URL scheme 'mysql'");
  });
});
