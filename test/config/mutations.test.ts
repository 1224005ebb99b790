// Whatever is done to hooks.yaml, loading either succeeds or throws ConfigErrors whose every
// error has a location: seeded line mutations of the example (deleted, duplicated, re-keyed,
// re-valued, prefixed lines), a fixed number of them.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfigText } from "../../src/config/load.ts";
import { ConfigErrors } from "../../src/errors.ts";

const EXAMPLE = join(import.meta.dir, "../../config/hooks.yaml");
const LINES = readFileSync(EXAMPLE, "utf8").split("\n");
const TOKENS = ["", "null", "~", "[]", "{}", "1", "-1", "1.5", "true", "x", "'", '"', "[", "{", "&a", "*a", "<<: *a", "- x", ":", "#", "\t", "identity.id", "session.id", "request_headers.X", "{{body.zz}}", "{{ env.A }}", "{{x}}", "registration.before", "interrupt", "enrich", "TRACE", "v1.0.0", "HEAD", "9000000", "/", "sqlite:", "0ms"];
const KEYS = ["on", "mode", "methods", "x", "body", "rules", "enrich", "skip_if", "auth", "actions", "http", "email", "exec", "when", "field", "deny", "lookup", "wait", "path"];

function mutate(seed: number): string {
  let s = seed;
  const rnd = () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const pick = <T>(a: readonly T[]) => a[Math.floor(rnd() * a.length)]!;
  const lines = [...LINES];
  for (let k = 0, n = 1 + Math.floor(rnd() * 3); k < n; k++) {
    const j = Math.floor(rnd() * lines.length);
    switch (Math.floor(rnd() * 5)) {
      case 0: lines.splice(j, 1); break;
      case 1: lines.splice(j, 0, pick(lines)); break;
      case 2: lines[j] = lines[j]!.replace(/: .*$/, `: ${pick(TOKENS)}`); break;
      case 3: lines[j] = lines[j]!.replace(/^(\s*)[A-Za-z_-]+:/, `$1${pick(KEYS)}:`); break;
      default: lines[j] = pick(TOKENS) + lines[j];
    }
  }
  return lines.join("\n");
}

describe("mutated config/hooks.yaml", () => {
  test("600 mutations: each loads or throws ConfigErrors with located errors, never anything else", () => {
    let failed = 0;
    for (let seed = 1; seed <= 600; seed++) {
      try {
        loadConfigText(mutate(seed), EXAMPLE, { env: {} });
      } catch (err) {
        expect({ seed, kind: err instanceof ConfigErrors ? "ConfigErrors" : String(err) }).toEqual({ seed, kind: "ConfigErrors" });
        for (const e of (err as ConfigErrors).errors) expect({ seed, line: (e.at?.line ?? 0) > 0 }).toEqual({ seed, line: true });
        failed++;
      }
    }
    // Most mutations break the file; some are harmless (a duplicated comment line).
    expect(failed).toBeGreaterThan(400);
  }, 60_000); // 600 synchronous loads: ~3 s alone, several times that on a busy 2-core machine.
});
