// `kratos-hooks outbox`: look into the outbox and act on it: list, show, retry, purge, stats. It
// opens the same store `serve` uses (serve.store of hooks.yaml, or --store), so it works while
// serve runs: SQLite takes one writer at a time (busy_timeout), Postgres any number. It never
// creates a SQLite store: a wrong path or working directory would otherwise show a new, empty one.
import { loadConfig } from "../config/load.ts";
import { durationMs } from "../config/units.ts";
import { UsageError } from "../errors.ts";
import { StoreUnavailableError } from "../outbox/errors.ts";
import { openStore, redactStoreUrl, type OpenStoreOptions } from "../outbox/open-store.ts";
import { knownSecrets, Redactor, storePassword } from "../secrets.ts";
import type { Attempt, Job, JobFilter, JobState, Store } from "../outbox/store.ts";
import { traceIdOf } from "../trace-context.ts";
import { defineCommand, configFlag, configPath } from "./command.ts";

const STATES: JobState[] = ["pending", "running", "done", "dead"];
const SUBCOMMANDS = ["list", "show", "retry", "purge", "stats"] as const;

type Flags = {
  config?: string;
  store?: string;
  state?: string;
  hook?: string;
  action?: string;
  limit?: string;
  before?: string;
  "trigger-id"?: string;
  "identity-id"?: string;
  since?: string;
  until?: string;
  json?: boolean;
  "all-dead"?: boolean;
  "older-than"?: string;
};

export const command = defineCommand({
  name: "outbox",
  summary: "Inspect and manage outbox jobs: list, show, retry, purge, stats.",
  usage: [
    "kratos-hooks outbox list [--state pending|running|done|dead] [--hook <h>] [--action <a>] [--trigger-id <id>]",
    "         [--identity-id <id>] [--since <time>] [--until <time>] [--limit <n>] [--before <job id>] [--json]",
    "       kratos-hooks outbox show <id> [--json]",
    "       kratos-hooks outbox retry <id>... | --all-dead [--hook <h>] [--action <a>]",
    "       kratos-hooks outbox purge [--state done|dead] [--older-than <duration>] [--hook <h>] [--action <a>]",
    "       kratos-hooks outbox stats [--json]",
  ].join("\n"),
  flags: {
    config: configFlag("whose serve.store to open"),
    store: { type: "string", placeholder: "<url>", description: "Store URL instead of --config: sqlite:<path> or postgres://... (Postgres on Bun only)." },
    state: { type: "string", placeholder: "<state>", description: "Only jobs in this state (list: any; purge: done or dead, default done)." },
    hook: { type: "string", placeholder: "<hook>", description: "Only jobs of this hook." },
    action: { type: "string", placeholder: "<action>", description: "Only jobs of this action id (<hook>.<name>)." },
    "trigger-id": { type: "string", placeholder: "<id>", description: "list: only the jobs of the webhook with this Ory-Webhook-Trigger-Id." },
    "identity-id": { type: "string", placeholder: "<id>", description: "list: only jobs about this identity (hooks whose body has identity.id)." },
    since: { type: "string", placeholder: "<time>", description: "list: only jobs created at or after this: an ISO time (2026-01-02T15:04:05Z) or an age (30m, 12h, 7d)." },
    until: { type: "string", placeholder: "<time>", description: "list: only jobs created before this (same forms as --since)." },
    limit: { type: "string", placeholder: "<n>", description: "list: at most n jobs, newest first (default 50)." },
    before: { type: "string", placeholder: "<job id>", description: "list: the next page: jobs older than this id (the last id of the previous page)." },
    json: { type: "boolean", description: "Print JSON (one array for list, one object for show, with its attempts, and stats)." },
    "all-dead": { type: "boolean", description: "retry: every dead job (narrow with --hook/--action)." },
    "older-than": { type: "string", placeholder: "<duration>", description: "purge: only jobs finished longer ago than this, e.g. 7d, 12h." },
  },
  details: [
    "Subcommands:",
    "  list    Jobs newest first, with state, attempts, next run and last error. A full page",
    "          ends with the --before value that shows the next one.",
    "  show    One job in full: its attempts (time, duration, outcome, HTTP status or SMTP",
    "          code, error excerpt) and its payload (the accepted webhook; never an env value).",
    "  retry   Puts dead (or named) jobs back to pending, due now, with a fresh attempt budget.",
    "          Their attempt history is kept. A running serve picks them up within its poll",
    "          interval.",
    "  purge   Deletes finished jobs: done by default, dead letters only with --state dead.",
    "  stats   Jobs per state and the age of the oldest due job.",
    "",
    "A SQLite store must exist already (serve and migrate create it); a relative sqlite: path",
    "resolves against the working directory. An existing store of an older version is migrated.",
    "A store that cannot be reached exits 1; a wrong store path exits 2, like a wrong argument.",
  ].join("\n"),
  async run({ flags: rawFlags, positionals }) {
    const flags = rawFlags as Flags;
    const [sub, ...args] = positionals;
    if (!sub || !(SUBCOMMANDS as readonly string[]).includes(sub)) {
      throw new UsageError(sub ? `outbox: unknown subcommand '${sub}'` : "outbox: a subcommand is required", `one of: ${SUBCOMMANDS.join(", ")}; see 'kratos-hooks outbox --help'`);
    }
    const filter = commonFilter(flags);
    // Check the arguments before touching the store.
    const { url, opts, redactor } = storeFrom(flags);
    const plan = planFor(sub as (typeof SUBCOMMANDS)[number], args, flags, filter, redactor);
    try {
      const store = await openStore(url, opts);
      try {
        return await plan(store);
      } finally {
        await store.close();
      }
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      // Never the URL as given: a postgres URL may carry a password.
      const hint = url.startsWith("sqlite:") ? "another process may hold the write lock; try again" : "is the database running and reachable?";
      process.stderr.write(`kratos-hooks: outbox ${sub}: cannot use ${redactStoreUrl(url)}: ${err.message}\n  hint: ${hint}\n`);
      return 1;
    }
  },
});

type Plan = (store: Store) => Promise<number>;

function planFor(sub: (typeof SUBCOMMANDS)[number], args: string[], flags: Flags, filter: JobFilter, redactor: Redactor): Plan {
  switch (sub) {
    case "list": {
      noArgs("list", args);
      const limit = flags.limit !== undefined ? positiveInt(flags.limit, "--limit") : 50;
      const now = Date.now();
      const list: JobFilter = { ...filter, limit };
      if (flags["trigger-id"] !== undefined) list.triggerId = flags["trigger-id"];
      if (flags["identity-id"] !== undefined) list.identityId = flags["identity-id"];
      if (flags.since !== undefined) list.createdFrom = pointInTime(flags.since, "--since", now);
      if (flags.until !== undefined) list.createdBefore = pointInTime(flags.until, "--until", now);
      if (flags.before !== undefined) list.beforeId = flags.before;
      return async (store) => {
        // Redacted before the table cuts the last error short.
        const jobs = (await store.listJobs(list)).map((j) => redactJob(j, redactor));
        if (flags.json) process.stdout.write(`${JSON.stringify(jobs.map(jobJson), null, 2)}\n`);
        else {
          process.stdout.write(jobTable(jobs));
          if (jobs.length === limit) process.stdout.write(`more: --before ${jobs.at(-1)!.id}\n`);
        }
        return 0;
      };
    }
    case "show": {
      if (args.length !== 1) throw new UsageError("outbox show: expects exactly one job id", "kratos-hooks outbox show <id>");
      const id = args[0]!;
      return async (store) => {
        const found = await store.getJob(id);
        const job = found && redactJob(found, redactor);
        if (!job) {
          process.stderr.write(`kratos-hooks: no job with id ${id}\n  hint: 'kratos-hooks outbox list' shows the ids\n`);
          return 1;
        }
        const attempts = (await store.listAttempts(id)).map((a) => (a.detail === null || redactor.size === 0 ? a : { ...a, detail: redactor.redact(a.detail) }));
        process.stdout.write(flags.json ? `${JSON.stringify({ ...jobJson(job), attemptHistory: attempts.map(attemptJson) }, null, 2)}\n` : jobDetail(job, attempts));
        return 0;
      };
    }
    case "retry": {
      const allDead = flags["all-dead"] === true;
      if (allDead === (args.length > 0)) {
        throw new UsageError("outbox retry: give job ids or --all-dead (not both)", "kratos-hooks outbox retry <id>... | --all-dead [--hook <h>] [--action <a>]");
      }
      if (flags.state) throw new UsageError("outbox retry: --state does not apply", "retry takes dead jobs (--all-dead) or the jobs you name");
      return async (store) => {
        const n = allDead ? await store.retryJobs({ ...filter, state: "dead" }, Date.now()) : await store.retryJobs({ ids: args }, Date.now());
        process.stdout.write(`${n} job${n === 1 ? "" : "s"} back to pending\n`);
        if (!allDead && n < args.length) {
          process.stderr.write(`kratos-hooks: ${args.length - n} of the ids were not retried (unknown, or running right now)\n`);
          return 1;
        }
        return 0;
      };
    }
    case "purge": {
      noArgs("purge", args);
      const state = (flags.state ?? "done") as JobState;
      if (state !== "done" && state !== "dead") throw new UsageError(`outbox purge: --state must be done or dead, not '${state}'`, "pending and running jobs are never purged in bulk");
      const purge: JobFilter = { ...filter, state };
      if (flags["older-than"] !== undefined) purge.updatedBefore = Date.now() - duration(flags["older-than"], "--older-than");
      return async (store) => {
        const n = await store.purgeJobs(purge);
        process.stdout.write(`${n} ${state} job${n === 1 ? "" : "s"} deleted\n`);
        return 0;
      };
    }
    case "stats": {
      noArgs("stats", args);
      return async (store) => {
        const s = await store.stats(Date.now());
        if (flags.json) process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
        else {
          for (const st of STATES) process.stdout.write(`${st.padEnd(8)} ${s.byState[st]}\n`);
          process.stdout.write(`oldest due job waiting ${formatAge(s.oldestDueAgeMs)}\n`);
        }
        return 0;
      };
    }
  }
}

function commonFilter(flags: Flags): JobFilter {
  const f: JobFilter = {};
  if (flags.state !== undefined) {
    if (!STATES.includes(flags.state as JobState)) throw new UsageError(`outbox: unknown state '${flags.state}'`, `one of: ${STATES.join(", ")}`);
    f.state = flags.state as JobState;
  }
  if (flags.hook !== undefined) f.hook = flags.hook;
  if (flags.action !== undefined) f.action = flags.action;
  return f;
}

/** An ISO time, or an age counted back from now (30m, 12h, 7d). */
function pointInTime(v: string, flag: string, now: number): number {
  if (/^[0-9]+(ms|s|m|h|d)$/.test(v)) return now - durationMs(v);
  const t = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw new UsageError(`${flag} must be an ISO time like 2026-01-02T15:04:05Z or an age like 30m, 12h, 7d, not '${v}'`);
  return t;
}

/**
 * The store to open. `create: false`: only an existing SQLite file; its pending migrations are
 * still applied (default `migrate`), as serve would on start, so an older store can be read.
 */
function storeFrom(flags: Flags): { url: string; opts: OpenStoreOptions; redactor: Redactor } {
  if (flags.store !== undefined) {
    const pw = storePassword(flags.store);
    return { url: flags.store, opts: { create: false }, redactor: new Redactor(pw ? [pw, encodeURIComponent(pw)] : []) };
  }
  const config = loadConfig(configPath(flags));
  return { url: config.serve.store, opts: { synchronous: config.serve.synchronous, create: false }, redactor: knownSecrets(config, process.env) };
}

/**
 * A job as the CLI shows it: every secret serve would know (src/secrets.ts) masked in its last
 * error and payload, in case one got there before redaction existed or through a value echoed back.
 */
function redactJob(j: Job, redactor: Redactor): Job {
  if (redactor.size === 0) return j;
  let payload: unknown;
  try {
    payload = JSON.parse(redactor.redact(JSON.stringify(j.payload)));
  } catch {
    payload = "*** (a secret made the payload unreadable once masked)";
  }
  return { ...j, lastError: j.lastError === null ? null : redactor.redact(j.lastError), payload };
}

function noArgs(sub: string, args: string[]): void {
  if (args.length) throw new UsageError(`outbox ${sub}: unexpected argument '${args[0]}'`, `see 'kratos-hooks outbox --help'`);
}

function positiveInt(v: string, flag: string): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < 1) throw new UsageError(`${flag} must be a positive integer, not '${v}'`);
  return Number(v);
}

function duration(v: string, flag: string): number {
  if (!/^[0-9]+(ms|s|m|h|d)?$/.test(v)) throw new UsageError(`${flag} must be a duration like 30m, 12h or 7d, not '${v}'`);
  return durationMs(/^[0-9]+$/.test(v) ? Number(v) : v);
}

/** A job for --json: times as ISO strings alongside the epoch ms the store keeps. */
function jobJson(j: Job) {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return { ...j, runAtIso: iso(j.runAt), createdAtIso: iso(j.createdAt), updatedAtIso: iso(j.updatedAt), lockedUntilIso: iso(j.lockedUntil) };
}

function attemptJson(a: Attempt) {
  return { ...a, startedAtIso: new Date(a.startedAt).toISOString() };
}

function time(t: number): string {
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function jobTable(jobs: Job[]): string {
  if (!jobs.length) return "no jobs\n";
  const rows = jobs.map((j) => [j.id, j.state, j.action, attemptsText(j), j.state === "pending" ? time(j.runAt) : "", time(j.updatedAt), oneLine(j.lastError ?? "", 60)]);
  const head = ["ID", "STATE", "ACTION", "ATTEMPTS", "NEXT RUN", "UPDATED", "LAST ERROR"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return `${[line(head), ...rows.map(line)].join("\n")}\n`;
}

/** `used/budget`, and the lifetime total when a retry gave the job a fresh budget. */
function attemptsText(j: Job): string {
  const total = j.attemptsRecorded ?? 0;
  return total > j.attempts ? `${j.attempts}/${j.maxAttempts} (${total} total)` : `${j.attempts}/${j.maxAttempts}`;
}

function jobDetail(j: Job, attempts: Attempt[]): string {
  const total = j.attemptsRecorded ?? attempts.length;
  const lines = [
    `id:           ${j.id}`,
    `state:        ${j.state}`,
    `hook:         ${j.hook}`,
    `action:       ${j.action}`,
    `trigger id:   ${j.triggerId ?? "-"}`,
    `attempts:     ${j.attempts} of ${j.maxAttempts}${total > j.attempts ? ` since the last retry; ${total} in total` : ""}`,
    `run at:       ${time(j.runAt)}`,
    `created:      ${time(j.createdAt)}`,
    `updated:      ${time(j.updatedAt)}`,
  ];
  if (j.lockedBy) lines.push(`leased by:    ${j.lockedBy} until ${j.lockedUntil !== null ? time(j.lockedUntil) : "?"}`);
  if (j.identityId) lines.push(`identity id:  ${j.identityId}`);
  const traceId = traceIdOf(j.traceparent);
  if (traceId) lines.push(`trace id:     ${traceId}`);
  if (j.lastError) lines.push(`last error:   ${j.lastError}`);
  lines.push(attempts.length ? "attempt history:" : "attempt history: none yet");
  for (const a of attempts) {
    lines.push(`  #${a.n}  ${time(a.startedAt)}  ${`${a.durationMs}ms`.padStart(7)}  ${a.outcome.padEnd(9)}  ${a.code !== null ? String(a.code).padEnd(3) : "-  "}${a.detail ? `  ${oneLine(a.detail, 200)}` : ""}`);
  }
  lines.push("payload:", ...JSON.stringify(j.payload, null, 2).split("\n").map((l) => `  ${l}`));
  return `${lines.join("\n")}\n`;
}

function oneLine(s: string, max: number): string {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length <= max ? t : `${t.slice(0, max - 1)}…`;
}

function formatAge(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)}m`;
  return `${Math.round(ms / 3_600_000)}h`;
}
