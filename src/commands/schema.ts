// `kratos-hooks schema`: the JSON Schema of hooks.yaml, derived from the TypeBox model. Editors
// use it through `# yaml-language-server: $schema=./hooks.schema.json`; CI runs --check.
import { readFileSync, writeFileSync } from "node:fs";
import { UsageError } from "../errors.ts";
import { hooksJsonSchemaText } from "../config/json-schema.ts";
import { defineCommand } from "./command.ts";

export const command = defineCommand({
  name: "schema",
  summary: "Print (or write) the JSON Schema of hooks.yaml.",
  usage: "kratos-hooks schema [--out <file>] [--check]",
  flags: {
    out: { type: "string", short: "o", placeholder: "<file>", description: "Write the schema to this file instead of stdout." },
    check: { type: "boolean", description: "With --out: write nothing, exit 1 if the file differs from the schema." },
  },
  details: "The schema is JSON Schema draft 2020-12 and covers the shape of hooks.yaml. Rules that need\nKratos knowledge (hook lists per version, ctx per hook point) are checked by 'kratos-hooks check'.",
  run({ flags }) {
    const text = hooksJsonSchemaText();
    const out = flags.out as string | undefined;
    if (flags.check) {
      if (!out) throw new UsageError("schema: --check needs --out <file>", "e.g. kratos-hooks schema --out config/hooks.schema.json --check");
      let current: string | undefined;
      try {
        current = readFileSync(out, "utf8");
      } catch {
        current = undefined;
      }
      if (current === text) return 0;
      process.stderr.write(`${out} is ${current === undefined ? "missing" : "out of date"}\n  hint: run 'kratos-hooks schema --out ${out}'\n`);
      return 1;
    }
    if (out) writeFileSync(out, text);
    else process.stdout.write(text);
    return 0;
  },
});
