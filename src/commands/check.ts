// `kratos-hooks check`: validate hooks.yaml (model + Kratos rules) and print every error and
// warning with file:line:column. Exit 1 on errors, 0 otherwise (warnings alone do not fail).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import process from "node:process";
import { ConfigError, ConfigErrors, UsageError } from "../errors.ts";
import { missingEnv } from "../config/env-needs.ts";
import { byPosition } from "../config/source-map.ts";
import { loadConfig } from "../config/load.ts";
import type { ResolvedConfig } from "../config/types.ts";
import { defineCommand, configFlag, configPath } from "./command.ts";

/** `file:line:col: warning: path: message` then the hint, like a compiler's warning. */
export function formatWarning(w: ConfigError): string {
  const where = w.at ? `${w.at.file}:${w.at.line}:${w.at.col}: ` : "";
  return `${where}warning: ${w.path ? `${w.path}: ` : ""}${w.message}${w.hint ? `\n  hint: ${w.hint}` : ""}`;
}

export const command = defineCommand({
  name: "check",
  summary: "Validate hooks.yaml and print every error with file:line:column.",
  usage: "kratos-hooks check [--config <file>] [--kratos-config <kratos.yml>] [--quiet]",
  flags: {
    config: configFlag("to check"),
    "kratos-config": { type: "string", placeholder: "<kratos.yml>", description: "Also validate this Kratos config, with the generated hook lists in it, against Kratos's schema." },
    quiet: { type: "boolean", short: "q", description: "Print errors only, no warnings or summary." },
  },
  details:
    "Checks the file against the hooks.yaml model and against what the target Kratos version\ncan do (hook lists, ctx per hook point, version-gated keys, body size), and what a sign-up form could\nsteer: a body never reads Kratos's session cookie or token, and a value from traits,\ntransient_payload, request headers or cookies is never an http url's scheme, host or port, a\nsecond email recipient or part of a sh -c script (docs/security.md). Relative paths inside\nhooks.yaml resolve against its directory; a relative sqlite: store against the current directory.\nOn success it prints which key each hook dedupes Kratos's retries on.\n\nWith --kratos-config, the Kratos config as 'generate --into' would leave it is validated against\nKratos's own config schema for kratos.version (a CI gate before Kratos boots), and every hook URL\nthe private-IP guard would refuse is reported (docs/kratos.md#private-ip-guard). A required key\nthat an environment variable supplies (DSN, ...) counts as present, as it does for Kratos.",
  async run({ flags }) {
    const file = configPath(flags);
    const quiet = flags.quiet === true;
    try {
      const config = loadConfig(file);
      const kratosFile = flags["kratos-config"] as string | undefined;
      if (kratosFile !== undefined) {
        const errors = await kratosConfigErrorsOf(config, kratosFile);
        for (const e of errors) process.stderr.write(`${e.format()}\n`);
        if (errors.length > 0) {
          if (!quiet) process.stderr.write(`${kratosFile}: ${errors.length} error${errors.length === 1 ? "" : "s"}\n`);
          return 1;
        }
      }
      // The deployment's env, not the file: CI runs check without secrets, so these are warnings here
      // and errors for serve, which refuses to start without them.
      const unset = missingEnv(config.envNeeds ?? [], process.env).map((e) => new ConfigError(e.message, e.at, e.path, `${e.hint}; serve refuses to start without it`));
      const warnings = [...(config.warnings ?? []), ...unset].sort(byPosition);
      if (!quiet) {
        for (const w of warnings) process.stderr.write(`${formatWarning(w)}\n`);
        const n = config.hooks.length;
        process.stdout.write(`${file}: ok, ${n} hook${n === 1 ? "" : "s"} for Kratos ${config.kratos.version.text}${warnings.length ? `, ${warnings.length} warning${warnings.length === 1 ? "" : "s"}` : ""}\n`);
        if (kratosFile !== undefined) process.stdout.write(`${kratosFile}: ok with the generated hook lists, against Kratos's ${config.kratos.version.text} config schema\n`);
        // Which delivery counts as a repeat of another is the one thing here nobody can see in the
        // generated files, so say it (src/config/dedupe-plan.ts).
        for (const h of config.hooks) process.stdout.write(`  ${h.name}: dedupes on ${h.dedupe.description ?? "the hash of the body"}\n`);
      }
      return 0;
    } catch (err) {
      if (!(err instanceof ConfigErrors)) throw err;
      for (const e of err.errors) process.stderr.write(`${e.format()}\n`);
      if (!quiet) process.stderr.write(`${file}: ${err.errors.length} error${err.errors.length === 1 ? "" : "s"}\n`);
      return 1;
    }
  },
});

/** The kratos.yml as generate --into would leave it, checked against Kratos's schema. */
async function kratosConfigErrorsOf(config: ResolvedConfig, kratosFile: string): Promise<ConfigError[]> {
  let original: string;
  try {
    original = readFileSync(kratosFile, "utf8");
  } catch {
    throw new UsageError(`cannot read --kratos-config file ${kratosFile}`);
  }
  // Loaded here, not at the top: plain `check` stays as light as before.
  const [{ generateFiles }, { kratosConfigErrors }] = await Promise.all([import("./generate.ts"), import("../kratos/validate-output.ts")]);
  const { files } = generateFiles(config, { out: ".", into: kratosFile });
  return kratosConfigErrors(config, kratosFile, original, files.get(resolve(kratosFile))!, process.env);
}
