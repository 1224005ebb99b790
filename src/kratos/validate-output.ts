// Kratos's own schema, applied where users run kratos-hooks: generate validates what it is about to
// write, and `check --kratos-config` validates a whole kratos.yml with the generated lists in it.
import { LineCounter, parseDocument } from "yaml";
import { ConfigError, ConfigErrors } from "../errors.ts";
import type { ResolvedConfig } from "../config/types.ts";
import { formatPath, SourceMap } from "../config/source-map.ts";
import { configTree, type ListEntry } from "./config-emit.ts";
import { kratosValidator, MINIMAL_KRATOS_CONFIG, mergeKratosConfigs, schemaTag, type SchemaIssue } from "./kratos-schema.ts";
import { privateIpGuard, uncoveredUrls } from "./private-ip.ts";

/** Throws when the lists generate built do not validate against the target version's schema. */
export async function validateGenerated(config: ResolvedConfig, lists: ReadonlyMap<string, readonly ListEntry[]>): Promise<void> {
  const tag = schemaTag(config.kratos.version);
  const validator = await kratosValidator(tag, "hooks");
  const issues = validator.validate(mergeKratosConfigs(MINIMAL_KRATOS_CONFIG, configTree(config, lists)));
  if (issues.length === 0) return;
  throw new ConfigErrors(
    issues.map(
      (i) =>
        new ConfigError(
          `the generated config does not validate against Kratos ${tag}'s config schema: ${i.message}`,
          undefined,
          formatPath(i.path),
          "nothing was written; this is a kratos-hooks bug if check passes, please report it with your hooks.yaml (docs/kratos.md#web-hook-config)",
        ),
    ),
  );
}

/**
 * Errors of a kratos.yml merged with the generated lists (`merged`, the text generate --into would
 * write), each at the kratos.yml line of the nearest key the user wrote. A required key that an
 * environment variable supplies is not an error: Kratos validates after applying env overrides.
 */
export async function kratosConfigErrors(config: ResolvedConfig, file: string, original: string, merged: string, env: Record<string, string | undefined>): Promise<ConfigError[]> {
  const lines = new LineCounter();
  const doc = parseDocument(original, { lineCounter: lines });
  const map = new SourceMap(file, doc, lines);
  const value = parseDocument(merged).toJSON() as unknown;
  const tag = schemaTag(config.kratos.version);
  const validator = await kratosValidator(tag, "full");
  const errors: ConfigError[] = validator
    .validate(value)
    .filter((i) => !suppliedByEnv(i, env))
    .map((i) => new ConfigError(`Kratos ${tag} rejects this: ${i.message}`, map.at(i.key === undefined ? i.path : [...i.path, i.key], "key"), formatPath(i.path) || "(top level)", "Kratos would refuse to start with this config (docs/kratos.md#web-hook-config)"));
  // The guard as the user's own file sets it: with `-c kratos.yml -c kratos-hooks.kratos.yml` nothing
  // adds the exceptions for them (generate --into does, and its result then passes).
  const guard = privateIpGuard(doc.toJSON());
  if (guard.on) {
    for (const url of uncoveredUrls(config, guard.exceptions)) {
      errors.push(
        new ConfigError(
          `clients.http.disallow_private_ip_ranges is on and ${url} is not in private_ip_exception_urls: Kratos refuses it if the receiver has a private address`,
          map.at(["clients", "http", "disallow_private_ip_ranges"], "key"),
          "clients.http.private_ip_exception_urls",
          `add it to private_ip_exception_urls, or run 'kratos-hooks generate --into ${file}', which adds each hook URL exactly (docs/kratos.md#private-ip-guard)`,
        ),
      );
    }
  }
  return errors;
}

/** `must have required property 'dsn'` at a path whose env var (DSN, SERVE_PUBLIC_BASE_URL, ...) is set. */
function suppliedByEnv(issue: SchemaIssue, env: Record<string, string | undefined>): boolean {
  const m = /^must have required property '([^']+)'$/.exec(issue.message);
  if (!m) return false;
  const name = [...issue.path, m[1]!].map(String).join("_").toUpperCase();
  return env[name] !== undefined && env[name] !== "";
}
