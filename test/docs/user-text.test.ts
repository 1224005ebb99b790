// Users never see the Kratos spec this project was built from: every hint, error, doc, --help text
// and generated file links to docs/kratos.md#<anchor> instead. This test reads all of that text as a
// user gets it (the CLI's own output, errors of the broken corpus, generated files) and fails on any
// mention of the spec, or on a link to an anchor docs/kratos.md does not define.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { ConfigErrors } from "../../src/errors.ts";
import { generateFiles } from "../../src/commands/generate.ts";
import { REPO, tempDir } from "../generate/helpers.ts";

const SPEC = /CONTRACT|§\s?\d/;
const ANCHORS = new Set([...readFileSync(join(REPO, "docs/kratos.md"), "utf8").matchAll(/<a id="([a-z0-9-]+)"><\/a>/g)].map((m) => m[1]!));

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((p) => statSync(p).isFile());
}

/** Each place the text cites the spec, or links an anchor that does not exist, as `where: excerpt`. */
function problems(where: string, text: string): string[] {
  const out: string[] = [];
  text.split("\n").forEach((line, i) => {
    if (SPEC.test(line)) out.push(`${where}:${i + 1}: ${line.trim()}`);
    for (const m of line.matchAll(/kratos\.md#([A-Za-z0-9_-]+)/g)) if (!ANCHORS.has(m[1]!)) out.push(`${where}:${i + 1}: unknown anchor #${m[1]}`);
  });
  return out;
}

function cli(...args: string[]): string {
  const r = Bun.spawnSync(["bun", join(REPO, "src/cli.ts"), ...args], { cwd: REPO, env: { ...process.env, NO_COLOR: "1" } });
  return r.stdout.toString() + r.stderr.toString();
}

describe("no user-facing text cites the Kratos spec", () => {
  test("docs/kratos.md defines every anchor the project links to", () => {
    for (const a of ["hook-points-by-version", "ctx-per-hook-point", "retries", "outcomes", "env-var-overrides", "private-ip-guard", "inferred"]) expect(ANCHORS.has(a)).toBe(true);
  });

  test("docs/*.md, README.md, config/ and deploy/", () => {
    const files = [join(REPO, "README.md"), ...filesUnder(join(REPO, "docs")), ...filesUnder(join(REPO, "config"))];
    try {
      files.push(...filesUnder(join(REPO, "deploy")));
    } catch {
      // no deploy/ yet
    }
    expect(files.flatMap((f) => problems(f.slice(REPO.length + 1), readFileSync(f, "utf8")))).toEqual([]);
  });

  test("jsonnet/ (the example's generated output) and a fresh generate, inline bodies decoded", () => {
    const found = filesUnder(join(REPO, "jsonnet")).flatMap((f) => problems(f.slice(REPO.length + 1), readFileSync(f, "utf8")));
    const config = loadConfig(join(REPO, "config/hooks.yaml"), { env: {} });
    const inline = { ...config, kratos: { ...config.kratos, body: { kind: "inline" as const } } };
    const { files } = generateFiles(inline, { out: tempDir(), cwd: REPO });
    expect(files.size).toBeGreaterThan(3);
    for (const [path, text] of files) {
      found.push(...problems(path, text));
      for (const m of text.matchAll(/base64:\/\/([A-Za-z0-9+/=]+)/g)) found.push(...problems(`${path} (inline body)`, Buffer.from(m[1]!, "base64").toString("utf8")));
    }
    expect(found).toEqual([]);
  });

  test("--help of the CLI and of every command", () => {
    const main = cli("--help");
    const commands = [...main.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]!);
    expect(commands).toContain("generate");
    expect(commands).toContain("serve");
    const found = problems("kratos-hooks --help", main);
    for (const c of commands) {
      const help = cli(c, "--help");
      expect(help).toContain(`kratos-hooks ${c}`);
      found.push(...problems(`kratos-hooks ${c} --help`, help));
    }
    expect(found).toEqual([]);
  });

  test("every error and hint of the broken corpus, and its .expected files", () => {
    const dir = join(REPO, "test/fixtures/broken");
    const found: string[] = [];
    let errors = 0;
    for (const f of readdirSync(dir).filter((n) => n.endsWith(".yaml"))) {
      found.push(...problems(f.replace(/yaml$/, "expected"), readFileSync(join(dir, f.replace(/yaml$/, "expected")), "utf8")));
      try {
        loadConfig(join(dir, f), { env: {}, cwd: tempDir() });
      } catch (err) {
        if (!(err instanceof ConfigErrors)) throw err;
        for (const e of err.errors) {
          errors++;
          found.push(...problems(f, e.format()));
        }
      }
    }
    expect(errors).toBeGreaterThan(40);
    expect(found).toEqual([]);
  });
});
