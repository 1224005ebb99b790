// Kratos's own config JSON schema per supported version, embedded in the binary (src/kratos/schemas/,
// Apache-2.0, LICENSE.kratos beside them) so generate and check validate offline. Each schema and
// ajv load only when asked for: the CLI's startup pays nothing, a validation pays for one version.
import { kratosUriFormat } from "./uri-format.ts";
import { rulesTag, type KnownTag, type Version } from "./versions.ts";

type JsonModule = Promise<{ default: unknown }>;

// Literal import paths, one per file, so `bun build --compile` and Deno embed each of them.
const SCHEMAS: Record<KnownTag, () => JsonModule> = {
  "v1.0.0": () => import("./schemas/config.schema.v1.0.0.json", { with: { type: "json" } }),
  "v1.1.0": () => import("./schemas/config.schema.v1.1.0.json", { with: { type: "json" } }),
  "v1.2.0": () => import("./schemas/config.schema.v1.2.0.json", { with: { type: "json" } }),
  "v1.3.1": () => import("./schemas/config.schema.v1.3.1.json", { with: { type: "json" } }),
  "v25.4.0": () => import("./schemas/config.schema.v25.4.0.json", { with: { type: "json" } }),
  "v26.2.0": () => import("./schemas/config.schema.v26.2.0.json", { with: { type: "json" } }),
  HEAD: () => import("./schemas/config.schema.HEAD.json", { with: { type: "json" } }),
};

type ValidateFn = ((data: unknown) => boolean) & { errors?: Array<{ instancePath: string; keyword: string; message?: string; params: Record<string, unknown> }> | null };

// The `hooks` scope precompiled (src/kratos/schema-validators.ts), one module per version.
const HOOKS_VALIDATORS: Record<KnownTag, () => Promise<{ default: ValidateFn }>> = {
  "v1.0.0": () => import("./schemas/validate-hooks.v1.0.0.js"),
  "v1.1.0": () => import("./schemas/validate-hooks.v1.1.0.js"),
  "v1.2.0": () => import("./schemas/validate-hooks.v1.2.0.js"),
  "v1.3.1": () => import("./schemas/validate-hooks.v1.3.1.js"),
  "v25.4.0": () => import("./schemas/validate-hooks.v25.4.0.js"),
  "v26.2.0": () => import("./schemas/validate-hooks.v26.2.0.js"),
  HEAD: () => import("./schemas/validate-hooks.HEAD.js"),
};

/** The schema behind `ory://tracing-config`, the config schema's one external $ref; it changed at v25.4.0. */
function tracingSchema(tag: KnownTag): JsonModule {
  return ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.1"].includes(tag)
    ? import("./schemas/tracing-config.v1.3.1.json", { with: { type: "json" } })
    : import("./schemas/tracing-config.v25.4.0+.json", { with: { type: "json" } });
}

/** One schema violation: where in the config (JSON pointer segments) and what is wrong. */
export type SchemaIssue = { path: (string | number)[]; message: string; /** The key Kratos does not allow here, if that is the issue. */ key?: string };
export type KratosValidator = { tag: KnownTag; validate(config: unknown): SchemaIssue[] };

/**
 * `full`: a whole kratos.yml, compiled at run time. `hooks`: only what generate writes
 * (selfservice.flows, clients, with the definitions they use), precompiled: every generate pays it.
 */
export type SchemaScope = "full" | "hooks";

const cache = new Map<string, Promise<KratosValidator>>();

/** The version whose schema applies to `v`: the newest supported one not newer than it. */
export function schemaTag(v: Version): KnownTag {
  return rulesTag(v) ?? "v1.0.0";
}

/** A validator for Kratos's config at `tag`, as Kratos validates it (draft-07, formats asserted). */
export function kratosValidator(tag: KnownTag, scope: SchemaScope = "full"): Promise<KratosValidator> {
  let v = cache.get(`${tag} ${scope}`);
  if (!v) {
    v = build(tag, scope);
    cache.set(`${tag} ${scope}`, v);
  }
  return v;
}

async function build(tag: KnownTag, scope: SchemaScope): Promise<KratosValidator> {
  const check = scope === "hooks" ? (await HOOKS_VALIDATORS[tag]()).default : await compileFull(tag);
  return {
    tag,
    validate(config) {
      if (check(config)) return [];
      const seen = new Set<string>();
      const out: SchemaIssue[] = [];
      for (const e of check.errors ?? []) {
        const path = e.instancePath.split("/").slice(1).map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~")).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
        const extra = e.keyword === "additionalProperties" ? `: '${(e.params as { additionalProperty: string }).additionalProperty}'` : e.keyword === "enum" ? `: ${(e.params as { allowedValues: unknown[] }).allowedValues.map((x) => JSON.stringify(x)).join(", ")}` : "";
        const message = `${e.message ?? e.keyword}${extra}`;
        const key = `${path.join(".")}|${message}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ path, message, ...(e.keyword === "additionalProperties" ? { key: (e.params as { additionalProperty: string }).additionalProperty } : {}) });
      }
      return out;
    },
  };
}

/** The keys every Kratos config needs; generated lists are validated on top of these (Kratos loads them over the user's file). */
export const MINIMAL_KRATOS_CONFIG = {
  dsn: "memory",
  identity: { default_schema_id: "default", schemas: [{ id: "default", url: "file:///etc/config/kratos/identity.schema.json" }] },
  selfservice: { default_browser_return_url: "http://127.0.0.1:4455/" },
};

/** Kratos's merge of -c files: maps merge key by key, arrays and scalars of the later file replace. */
export function mergeKratosConfigs(a: unknown, b: unknown): unknown {
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
    for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = k in out ? mergeKratosConfigs(out[k], v) : v;
    return out;
  }
  return b;
}

/** The whole schema, compiled at run time (check --kratos-config only). */
async function compileFull(tag: KnownTag): Promise<ValidateFn> {
  const [{ default: Ajv }, { default: addFormats }, schema, tracing] = await Promise.all([import("ajv"), import("ajv-formats"), SCHEMAS[tag](), tracingSchema(tag)]);
  // Some of Kratos's patterns are not valid regular expressions with the `u` flag.
  const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
  addFormats(ajv);
  ajv.addFormat("uri", kratosUriFormat);
  ajv.addSchema(tracing.default as object, "ory://tracing-config");
  return ajv.compile(schema.default as object) as ValidateFn;
}
