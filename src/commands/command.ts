// One `defineCommand` per subcommand: its flags, its help text and its run function live in one
// file under src/commands/. Flags are parsed with node:util parseArgs, which Bun and Deno share.
import { parseArgs } from "node:util";
import { UsageError } from "../errors.ts";
import { closest } from "../config/schema-errors.ts";

export type FlagSpec = {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** One line for --help. */
  description: string;
  /** Shown in --help, e.g. <file>. */
  placeholder?: string;
};

export type CommandDef<F extends Record<string, FlagSpec> = Record<string, FlagSpec>> = {
  name: string;
  summary: string;
  usage: string;
  flags: F;
  /** Extra help text after the flags. */
  details?: string;
  run(args: { flags: Record<keyof F, unknown>; positionals: string[] }): Promise<number> | number;
};

export function defineCommand<F extends Record<string, FlagSpec>>(def: CommandDef<F>): CommandDef<F> {
  return def;
}

export function parseCommandArgs(def: CommandDef, argv: string[]) {
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = { help: { type: "boolean", short: "h" } };
  // node:util parseArgs rejects `short: undefined`, so only set the keys a flag has.
  for (const [name, spec] of Object.entries(def.flags)) {
    options[name] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) };
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { flags: values as Record<string, unknown>, positionals };
  } catch (err) {
    throw argsError(def, err as Error & { code?: string }, argv);
  }
}

/** parseArgs's errors in our words: the option as typed, and the nearest real one. */
function argsError(def: CommandDef, err: Error & { code?: string }, argv: string[]): UsageError {
  const help = `see 'kratos-hooks ${def.name} --help'`;
  const names = ["help", ...Object.keys(def.flags)];
  if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const typed = /'(-{1,2}[^'\s]+)'/.exec(err.message)?.[1] ?? argv.find((a) => a.startsWith("-")) ?? "";
    const bare = typed.replace(/^-+/, "").replace(/=.*$/, "");
    const near = closest(bare, names);
    return new UsageError(`${def.name}: unknown option ${typed}`, `${near ? `did you mean --${near}? ` : ""}${help}`);
  }
  if (err.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const flag = /--([a-z-]+)/.exec(err.message)?.[1];
    const spec = flag ? def.flags[flag] : undefined;
    if (spec?.type === "string") return new UsageError(`${def.name}: --${flag} needs a value`, `--${flag} ${spec.placeholder ?? "<value>"}; ${help}`);
    if (spec?.type === "boolean") return new UsageError(`${def.name}: --${flag} takes no value`, help);
  }
  return new UsageError(`${def.name}: ${err.message}`, help);
}

export function commandHelp(def: CommandDef): string {
  const rows = Object.entries(def.flags).map(([name, spec]) => {
    const left = `${spec.short ? `-${spec.short}, ` : "    "}--${name}${spec.type === "string" ? ` ${spec.placeholder ?? "<value>"}` : ""}`;
    return `  ${left.padEnd(34)} ${spec.description}`;
  });
  rows.push(`  ${"-h, --help".padEnd(34)} Show this help.`);
  return [`kratos-hooks ${def.name}: ${def.summary}`, "", `Usage: ${def.usage}`, "", "Options:", ...rows, ...(def.details ? ["", def.details.trimEnd()] : [])].join("\n") + "\n";
}

/** Every command that reads hooks.yaml takes it from --config, default config/hooks.yaml. */
export const DEFAULT_CONFIG_PATH = "config/hooks.yaml";

export function configFlag(what: string): FlagSpec {
  return { type: "string", short: "c", placeholder: "<file>", description: `hooks.yaml ${what} (default: ${DEFAULT_CONFIG_PATH}).` };
}

export function configPath(flags: Record<string, unknown>): string {
  return (flags.config as string | undefined) ?? DEFAULT_CONFIG_PATH;
}
