// The resolved configuration: hooks.yaml after validation and defaults. Everything downstream
// (generate, serve, outbox) reads these types, never the raw YAML.
import type { ConfigError } from "../errors.ts";
import type { EnvNeed } from "./env-needs.ts";
import type { Version } from "../kratos/versions.ts";
import type { Point } from "../kratos/hook-points.ts";
import type { AuthDecl, PredicateDecl, RuleDecl, EnrichStepDecl, SmtpDecl } from "./model.ts";

export type JsonType = "string" | "number" | "integer" | "boolean" | "object" | "array" | "any";

/** One body field: where Kratos reads it from ctx (or a constant), and how the receiver validates it. */
export type ResolvedField = {
  name: string;
  /** ctx path split into segments, e.g. ["identity","traits","email"]; undefined for a constant. */
  from?: string[];
  value?: unknown;
  type: JsonType;
  format?: "email" | "uuid" | "uri" | "date-time";
  /** Field may be absent: the Jsonnet guards it with std.objectHas and the schema marks it optional. */
  optional: boolean;
  maxLength?: number;
};

export type ResolvedRetry = { attempts: number; baseMs: number; capMs: number };

type ActionBase = {
  /** Unique across the file: `<hook>.<name>` (name defaults to the action's index). */
  id: string;
  hook: string;
  retry: ResolvedRetry;
  concurrency: number;
  /** Deliveries per second, or undefined for no limit. */
  rateLimit?: number;
  /**
   * Where it delivers, as a key of serve.rate_limits: an http(s) URL's origin (when the url
   * template's scheme, host and port are literal text) or smtp://host:port; none for exec.
   */
  destination?: string;
};
export type ResolvedHttpAction = ActionBase & {
  kind: "http";
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
  retry4xx: boolean;
};
export type ResolvedEmailAction = ActionBase & {
  kind: "email";
  to: string;
  from?: string;
  subject: string;
  text?: string;
  html?: string;
  smtp?: SmtpDecl;
};
export type ResolvedExecAction = ActionBase & {
  kind: "exec";
  command: string[];
  timeoutMs: number;
  cwd?: string;
  env: Record<string, string>;
};
export type ResolvedAction = ResolvedHttpAction | ResolvedEmailAction | ResolvedExecAction;

export type ResolvedHook = {
  name: string;
  point: Point;
  /** Per-method lists it is attached to; empty = flow-level list (+ managed per-method lists, see generate). */
  methods: string[];
  mode: "notify" | "interrupt" | "enrich";
  /** notify only: Kratos waits for the answer (no response.ignore). */
  wait: boolean;
  /** hooks.<name>.path as declared (default /hooks/<name>), relative to receiver.url. */
  path: string;
  /** Absolute URL Kratos calls: receiver.url (trailing `/` dropped) + path. */
  url: string;
  /** The path serve answers on: the pathname of `url`, i.e. receiver.url's path + path. */
  routePath: string;
  method: string;
  headers: Record<string, string>;
  fields: ResolvedField[];
  /** Absolute path of a hand-written Jsonnet body, if any. */
  jsonnetFile?: string;
  auth?: AuthDecl;
  /** in_file / domain_in_file (here, in rules and in enrich) are absolute paths after loading. */
  skipIf?: PredicateDecl;
  /**
   * `source`: what the receiver keys on when every declared key field is present (src/config/dedupe-plan.ts);
   * `description`: the same for `check` to print.
   */
  dedupe: { key?: string[]; windowMs: number; source?: "fields" | "trigger" | "body"; description?: string };
  rules: RuleDecl[];
  enrich: EnrichStepDecl[];
  actions: ResolvedAction[];
  /** Where the hook was declared, for errors that arise later (generate, serve). */
  loc: SourceLoc;
};

export type SourceLoc = { file: string; line: number; col: number };

export type ResolvedConfig = {
  /** Absolute path of hooks.yaml; relative paths inside it resolve against its directory. */
  file: string;
  dir: string;
  kratos: {
    version: Version;
    body: { kind: "file"; dir: string } | { kind: "inline" };
    emitAnalyticsEvent?: boolean;
    headerAllowlist?: string[];
    builtinHooks: Record<string, Array<{ hook: string; config?: Record<string, unknown> }>>;
  };
  receiverUrl: string;
  serve: {
    listen: { host: string; port: number };
    store: string;
    synchronous: "full" | "normal";
    groupCommitWaitMs: number;
    bodyLimitBytes: number;
    dedupeWindowMs: number;
    smtp?: SmtpDecl;
    leaseMs: number;
    pollMs: number;
    shutdownTimeoutMs: number;
    /** serve.metrics.token_env: the env var holding the bearer token /metrics requires; none = open. */
    metricsTokenEnv?: { name: string; loc: SourceLoc };
    /** serve.rate_limits by destination key (destination.ts): deliveries per second (across processes on Postgres, per process on SQLite). */
    rateLimits: Record<string, number>;
    /** serve.retention: how long done and dead jobs are kept after they finished; null = forever. */
    retention: { doneMs: number | null; deadMs: number | null };
    /** serve.admin, when its listen is not `off`: the admin page's listener (host:port text, checked at start) and token variable. */
    admin?: { listen: string; tokenEnv: string };
  };
  hooks: ResolvedHook[];
  /** Every env var serve reads, with where hooks.yaml asks for it (src/config/env-needs.ts). */
  envNeeds?: EnvNeed[];
  /** Things that work but are likely not what was meant ([inferred] Kratos behaviour); `check` prints them. */
  warnings?: ConfigError[];
};
