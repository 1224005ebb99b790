// Shared helpers for the generate tests: hand-made ResolvedConfig objects, Kratos's own config
// schema per tag (the copies embedded in src/kratos/schemas/), and the real jsonnet CLI.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import Ajv, { type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { parse as parseYaml } from "yaml";
import type { ResolvedConfig, ResolvedField, ResolvedHook } from "../../src/config/types.ts";
import { parseVersion } from "../../src/kratos/versions.ts";
import { kratosUriFormat } from "../../src/kratos/uri-format.ts";
import { MINIMAL_KRATOS_CONFIG, mergeKratosConfigs } from "../../src/kratos/kratos-schema.ts";
import type { Point } from "../../src/kratos/hook-points.ts";
import { evalBody, findJsonnet, type JsonnetResult } from "../../src/jsonnet-cli.ts";

export const REPO = resolve(import.meta.dir, "../..");
export const FIXTURES = join(REPO, "test/fixtures/kratos");

/** Kratos's config schemas as the binary embeds them. */
export const SCHEMA_DIR = join(REPO, "src/kratos/schemas");

/**
 * The Kratos spec data the schemas were copied from, when it lies beside the repository
 * ($KRATOS_SPEC_DIR, else shared/kratos above it); undefined on a plain clone. Only the test that
 * compares the embedded copies with it needs it.
 */
export function specDir(): string | undefined {
  const env = process.env.KRATOS_SPEC_DIR;
  if (env) return existsSync(join(env, "config.schema.HEAD.json")) ? env : undefined;
  for (let dir = REPO; ; dir = dirname(dir)) {
    const candidate = join(dir, "shared/kratos");
    if (existsSync(join(candidate, "config.schema.HEAD.json"))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

const validators = new Map<string, ValidateFunction>();

/** Kratos's config JSON schema at a tag, as Kratos validates it (draft-07, ory://tracing-config registered). */
export function kratosSchema(tag: string): ValidateFunction {
  let v = validators.get(tag);
  if (v) return v;
  const dir = SCHEMA_DIR;
  // Some of Kratos's patterns are not valid with the `u` flag (CONTRACT, companion data note).
  const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
  addFormats(ajv);
  // Kratos asserts format uri with Go's url.Parse, not ajv-formats' regex (src/kratos/uri-format.ts).
  ajv.addFormat("uri", kratosUriFormat);
  const tracing = JSON.parse(readFileSync(join(dir, ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.1"].includes(tag) ? "tracing-config.v1.3.1.json" : "tracing-config.v25.4.0+.json"), "utf8"));
  ajv.addSchema(tracing, "ory://tracing-config");
  v = ajv.compile(JSON.parse(readFileSync(join(dir, `config.schema.${tag}.json`), "utf8")));
  validators.set(tag, v);
  return v;
}

/** Kratos's merge of -c files (maps merge, arrays are replaced wholesale), as generate relies on it. */
export { mergeKratosConfigs as mergeConfigs };

/** Errors of Kratos's schema for a generated YAML text merged over a minimal base config; [] when valid. */
export function schemaErrors(tag: string, yamlText: string): string[] {
  const validate = kratosSchema(tag);
  const ok = validate(mergeKratosConfigs(MINIMAL_KRATOS_CONFIG, parseYaml(yamlText)));
  return ok ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}

const LOC = { file: "/virtual/hooks.yaml", line: 1, col: 1 };

export function field(name: string, from: string, extra: Partial<ResolvedField> = {}): ResolvedField {
  return { name, from: from.split("."), type: "any", optional: false, ...extra };
}

export function hook(name: string, point: Point, extra: Partial<ResolvedHook> = {}): ResolvedHook {
  return {
    name,
    point,
    methods: [],
    mode: "notify",
    wait: false,
    path: `/hooks/${name}`,
    url: `http://127.0.0.1:4459/hooks/${name}`,
    routePath: `/hooks/${name}`,
    method: "POST",
    headers: {},
    fields: [field("identity_id", "identity.id")],
    dedupe: { windowMs: 86_400_000 },
    rules: [],
    enrich: [],
    actions: [],
    loc: LOC,
    ...extra,
  };
}

export function config(version: string, hooks: ResolvedHook[], kratos: Partial<ResolvedConfig["kratos"]> = {}, dir = "/virtual"): ResolvedConfig {
  return {
    file: join(dir, "hooks.yaml"),
    dir,
    kratos: { version: parseVersion(version)!, body: { kind: "file", dir: "/etc/config/kratos/hooks" }, builtinHooks: {}, ...kratos },
    receiverUrl: "http://127.0.0.1:4459",
    serve: {
      listen: { host: "127.0.0.1", port: 4459 },
      store: "sqlite:./var/kratos-hooks.db",
      synchronous: "full",
      groupCommitWaitMs: 0,
      bodyLimitBytes: 65536,
      dedupeWindowMs: 86_400_000,
      leaseMs: 30_000,
      pollMs: 1000,
      shutdownTimeoutMs: 10_000,
      rateLimits: {},
      retention: { doneMs: 7 * 86_400_000, deadMs: 30 * 86_400_000 },
    },
    hooks,
  };
}

/** Evaluates a body text against a ctx value with the real jsonnet CLI, as Kratos does (TLA `ctx`). */
export function evaluate(body: string, ctx: unknown): JsonnetResult {
  const dir = mkdtempSync(join(tmpdir(), "kh-jsonnet-"));
  try {
    writeFileSync(join(dir, "body.jsonnet"), body);
    writeFileSync(join(dir, "ctx.json"), JSON.stringify(ctx));
    return evalBody(join(dir, "body.jsonnet"), join(dir, "ctx.json"), findJsonnet());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function ctxFixture(name: string): Record<string, any> {
  return JSON.parse(readFileSync(join(FIXTURES, "ctx", `${name}.json`), "utf8"));
}

export function tempDir(prefix = "kh-gen-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
