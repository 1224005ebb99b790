// simple-yaml.ts against the yaml package: for every YAML file of the repository and for random
// mutations of them, whatever the fast reader accepts must be the package's document exactly (node
// kinds, scalar values, every node's start offset, line starts), and YAML the package rejects must
// never be accepted.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import { parseSimpleYaml } from "../../src/config/simple-yaml.ts";

const ROOT = join(import.meta.dir, "../..");
const FILES = new Bun.Glob("{config,deploy,test,docs,examples}/**/*.{yaml,yml}");
const files = [...FILES.scanSync({ cwd: ROOT })].sort();

function packageRead(text: string) {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false, merge: true });
  return { doc, lines };
}

/** The first difference between two node trees, or undefined. */
function difference(a: unknown, b: unknown, path = "$"): string | undefined {
  const x = a as { range?: number[]; value?: unknown; items?: unknown[] };
  const y = b as { range?: number[]; value?: unknown; items?: unknown[] };
  if (isScalar(a) !== isScalar(b) || isMap(a) !== isMap(b) || isSeq(a) !== isSeq(b)) return `${path}: kind`;
  if (x.range?.[0] !== y.range?.[0]) return `${path}: starts at ${x.range?.[0]}, the package says ${y.range?.[0]}`;
  if (isScalar(a)) return Object.is(x.value, y.value) ? undefined : `${path}: ${JSON.stringify(x.value)}, the package says ${JSON.stringify(y.value)}`;
  if (x.items!.length !== y.items!.length) return `${path}: ${x.items!.length} items, the package says ${y.items!.length}`;
  for (let i = 0; i < x.items!.length; i++) {
    const p = x.items![i];
    const q = y.items![i];
    if (isPair(p) !== isPair(q)) return `${path}[${i}]: pair`;
    const d = isPair(p) && isPair(q) ? (difference(p.key, q.key, `${path}.<key ${i}>`) ?? difference(p.value, q.value, `${path}.${String((p.key as { value: unknown }).value)}`)) : difference(p, q, `${path}[${i}]`);
    if (d) return d;
  }
  return undefined;
}

/** Why the fast reader's reading of `text` differs from the package's, or undefined. */
function mismatch(text: string): string | undefined {
  const fast = parseSimpleYaml(text);
  if (!fast) return undefined;
  const pkg = packageRead(text);
  if (pkg.doc.errors.length > 0) return `accepted YAML the package rejects: ${pkg.doc.errors[0]!.message.split("\n")[0]}`;
  return (
    difference(fast.doc.contents, pkg.doc.contents) ??
    (JSON.stringify(fast.doc.toJS()) === JSON.stringify(pkg.doc.toJS()) ? undefined : "toJS") ??
    (JSON.stringify(fast.lines.lineStarts) === JSON.stringify(pkg.lines.lineStarts) ? undefined : "line starts")
  );
}

describe("simple-yaml: the same document as the yaml package", () => {
  test("every YAML file of the repository, and the example config is read by it", () => {
    expect(files.length).toBeGreaterThan(50);
    const read = files.filter((f) => parseSimpleYaml(readFileSync(join(ROOT, f), "utf8")) !== undefined);
    expect(read).toContain("config/hooks.yaml");
    expect(read.length).toBeGreaterThan(files.length / 2);
    for (const f of files) expect([f, mismatch(readFileSync(join(ROOT, f), "utf8"))]).toEqual([f, undefined]);
  });

  test("random mutations of those files: accepted only where it reads them as the package does", () => {
    const seeds = files.map((f) => readFileSync(join(ROOT, f), "utf8"));
    const pieces = [" ", "  ", "\n", ":", ": ", "- ", "-", "#", " #", "{", "}", "[", "]", ",", '"', "'", "\\", "\\u0041", "''", "&a", "*a", "!", "|", "|-", "|+", ">", "?", "~", "null", "true", "1", "-1", "1.5", "0x1", "1e3", "@", "%", "`", "a: b", "<<", "\t", "é", "x", "---"];
    let state = 42;
    const rnd = (n: number) => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state % n;
    };
    let accepted = 0;
    for (let i = 0; i < 4000; i++) {
      let t = seeds[rnd(seeds.length)]!;
      for (let k = 0, m = 1 + rnd(3); k < m; k++) {
        const at = rnd(t.length + 1);
        const op = rnd(3);
        if (op === 0) t = t.slice(0, at) + pieces[rnd(pieces.length)] + t.slice(at);
        else if (op === 1) t = t.slice(0, at) + t.slice(at + 1 + rnd(4));
        else {
          const nl = t.lastIndexOf("\n", at);
          t = t.slice(0, nl + 1) + " ".repeat(rnd(3)) + t.slice(nl + 1);
        }
      }
      const why = mismatch(t);
      if (why) throw new Error(`${why}\n--- input:\n${t}`);
      if (parseSimpleYaml(t)) accepted++;
    }
    expect(accepted).toBeGreaterThan(1000);
  });

  test("literal blocks, escapes, comments and lists read as the package reads them", () => {
    const text = [
      "a:",
      "  text: |",
      "    Hi {{body.name}},",
      "",
      "      indented",
      "    end",
      "  strip: |-",
      "    x",
      "  # a comment",
      "  q: \"tab\\t \\\"quoted\\\" \\u00e9\"   # trailing",
      "  s: 'it''s'",
      "  list:",
      "  - one",
      "  - k: v",
      "    l: [x, -c, \"y\", { m: 1 }]",
      "  n: 42",
      "  t: true",
      "  u: http://127.0.0.1:4460/x#frag",
    ].join("\n");
    expect(parseSimpleYaml(text)).toBeDefined();
    expect(mismatch(text)).toBeUndefined();
  });

  test("what it leaves to the package: anchors, merge keys, nulls, other numbers, folded blocks, tabs", () => {
    for (const text of ["a: &x 1\nb: *x\n", "a: {x: 1}\nb:\n  <<: {y: 2}\n", "a: ~\n", "a:\n", "a: 1.5\n", "a: -1\n", "a: 0x1F\n", "a: >\n  x\n", "a:\n\tb: 1\n", "a: {{ body.email }}\n", "a: b: c\n", "? x\n: 1\n", "--- \na: 1\n", "a: [1,\n  2]\n"]) {
      expect([text, parseSimpleYaml(text)]).toEqual([text, undefined]);
    }
  });
});
