// The published JSON Schema of hooks.yaml (config/hooks.schema.json), derived from the TypeBox
// model so the two never drift: TypeBox schemas are JSON Schema already; this only moves the
// schemas that T.Ref points at (by $id) into local $defs and drops TypeBox's internal symbols.
import type { TSchema } from "@sinclair/typebox";
import { HooksFile, REFERENCED } from "./model.ts";

export const SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema";

/** The JSON Schema document, draft 2020-12, with T.Ref targets under $defs. */
export function hooksJsonSchema(): Record<string, unknown> {
  // TypeBox's Check may have pushed HooksFile itself onto REFERENCED (it appends $id schemas to the
  // references it is given); the root is not a $def.
  const referenced = REFERENCED.filter((s) => s.$id !== HooksFile.$id);
  const ids = new Set(referenced.map((s) => s.$id!));
  const root = plain(HooksFile, ids) as Record<string, unknown>;
  delete root.$id;
  const defs = Object.fromEntries(
    referenced.map((s) => {
      const def = plain(s, ids) as Record<string, unknown>;
      delete def.$id;
      return [s.$id!, def];
    }),
  );
  return {
    $schema: SCHEMA_DIALECT,
    title: "kratos-hooks hooks.yaml",
    description: "Declarative Ory Kratos webhooks: `kratos-hooks generate` writes the Kratos side, `kratos-hooks serve` serves them. Generated from src/config/model.ts by `kratos-hooks schema`.",
    ...root,
    $defs: defs,
  };
}

/** The file's text: stable key order (the model's), two-space indent, trailing newline. */
export function hooksJsonSchemaText(): string {
  return `${JSON.stringify(hooksJsonSchema(), null, 2)}\n`;
}

/** A deep copy without symbol keys, with `$ref: "<id>"` rewritten to `#/$defs/<id>`. */
function plain(schema: TSchema | unknown, ids: Set<string>): unknown {
  if (Array.isArray(schema)) return schema.map((x) => plain(x, ids));
  if (schema === null || typeof schema !== "object") return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === "$ref" && typeof value === "string" && ids.has(value)) out.$ref = `#/$defs/${value}`;
    else if (key === "$ref" && typeof value === "string" && !value.startsWith("#")) throw new Error(`json-schema.ts: $ref ${value} is not in REFERENCED (model.ts)`);
    else out[key] = plain(value, ids);
  }
  return out;
}
