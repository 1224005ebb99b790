// config/hooks.schema.json is derived from the TypeBox model: the committed file must be what the
// code produces, a standard validator must compile it, and it must agree with the loader.
import { describe, expect, test } from "bun:test";
import Ajv2020 from "ajv/dist/2020";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { hooksJsonSchema, hooksJsonSchemaText } from "../../src/config/json-schema.ts";
import { main } from "../../src/cli.ts";

const REPO = join(import.meta.dir, "../..");
const SCHEMA_FILE = join(REPO, "config/hooks.schema.json");
const BROKEN = join(import.meta.dir, "../fixtures/broken");

function compile() {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  return ajv.compile(JSON.parse(readFileSync(SCHEMA_FILE, "utf8")));
}

describe("config/hooks.schema.json", () => {
  test("the committed file is exactly what the model produces", () => {
    expect(readFileSync(SCHEMA_FILE, "utf8")).toBe(hooksJsonSchemaText());
  });

  test("references are local $defs, and every $def is used", () => {
    const text = hooksJsonSchemaText();
    const refs = [...text.matchAll(/"\$ref": "([^"]+)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(ref).toMatch(/^#\/\$defs\/(Predicate|Smtp)$/);
    expect(Object.keys(hooksJsonSchema().$defs as object).sort()).toEqual(["Predicate", "Smtp"]);
    expect(text).not.toContain('"$id"');
  });

  test("ajv (draft 2020-12, strict) compiles it and accepts config/hooks.yaml", () => {
    const validate = compile();
    const ok = validate(parse(readFileSync(join(REPO, "config/hooks.yaml"), "utf8")));
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  test("ajv rejects what the model rejects: the schema-* fixtures of the broken corpus", () => {
    const validate = compile();
    const files = readdirSync(BROKEN).filter((f) => f.startsWith("schema-") && f.endsWith(".yaml"));
    expect(files.length).toBeGreaterThan(20);
    for (const f of files) {
      expect({ file: f, valid: validate(parse(readFileSync(join(BROKEN, f), "utf8"))) }).toEqual({ file: f, valid: false });
    }
  });
});

describe("kratos-hooks schema", () => {
  test("without --out prints the schema to stdout", () => {
    const r = Bun.spawnSync(["bun", join(REPO, "src/cli.ts"), "schema"], { cwd: REPO, stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toBe(hooksJsonSchemaText());
  });

  test("--check without --out is a usage error", async () => {
    expect(await main(["schema", "--check"])).toBe(2);
  });

  test("--check passes for the committed file and fails for a stale one", async () => {
    expect(await main(["schema", "--out", SCHEMA_FILE, "--check"])).toBe(0);
    expect(await main(["schema", "--out", join(REPO, "config/hooks.yaml"), "--check"])).toBe(1);
  });
});
