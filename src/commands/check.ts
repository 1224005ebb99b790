// `kratos-hooks check`: validate hooks.yaml (model + Kratos rules) and print every error and
// warning with file:line:column. Exit 1 on errors, 0 otherwise (warnings alone do not fail).
import { ConfigError, ConfigErrors } from "../errors.ts";
import { missingEnv } from "../config/env-needs.ts";
import { byPosition } from "../config/source-map.ts";
import { loadConfig } from "../config/load.ts";
import { defineCommand, configFlag, configPath } from "./command.ts";

/** `file:line:col: warning: path: message` then the hint, like a compiler's warning. */
export function formatWarning(w: ConfigError): string {
  const where = w.at ? `${w.at.file}:${w.at.line}:${w.at.col}: ` : "";
  return `${where}warning: ${w.path ? `${w.path}: ` : ""}${w.message}${w.hint ? `\n  hint: ${w.hint}` : ""}`;
}

export const command = defineCommand({
  name: "check",
  summary: "Validate hooks.yaml and print every error with file:line:column.",
  usage: "kratos-hooks check [--config <file>] [--quiet]",
  flags: {
    config: configFlag("to check"),
    quiet: { type: "boolean", short: "q", description: "Print errors only, no warnings or summary." },
  },
  details: "Checks the file against the hooks.yaml model and against what the target Kratos version\ncan do (hook lists, ctx per hook point, version-gated keys, body size). Relative paths inside\nhooks.yaml resolve against its directory; a relative sqlite: store against the current directory.\nOn success it prints which key each hook dedupes Kratos's retries on.",
  run({ flags }) {
    const file = configPath(flags);
    const quiet = flags.quiet === true;
    try {
      const config = loadConfig(file);
      // The deployment's env, not the file: CI runs check without secrets, so these are warnings here
      // and errors for serve, which refuses to start without them.
      const unset = missingEnv(config.envNeeds ?? [], process.env).map((e) => new ConfigError(e.message, e.at, e.path, `${e.hint}; serve refuses to start without it`));
      const warnings = [...(config.warnings ?? []), ...unset].sort(byPosition);
      if (!quiet) {
        for (const w of warnings) process.stderr.write(`${formatWarning(w)}\n`);
        const n = config.hooks.length;
        process.stdout.write(`${file}: ok, ${n} hook${n === 1 ? "" : "s"} for Kratos ${config.kratos.version.text}${warnings.length ? `, ${warnings.length} warning${warnings.length === 1 ? "" : "s"}` : ""}\n`);
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
