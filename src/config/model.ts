// The hooks.yaml model: one TypeBox declaration that gives the loader's validation, the static
// types the rest of the code reads, and the published JSON Schema (config/hooks.schema.json).
// Semantic rules that need Kratos knowledge (hook points per version, ctx presence, ...) live in
// src/config/semantics.ts, which asks src/kratos/.
import { type Static, type TSchema, Type as T } from "@sinclair/typebox";

const Name = T.String({
  pattern: "^[a-z][a-z0-9_-]{0,62}$",
  description: "Lower-case name: letters, digits, '-' and '_', starting with a letter.",
});
export const FieldName = T.String({
  pattern: "^[A-Za-z_][A-Za-z0-9_]{0,63}$",
  description: "A body field name (a JSON key Kratos sends and the receiver validates).",
});
const EnvName = T.String({
  pattern: "^[A-Za-z_][A-Za-z0-9_]*$",
  description: "Name of an environment variable. The value is read at run time and never written anywhere.",
});
export const Duration = T.Union([T.Integer({ minimum: 0, description: "milliseconds" }), T.String({ pattern: "^[0-9]+(ms|s|m|h|d)$" })], {
  description: "A duration: an integer number of milliseconds, or a string like 500ms, 30s, 10m, 24h, 7d.",
});
const Retention = T.Union([Duration, T.Literal("forever")], { description: "A duration (7d, 12h, ...) or `forever`." });
const ByteSize = T.Union([T.Integer({ minimum: 1 }), T.String({ pattern: "^[0-9]+(b|kb|mb)$" })], {
  description: "A size in bytes: an integer, or a string like 64kb, 1mb.",
});

/** A path into Kratos's webhook `ctx` (CONTRACT §3.2), e.g. `identity.traits.email`. */
export const CtxPath = T.String({
  pattern: "^(flow|identity|session|request_headers|request_method|request_url|request_cookies)(\\.[A-Za-z0-9_-]+)*$",
  description:
    "A path into Kratos's webhook ctx (docs/kratos.md#ctx-per-hook-point): flow, identity, session, request_headers, request_method, request_url or request_cookies, then dotted keys, e.g. identity.traits.email.",
});

export const FieldType = T.Union(
  ["string", "number", "integer", "boolean", "object", "array", "any"].map((t) => T.Literal(t)),
  { description: "JSON type the receiver validates. Defaults from the ctx path where Kratos fixes it (identity.id is a uuid string), else string for traits and any elsewhere." },
);

export const FieldSpec = T.Object(
  {
    from: T.Optional(CtxPath),
    value: T.Optional(T.Unknown({ description: "A constant sent as is." })),
    type: T.Optional(FieldType),
    format: T.Optional(T.Union(["email", "uuid", "uri", "date-time"].map((f) => T.Literal(f)))),
    optional: T.Optional(T.Boolean({ description: "The ctx path may be missing; the body then omits the field (std.objectHas guard)." })),
    max_length: T.Optional(T.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

export const BodyMapping = T.Record(FieldName, T.Union([CtxPath, FieldSpec]), {
  additionalProperties: false,
  description: "The body Kratos sends: field name → ctx path (shorthand) or a field spec. Declared once; the Jsonnet body and the receiver's validation schema both derive from it.",
});

// One operator per leaf. `field` names a body field.
const Leaf = T.Object(
  {
    field: FieldName,
    equals: T.Optional(T.Unknown()),
    in: T.Optional(T.Array(T.Unknown())),
    in_file: T.Optional(T.String({ description: "A file (one value a line, # comments) relative to hooks.yaml." })),
    starts_with: T.Optional(T.String()),
    ends_with: T.Optional(T.String()),
    matches: T.Optional(T.String({ description: "A regular expression, bare or /pattern/flags (i, m, s, u), run on RE2 in time linear in the input: no backreferences or lookaround. Case-sensitive unless /i. Receiver-side only: Jsonnet has no regex." })),
    exists: T.Optional(T.Boolean()),
    domain_in: T.Optional(T.Array(T.String(), { description: "The email domain (after the last @) is one of these. Compares the domain as IDNA resolves it, lower-cased; equals, in, in_file, starts_with and ends_with compare NFKC-normalised in a deny rule and lower case only in an allow rule (docs/receiver.md#rules)." })),
    domain_in_file: T.Optional(T.String()),
  },
  { additionalProperties: false },
);
export const Predicate = T.Recursive(
  (Self) =>
    T.Union([
      Leaf,
      T.Object({ all: T.Array(Self, { minItems: 1 }) }, { additionalProperties: false }),
      T.Object({ any: T.Array(Self, { minItems: 1 }) }, { additionalProperties: false }),
      T.Object({ not: Self }, { additionalProperties: false }),
    ]),
  { $id: "Predicate", description: "A condition over body fields: one operator on a field, or all/any/not of conditions." },
);
const PredicateRef = T.Ref(Predicate);
export const PREDICATE_OPERATORS = ["equals", "in", "in_file", "starts_with", "ends_with", "matches", "exists", "domain_in", "domain_in_file"] as const;

const KratosMessage = T.Object(
  {
    text: T.String({ minLength: 1 }),
    id: T.Optional(T.Integer({ description: "Message id; must lie in the private range 9000000-9099899 (docs/kratos.md#messages; 9099900 and up are the receiver's own)." })),
    field: T.Optional(FieldName),
    context: T.Optional(T.Record(T.String(), T.Unknown())),
  },
  { additionalProperties: false, description: "A message Kratos shows on the form. `field` names the body field it belongs to; a field read from identity.traits.X points at #/traits/X, anything else at the whole form (#/)." },
);

export const Rule = T.Union([
  T.Object({ name: T.Optional(T.String()), when: PredicateRef, deny: KratosMessage }, { additionalProperties: false }),
  T.Object({ name: T.Optional(T.String()), when: PredicateRef, allow: T.Literal(true) }, { additionalProperties: false }),
]);

const MetadataPatch = T.Record(T.String(), T.Unknown(), { description: "Keys set in the metadata object. String values may use {{body.x}} templates." });
export const EnrichStep = T.Object(
  {
    when: T.Optional(PredicateRef),
    metadata_public: T.Optional(MetadataPatch),
    metadata_admin: T.Optional(MetadataPatch),
    lookup: T.Optional(
      T.Object(
        {
          field: FieldName,
          into: T.Union([T.Literal("metadata_public"), T.Literal("metadata_admin")]),
          table: T.Optional(T.Record(T.String(), T.Record(T.String(), T.Unknown()))),
          file: T.Optional(T.String({ description: "A JSON file (object of key → object) relative to hooks.yaml." })),
          key: T.Optional(T.Union([T.Literal("value"), T.Literal("email_domain")], { default: "value" })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const RetryPolicy = T.Object(
  {
    attempts: T.Optional(T.Integer({ minimum: 1, maximum: 1000, default: 10 })),
    base: T.Optional(Duration),
    cap: T.Optional(Duration),
  },
  { additionalProperties: false, description: "Exponential backoff with full jitter: delay n = random(0, min(cap, base·2^n)). Defaults: 10 attempts, base 1s, cap 10m." },
);

export const Smtp = T.Object(
  {
    host: T.String(),
    port: T.Optional(T.Integer({ minimum: 1, maximum: 65535 })),
    security: T.Optional(T.Union([T.Literal("tls"), T.Literal("starttls"), T.Literal("none")], { default: "starttls" })),
    user: T.Optional(T.String()),
    password_env: T.Optional(EnvName),
    from: T.Optional(T.String()),
    tls_reject_unauthorized: T.Optional(T.Boolean({ default: true })),
  },
  { $id: "Smtp", additionalProperties: false },
);

const HttpAction = T.Object(
  {
    method: T.Optional(T.String({ pattern: "^[A-Z]+$", default: "POST" })),
    url: T.String({
      description:
        "Templated with {{body.x}} and {{env.X}}. Scheme, host and port are literal text or {{env.X}}, never a user-controlled body value; body values in the path or query are percent-encoded, and a path value '.' or '..' is refused (docs/security.md#url).",
    }),
    headers: T.Optional(
      T.Record(T.String(), T.String(), {
        description: "Header name (an HTTP token) → templated value. Literal text is Latin-1 on one line; a body value outside Latin-1 is sent RFC 8187-encoded, one with a line break fails the job (docs/security.md#header).",
      }),
    ),
    body: T.Optional(T.Unknown({ description: "JSON template: a string that is exactly {{ref}} keeps the value's type." })),
    timeout: T.Optional(Duration),
    retry_4xx: T.Optional(T.Boolean({ default: false })),
  },
  { additionalProperties: false },
);
const Mailbox = "Exactly one mailbox: '{{body.email}}' or 'Name <{{body.email}}>'. The display name is text, never parsed as addresses; the address must be one user@domain (docs/security.md#email).";
const EmailAction = T.Object(
  {
    to: T.String({ description: Mailbox }),
    from: T.Optional(T.String({ description: Mailbox })),
    subject: T.String({ description: "Templated; one line, at most 200 characters (longer is cut with …), folded per RFC 5322." }),
    text: T.Optional(T.String({ description: "Plain-text part; body values as they are." })),
    html: T.Optional(T.String({ description: "HTML part; body values are HTML-escaped." })),
    smtp: T.Optional(T.Ref(Smtp)),
  },
  { additionalProperties: false },
);
const ExecAction = T.Object(
  {
    command: T.Array(T.String(), {
      minItems: 1,
      description: "argv, run without a shell; the job's JSON is written to stdin. Exit 0 means success. A user-controlled body value may not sit inside a sh -c (python -c, ...) script: pass it as its own element (docs/security.md#exec-argv).",
    }),
    timeout: T.Optional(Duration),
    cwd: T.Optional(T.String()),
    env: T.Optional(
      T.Record(T.String(), T.String(), {
        description: "Variables the command gets (templated values, e.g. { CRM_TOKEN: \"{{env.CRM_TOKEN}}\" }). Besides these it sees only PATH, LANG, LC_*, TZ and HOME, KRATOS_HOOKS_JOB_ID and KRATOS_HOOKS_ATTEMPT, never serve's own environment (docs/security.md#what-exec-sees).",
      }),
    ),
  },
  { additionalProperties: false },
);
const ActionCommon = {
  name: T.Optional(Name),
  retry: T.Optional(RetryPolicy),
  concurrency: T.Optional(T.Integer({ minimum: 1, maximum: 1024, description: "At most this many deliveries of this action at once (default 16)." })),
  rate_limit: T.Optional(T.Number({ exclusiveMinimum: 0, description: "At most this many deliveries per second of this action: shared by every serve process on a Postgres store, per process on SQLite. For a limit shared by every action that delivers to one place, see serve.rate_limits." })),
};
export const Action = T.Union([
  T.Object({ ...ActionCommon, http: HttpAction }, { additionalProperties: false }),
  T.Object({ ...ActionCommon, email: EmailAction }, { additionalProperties: false }),
  T.Object({ ...ActionCommon, exec: ExecAction }, { additionalProperties: false }),
]);

export const Auth = T.Union([
  T.Object(
    {
      type: T.Literal("api_key"),
      in: T.Union([T.Literal("header"), T.Literal("cookie")]),
      name: T.String({ minLength: 1 }),
      value_prefix: T.Optional(T.String({ description: 'Sent before the secret, e.g. "Bearer ".' })),
      secret_env: EnvName,
    },
    { additionalProperties: false },
  ),
  T.Object(
    { type: T.Literal("basic_auth"), user: T.String({ minLength: 1 }), password_env: EnvName },
    { additionalProperties: false },
  ),
]);

export const HookPoint = T.String({
  pattern: "^(registration|login|settings|recovery|verification)\\.(before|after)$",
  description: "Flow and phase, e.g. registration.after.",
});

export const Mode = T.Union([T.Literal("notify"), T.Literal("interrupt"), T.Literal("enrich")], {
  description:
    "notify: Kratos does not wait (response.ignore); interrupt: may block the flow with form messages; enrich: may set identity fields (response.parse).",
});

/** What a hook path may hold; receiver.url's path is held to it too (semantics.ts), as serve routes both. */
export const PATH_PATTERN = "^/[A-Za-z0-9/_.-]*$";

export const Hook = T.Object(
  {
    on: HookPoint,
    methods: T.Optional(T.Array(T.String({ pattern: "^[a-z_]+$" }), { minItems: 1, uniqueItems: true, description: "Per-method lists to attach to (after hooks only). Omit to attach to the flow-level list and every per-method list this file manages." })),
    mode: T.Optional(Mode),
    wait: T.Optional(T.Boolean({ description: "notify only: Kratos waits for the answer (no response.ignore). Default false." })),
    description: T.Optional(T.String()),
    path: T.Optional(T.String({ pattern: PATH_PATTERN, description: "Path of the endpoint after receiver.url's path (serve answers on receiver.url's path + this); default /hooks/<name>." })),
    method: T.Optional(T.String({ pattern: "^(POST|PUT|PATCH|DELETE|GET)$", default: "POST" })),
    headers: T.Optional(T.Record(T.String({ pattern: "^[A-Za-z0-9-]+$" }), T.String(), { additionalProperties: false, description: "Static headers Kratos sends (Kratos ≥ v1.2.0)." })),
    body: T.Optional(BodyMapping),
    jsonnet: T.Optional(T.String({ description: "Escape hatch: a hand-written Jsonnet body (path relative to hooks.yaml), `function(ctx) ...`. `body` then only declares field types for validation." })),
    auth: T.Optional(Auth),
    skip_if: T.Optional(PredicateRef),
    dedupe: T.Optional(
      T.Object(
        {
          key: T.Optional(T.Array(FieldName, { minItems: 1, description: "Body fields that make the idempotency key; default: the Ory-Webhook-Trigger-Id header, else a hash of hook and body." })),
          window: T.Optional(Duration),
        },
        { additionalProperties: false },
      ),
    ),
    rules: T.Optional(T.Array(Rule, { minItems: 1 })),
    enrich: T.Optional(T.Array(EnrichStep, { minItems: 1 })),
    replaces: T.Optional(
      T.Array(T.Union([T.Literal("metadata_public"), T.Literal("metadata_admin")]), {
        minItems: 1,
        uniqueItems: true,
        description:
          "enrich: the metadata objects this hook owns outright. Kratos replaces a metadata object wholesale with the one an enrich answer carries, and never sends metadata_admin to webhooks, so at settings.after enriching metadata_admin erases its other keys unless you state here that the hook replaces it (docs/kratos.md#identity-updates).",
      }),
    ),
    actions: T.Optional(T.Array(Action)),
  },
  { additionalProperties: false },
);

export const BuiltinHook = T.Union([
  T.String({ pattern: "^[a-z_]+$" }),
  T.Object({ hook: T.String({ pattern: "^[a-z_]+$" }), config: T.Optional(T.Record(T.String(), T.Unknown())) }, { additionalProperties: false }),
]);

export const HooksFile = T.Object(
  {
    $schema: T.Optional(T.String()),
    kratos: T.Object(
      {
        version: T.String({ pattern: "^(v?[0-9]+\\.[0-9]+\\.[0-9]+|HEAD)$", description: "Target Kratos version, e.g. v26.2.0." }),
        body: T.Optional(
          T.Union([
            T.Object({ file_dir: T.String({ pattern: "^/", description: "Absolute directory where Kratos finds the generated .jsonnet files (body: file:///<dir>/<hook>.jsonnet)." }) }, { additionalProperties: false }),
            T.Object({ inline: T.Literal(true, { description: "Embed each body as base64:// (standard, padded)." }) }, { additionalProperties: false }),
          ]),
        ),
        emit_analytics_event: T.Optional(T.Boolean({ description: "Kratos ≥ v1.1.0. Must stay true for Ory-Webhook-Trigger-Id dedupe (v25.4+)." })),
        header_allowlist: T.Optional(T.Array(T.String(), { description: "clients.web_hook.header_allowlist (Kratos ≥ v25.4.0). Replaces Kratos's default list." })),
        session_cookie: T.Optional(
          T.String({
            pattern: "^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$",
            description: "The name of Kratos's session cookie when your kratos.yml changes session.cookie.name (default ory_kratos_session). A hook body may not read it, nor any ory_* or csrf_token* cookie (docs/security.md#credentials).",
          }),
        ),
        builtin_hooks: T.Optional(
          T.Record(T.String({ pattern: "^(registration|login|settings|recovery|verification)\\.(before|after)(\\.[a-z_]+)?$" }), T.Array(BuiltinHook), {
            additionalProperties: false,
            description: "Kratos's own hooks (session, show_verification_ui, revoke_active_sessions, ...) per list, so the generated lists are complete: Kratos replaces arrays wholesale across -c files. A flow-level list's hooks (e.g. login.after) are copied into each per-method list generate creates at that point, which replaces it for its method.",
          }),
        ),
      },
      { additionalProperties: false },
    ),
    receiver: T.Object(
      { url: T.String({ pattern: "^https?://[^\\s/]+(/[^\\s]*)?$", description: "Base URL at which Kratos reaches `kratos-hooks serve`. Each hook URL is this (trailing / dropped) + the hook's path, and serve answers each hook on the path part of that URL, e.g. http://kratos-hooks:4459/kh → /kh/hooks/<name>; /health/live, /health/ready and /metrics stay at the root. A reverse proxy in front must forward that path unchanged (no prefix stripping)." }) },
      { additionalProperties: false },
    ),
    serve: T.Optional(
      T.Object(
        {
          listen: T.Optional(T.String({ description: "host:port to listen on; default 127.0.0.1:4459. Overridden by KRATOS_HOOKS_LISTEN." })),
          store: T.Optional(T.String({ description: "sqlite:<path> (default sqlite:./var/kratos-hooks.db; a relative path resolves against the current working directory, not hooks.yaml) or postgres://... Overridden by KRATOS_HOOKS_STORE." })),
          synchronous: T.Optional(T.Union([T.Literal("full"), T.Literal("normal")], { description: "SQLite PRAGMA synchronous with WAL. full (default): an acked request survives power loss. normal: survives a process crash, may lose the last commits on power loss." })),
          group_commit_wait: T.Optional(Duration),
          body_limit: T.Optional(ByteSize),
          dedupe_window: T.Optional(Duration),
          smtp: T.Optional(T.Ref(Smtp)),
          lease: T.Optional(Duration),
          poll: T.Optional(Duration),
          shutdown_timeout: T.Optional(Duration),
          retention: T.Optional(
            T.Object(
              {
                done: T.Optional(Retention),
                dead: T.Optional(Retention),
              },
              {
                additionalProperties: false,
                description:
                  "How long finished jobs are kept, counted from when they finished: their payload (the accepted webhook: traits, email addresses) and attempt history. serve deletes older ones in the background, in small batches. Defaults: done 7d, dead 30d. `forever` keeps them (then purge with `kratos-hooks outbox purge`).",
              },
            ),
          ),
          admin: T.Optional(
            T.Object(
              {
                listen: T.String({ description: "host:port of the admin page's own listener, e.g. 127.0.0.1:4460, or `off` (the default when serve.admin is absent). Keep it on a private address." }),
                token_env: T.String({ pattern: EnvName.pattern, description: "Environment variable holding the admin token (at least 16 characters); serve refuses to start when it is unset or shorter." }),
              },
              { additionalProperties: false, description: "The admin page: hooks, live counts, webhooks and jobs, retry and discard of dead letters. Off unless listen is set." },
            ),
          ),
          metrics: T.Optional(
            T.Object(
              {
                token_env: T.String({
                  pattern: EnvName.pattern,
                  description:
                    "Name of the env var holding a bearer token that GET /metrics then requires (Authorization: Bearer <token>); serve refuses to start when it is unset. Without it /metrics is open to whoever reaches serve.listen. See docs/security.md#open-endpoints.",
                }),
              },
              { additionalProperties: false, description: "Access to GET /metrics." },
            ),
          ),
          rate_limits: T.Optional(
            T.Record(T.String(), T.Number({ exclusiveMinimum: 0 }), {
              description:
                "Per-destination rate limits, deliveries per second (shared by every serve process on a Postgres store, per process on SQLite), shared by every action that delivers there (on top of each action's own rate_limit). Keys: an http(s) origin as in the action URLs (https://crm.example.com; a port only when not the default) or smtp://host:port for email.",
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    hooks: T.Record(Name, Hook, { additionalProperties: false, description: "The hooks, by name. The name is the default endpoint path (receiver.url's path + /hooks/<name>) and the Jsonnet file name." }),
  },
  { additionalProperties: false, $id: "HooksFile" },
);

export type HooksFile = Static<typeof HooksFile>;
export type HookDecl = Static<typeof Hook>;
export type FieldSpecDecl = Static<typeof FieldSpec>;
export type PredicateDecl = Static<typeof Predicate>;
export type RuleDecl = Static<typeof Rule>;
export type EnrichStepDecl = Static<typeof EnrichStep>;
export type ActionDecl = Static<typeof Action>;
export type AuthDecl = Static<typeof Auth>;
export type SmtpDecl = Static<typeof Smtp>;
export type RetryPolicyDecl = Static<typeof RetryPolicy>;

/** Schemas referenced by T.Ref, for Value.Check and for the published JSON Schema's definitions. */
export const REFERENCED: TSchema[] = [Predicate, Smtp];
