// `kratos-hooks migrate`: apply the store's schema migrations and exit, for deployments that run
// migrations as a separate step (serve also migrates on start; both are safe to run at once).
import { loadConfig } from "../config/load.ts";
import { UsageError } from "../errors.ts";
import { misconfigured, openStore, redactStoreUrl, type OpenStoreOptions } from "../outbox/open-store.ts";
import { StoreUnavailableError } from "../outbox/errors.ts";
import { defineCommand } from "./command.ts";

export const command = defineCommand({
  name: "migrate",
  summary: "Apply the store's schema migrations and exit.",
  usage: "kratos-hooks migrate (--store <url> | --config <hooks.yaml>) [--schema <name>]",
  flags: {
    store: { type: "string", short: "s", placeholder: "<url>", description: "sqlite:<path> or postgres://user@host:5432/db[?schema=name] (Postgres on Bun only)." },
    config: { type: "string", short: "c", placeholder: "<file>", description: "Read the store (serve.store, KRATOS_HOOKS_STORE) from hooks.yaml." },
    schema: { type: "string", placeholder: "<name>", description: "Postgres schema for the tables (default: ?schema= in the URL, else kratos_hooks)." },
  },
  details:
    "Migrations are versioned (table schema_migrations) and applied in one transaction: under\n" +
    "BEGIN IMMEDIATE on SQLite, under pg_advisory_xact_lock on Postgres, so several instances\n" +
    "starting together do not race. Running it again when up to date changes nothing.\n" +
    "Exit 0 when the store is up to date, 1 when the database cannot be reached, 2 when a SQLite\n" +
    "path cannot be used (its directory cannot be created or written, or the file is not SQLite).",
  async run({ flags }) {
    const storeFlag = flags.store as string | undefined;
    const configFlag = flags.config as string | undefined;
    if ((storeFlag === undefined) === (configFlag === undefined)) {
      throw new UsageError("migrate: give exactly one of --store <url> or --config <hooks.yaml>", "see 'kratos-hooks migrate --help'");
    }
    const opts: OpenStoreOptions = { migrate: false };
    let url = storeFlag;
    if (configFlag !== undefined) {
      const config = loadConfig(configFlag);
      url = config.serve.store;
      opts.synchronous = config.serve.synchronous;
    }
    if (flags.schema !== undefined) opts.schema = flags.schema as string;
    const shown = redactStoreUrl(url!);
    try {
      const store = await openStore(url!, opts);
      try {
        await store.migrate();
      } finally {
        await store.close();
      }
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw misconfigured(url!, err) ?? err;
      process.stderr.write(`kratos-hooks: cannot migrate ${shown}: ${err.message}\n  hint: is the database running and reachable?\n`);
      return 1;
    }
    process.stdout.write(`${shown}: schema up to date\n`);
    return 0;
  },
});
