// A store URL the CLI cannot use (a directory it cannot create, a file that is not SQLite, a
// missing store for `outbox`, an unreachable Postgres) ends in one clear message naming the store,
// a non-zero exit and no stack trace, through the real CLI as an operator runs it.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const CLI = resolve(import.meta.dir, "../../src/cli.ts");
const EXAMPLE = resolve(import.meta.dir, "../../config/hooks.yaml");
const PASSWORD = "hunter2-not-real";
const STACK = /^\s+at /m;

async function cli(args: string[], cwd?: string) {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" };
  delete env.KRATOS_HOOKS_STORE;
  const proc = Bun.spawn(["bun", CLI, ...args], { cwd, env, stdout: "pipe", stderr: "pipe", timeout: 30_000 });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "kh-store-path-"));
  dirs.push(d);
  return d;
}

/** A hooks.yaml serve accepts without secrets; the store comes from --store. */
function serveConfig(dir: string): string {
  const file = join(dir, "hooks.yaml");
  writeFileSync(
    file,
    `kratos: { version: v26.2.0 }
receiver: { url: http://127.0.0.1:4459 }
serve: { listen: "127.0.0.1:0" }
hooks:
  welcome:
    on: registration.after
    methods: [password]
    mode: notify
    body: { identity_id: identity.id }
    actions:
      - name: record
        exec: { command: [/bin/true] }
`,
  );
  return file;
}

/** Every way a command opens the store: serve (store thread), migrate and outbox (in process). */
const COMMANDS: Record<string, (dir: string, url: string) => string[]> = {
  serve: (dir, url) => ["serve", "--config", serveConfig(dir), "--store", url],
  migrate: (_dir, url) => ["migrate", "--store", url],
  outbox: (_dir, url) => ["outbox", "stats", "--store", url],
};

function expectClearError(r: { code: number; stderr: string }, ...parts: string[]) {
  expect(r.code).not.toBe(0);
  for (const p of parts) expect(r.stderr).toContain(p);
  expect(r.stderr).toContain("\n  hint: ");
  expect(r.stderr).not.toMatch(STACK);
}

describe("a sqlite store path that cannot be used", () => {
  for (const [name, args] of Object.entries(COMMANDS)) {
    if (name !== "outbox") {
      test(`${name}: a directory that cannot be created (part of the path is a file) is named, without a stack trace`, async () => {
        const dir = tempDir();
        writeFileSync(join(dir, "plain-file"), "x");
        const path = join(dir, "plain-file", "sub", "outbox.db");
        const r = await cli(args(dir, `sqlite:${path}`));
        expectClearError(r, `sqlite store ${path}: cannot create the directory`);
      }, 30_000);

      // Root may write almost anywhere, so a directory no one may create files in: /proc.
      test.skipIf(!existsSync("/proc/self"))(`${name}: a directory it may not write is named, without a stack trace`, async () => {
        const path = `/proc/kh-test-${process.pid}.db`;
        const r = await cli(args(tempDir(), `sqlite:${path}`));
        expectClearError(r, `sqlite store ${path}: cannot open it for writing`);
      }, 30_000);
    }

    test(`${name}: a file that is not a SQLite database is named and left as it is`, async () => {
      const dir = tempDir();
      const path = join(dir, "notes.db");
      const text = "these are notes, not a database\n".repeat(8);
      writeFileSync(path, text);
      const r = await cli(args(dir, `sqlite:${path}`));
      expectClearError(r, `sqlite store ${path} is not a SQLite database`);
      expect(readFileSync(path, "utf8")).toBe(text);
    }, 30_000);
  }
});

describe("outbox opens an existing sqlite store only", () => {
  const SUBCOMMANDS = [["list"], ["show", "some-id"], ["retry", "--all-dead"], ["purge"], ["stats"]];

  test("a missing file fails naming the path, and creates neither it nor its directory", async () => {
    const dir = tempDir();
    const path = join(dir, "new", "outbox.db");
    for (const sub of SUBCOMMANDS) {
      const r = await cli(["outbox", ...sub, "--store", `sqlite:${path}`]);
      expectClearError(r, `sqlite store ${path} does not exist`, "--store");
      expect(r.stdout).toBe("");
    }
    expect(existsSync(join(dir, "new"))).toBe(false);
  }, 30_000);

  test("the default store, relative to another working directory, is named with that directory", async () => {
    const cwd = tempDir();
    const r = await cli(["outbox", "list", "--config", EXAMPLE], cwd);
    expectClearError(r, `sqlite store ${join(cwd, "var/kratos-hooks.db")} does not exist`, `working directory, here ${cwd}`, "--config");
    expect(existsSync(join(cwd, "var"))).toBe(false);
  }, 30_000);

  test("an existing store made by migrate opens as before", async () => {
    const path = join(tempDir(), "outbox.db");
    expect((await cli(["migrate", "--store", `sqlite:${path}`])).code).toBe(0);
    const r = await cli(["outbox", "list", "--store", `sqlite:${path}`]);
    expect(r).toMatchObject({ code: 0, stdout: "no jobs\n", stderr: "" });
  }, 30_000);
});

describe("outbox against an unreachable postgres", () => {
  test("every subcommand exits 1 with the reason and the redacted URL, never the password or a stack", async () => {
    const url = `postgres://nobody:${PASSWORD}@127.0.0.1:1/x`;
    for (const sub of [["list"], ["show", "some-id"], ["retry", "--all-dead"], ["purge"], ["stats"]]) {
      const r = await cli(["outbox", ...sub, "--store", url]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`outbox ${sub[0]}: cannot use postgres://nobody:***@127.0.0.1:1/x`);
      expect(r.stderr).toContain("unavailable");
      expect(r.stderr).not.toMatch(STACK);
      expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    }
  }, 60_000);
});

test("the top-level help lists every outbox subcommand", async () => {
  const r = await cli(["--help"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^ {2}outbox .*list, show, retry, purge, stats/m);
});

describe("a postgres store URL that can never work", () => {
  test("a bare '%' in the password: one usage error (exit 2) with the fix, no URIError stack, no password", async () => {
    const url = `postgres://nobody:${PASSWORD}%zz@127.0.0.1:5432/test`;
    for (const args of [["outbox", "list", "--store", url], ["migrate", "--store", url]]) {
      const r = await cli(args);
      expect({ args: args[0], code: r.code }).toEqual({ args: args[0], code: 2 });
      expect(r.stderr).toBe(
        "kratos-hooks: the store URL postgres://nobody:***@127.0.0.1:5432/test has a '%' that does not start a %XX escape\n" +
          "  hint: percent-encode special characters of the user, password or database name (% as %25, @ as %40, / as %2F)\n",
      );
      expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    }
  }, 60_000);

  test("sslmode=require against a server without TLS: one usage error naming the mismatch, no driver dump", async () => {
    const url = "postgres://postgres@127.0.0.1:5432/test?sslmode=require";
    for (const args of [["outbox", "stats", "--store", url], ["migrate", "--store", url]]) {
      const r = await cli(args);
      expect({ args: args[0], code: r.code }).toEqual({ args: args[0], code: 2 });
      expect(r.stderr).toStartWith(`kratos-hooks: cannot open the store ${url}: `);
      expect(r.stderr).toContain("hint: the server and the store URL disagree on TLS");
      expect(r.stderr).not.toMatch(STACK);
      expect(r.stderr).not.toContain("Bun v");
    }
  }, 60_000);
});
