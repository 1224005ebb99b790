#!/usr/bin/env bun
// Entry point: argv → one of src/commands/, under Bun or Deno (docs/deno.md). Commands load lazily
// so that `generate` and `render` never pull in the store or Elysia.
import { ConfigError, ConfigErrors, UsageError } from "./errors.ts";
import { commandHelp, parseCommandArgs, type CommandDef } from "./commands/command.ts";
import { closest } from "./config/schema-errors.ts";
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
    "",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "-h" || name === "--help" || name === "help") {
    process.stdout.write(mainHelp());
    return name ? 0 : 2;
  }
  if (name === "-v" || name === "--version" || name === "version") {
    process.stdout.write(`kratos-hooks ${pkg.version}\n`);
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    const near = closest(name, Object.keys(COMMANDS));
    process.stderr.write(`kratos-hooks: unknown command '${name}'\n  hint: ${near ? `did you mean '${near}'? ` : ""}run 'kratos-hooks --help' for the list\n`);
    return 2;
  }
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
  // No top-level await: the compiled binary is built with --bytecode, which needs a CommonJS-shaped entry.
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
