#!/usr/bin/env bun
// Entry point: argv → one of src/commands/, under Bun or Deno (docs/deno.md). Commands load lazily so that `generate` and `render`
// never pull in bun:sqlite or Elysia (they must also run under Deno), and so does everything else
// beyond package.json: `--version` and `--help` load nothing more (node:util alone, for the
// argument parser, cost a compiled `--version` about 1.5 ms), and they print with console.log:
// touching process.stdout sets up Node's stream classes, about 4 ms (bench/results/cold-start.md).
import type { CommandDef } from "./commands/command.ts";
import { RUNTIME } from "./runtime.ts";
import pkg from "../package.json" with { type: "json" };

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ command: CommandDef }> }> = {
  generate: { summary: "Write the Kratos hook config and Jsonnet bodies from hooks.yaml (or --check them).", load: () => import("./commands/generate.ts") },
  render: { summary: "Print the body Kratos would send for a hook, evaluated by the jsonnet CLI.", load: () => import("./commands/render.ts") },
  check: { summary: "Validate hooks.yaml and print every error with file:line:column.", load: () => import("./commands/check.ts") },
  schema: { summary: "Print (or write) the JSON Schema of hooks.yaml.", load: () => import("./commands/schema.ts") },
  serve: { summary: "Serve the webhooks: auth, validation, dedupe, durable outbox, delivery workers.", load: () => import("./commands/serve.ts") },
  outbox: { summary: "Inspect and manage outbox jobs: list, show, retry, purge, stats.", load: () => import("./commands/outbox.ts") },
  migrate: { summary: "Apply the store's schema migrations and exit.", load: () => import("./commands/migrate.ts") },
  sink: { summary: "Development catcher: accept and print what actions deliver over HTTP and SMTP.", load: () => import("./commands/sink.ts") },
};

function mainHelp(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return [
    `kratos-hooks ${pkg.version}: declarative webhooks for Ory Kratos.`,
    "",
    "Usage: kratos-hooks <command> [options]",
    "",
    "Commands:",
    ...rows,
    "",
    "Options:",
    "  -h, --help     Show help (also: kratos-hooks <command> --help).",
    "  -v, --version  Print the version.",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "-h" || name === "--help" || name === "help") {
    console.log(mainHelp());
    return name ? 0 : 2;
  }
  if (name === "-v" || name === "--version" || name === "version") {
    console.log(`kratos-hooks ${pkg.version}`);
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    const { closest } = await import("./config/schema-errors.ts");
    const near = closest(name, Object.keys(COMMANDS));
    process.stderr.write(`kratos-hooks: unknown command '${name}'\n  hint: ${near ? `did you mean '${near}'? ` : ""}run 'kratos-hooks --help' for the list\n`);
    return 2;
  }
  const [{ ConfigError, ConfigErrors, UsageError }, { commandHelp, parseCommandArgs }] = await Promise.all([import("./errors.ts"), import("./commands/command.ts")]);
  try {
    const { command } = await entry.load();
    const args = parseCommandArgs(command, rest);
    if (args.flags.help) {
      process.stdout.write(commandHelp(command));
      return 0;
    }
    return await command.run(args as never);
  } catch (err) {
    if (err instanceof ConfigErrors || err instanceof ConfigError) {
      process.stderr.write(`${err instanceof ConfigError ? err.format() : err.message}\n`);
      return 1;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`kratos-hooks: ${err.message}\n${err.hint ? `  hint: ${err.hint}\n` : ""}`);
      return 2;
    }
    // Deno without a permission the command needs (NotCapable; PermissionDenied before Deno 2).
    const name = (err as Error | undefined)?.name;
    if (RUNTIME === "deno" && (name === "NotCapable" || name === "PermissionDenied")) {
      process.stderr.write(`kratos-hooks: ${(err as Error).message}\n  hint: run it as 'deno run -A src/cli.ts ...', or grant the permissions docs/deno.md lists\n`);
      return 2;
    }
    throw err;
  }
}

if (import.meta.main) {
  // No top-level await: --bytecode needed a CommonJS-shaped entry before the build was split into ESM chunks; keep the entry loadable either way.
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
