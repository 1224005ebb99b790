// The corpus of broken hooks.yaml files: each one holds one mistake and its sibling .expected
// file holds the exact first error: the line `file:line:col: path: message`, then its hint line if
// any (a hint ending in … is compared up to there: the rest is the JS engine's own wording).
// Loading must throw ConfigErrors (never another exception, never a stack trace) and write nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { ConfigError, ConfigErrors } from "../../src/errors.ts";

const DIR = join(import.meta.dir, "../fixtures/broken");
const CASES = readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((file) => ({ name: file.replace(/\.yaml$/, ""), file, expected: readFileSync(join(DIR, file.replace(/\.yaml$/, ".expected")), "utf8").trimEnd() }));

/** Every file below `dir` with its size and mtime, to prove loading wrote nothing. */
function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .sort()
    .map((f) => {
      const s = statSync(join(dir, f));
      return `${f} ${s.size} ${s.mtimeMs}`;
    });
}

function firstError(file: string, cwd: string): { thrown: unknown; first?: string } {
  try {
    loadConfig(join(DIR, file), { env: {}, cwd });
    return { thrown: undefined };
  } catch (err) {
    const first = err instanceof ConfigErrors ? err.errors[0]?.format().split(`${DIR}/`).join("") : undefined;
    return { thrown: err, first };
  }
}

describe("broken hooks.yaml corpus", () => {
  let cwd: string;
  let before: string[];
  beforeAll(() => {
    cwd = mkdtempSync(join(tmpdir(), "kratos-hooks-broken-"));
    before = snapshot(DIR);
  });
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  test("holds at least 45 cases, each with a distinct first error", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(45);
    const messages = CASES.map((c) => c.expected.split("\n")[0]!.replace(/^[^:]+:\d+:\d+: /, ""));
    expect(new Set(messages).size).toBe(messages.length);
  });

  for (const c of CASES) {
    test(`${c.name}: ${c.expected.split("\n")[0]!.replace(/^[^ ]+ /, "")}`, () => {
      const { thrown, first } = firstError(c.file, cwd);
      expect(thrown).toBeInstanceOf(ConfigErrors);
      const errors = (thrown as ConfigErrors).errors;
      expect(errors.length).toBeGreaterThan(0);
      for (const e of errors) {
        expect(e).toBeInstanceOf(ConfigError);
        // Every error names where it is (file:line:col) and says what to do about it or why.
        expect(e.at?.file).toBe(join(DIR, c.file));
        expect(e.at!.line).toBeGreaterThan(0);
        expect(e.format()).not.toMatch(/\n\s+at /);
      }
      if (c.expected.endsWith("…")) expect(first).toStartWith(c.expected.slice(0, -1));
      else expect(first).toBe(c.expected);
    });
  }

  test("loading the corpus wrote nothing: no file in the working directory, fixtures unchanged", () => {
    for (const c of CASES) firstError(c.file, cwd);
    expect(readdirSync(cwd)).toEqual([]);
    expect(snapshot(DIR)).toEqual(before);
  });
});
