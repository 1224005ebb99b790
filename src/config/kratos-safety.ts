// Checks that keep a valid-looking hooks.yaml from breaking Kratos, losing data or leaking a
// secret, each a rule over the whole file rather than a special case:
// - no URL holds credentials (Kratos gets receiver.url copied into every hook url);
// - no value Kratos reads holds template syntax (Kratos does no interpolation in its config);
// - an http action url has a scheme (else every delivery fails);
// - serve can be reached at receiver.url (a loopback listen and another host cannot meet);
// - enrich never replaces an object Kratos does not send, unless the hook says it replaces it;
// - the body's worst-case Jsonnet output fits the version's limit (src/kratos/output-size.ts);
// - without a Trigger-Id, a hand-written body carries what makes each execution distinct.
// Kept apart from semantics.ts (which asks src/kratos/ about hook points and ctx) to keep both small.
import { readFileSync } from "node:fs";
import { resolve as resolvePath } from "node:path";
import { BYTES_PER_CODE_POINT, bytesText, worstCaseOutput, kib } from "../kratos/output-size.ts";
import type { Version } from "../kratos/versions.ts";
import { addedFields, dedupePlan, missingCarriers } from "./dedupe-plan.ts";
import type { HookDecl, HooksFile } from "./model.ts";
import { ENV_OVERRIDES, DEFAULTS, parseListen, resolveField, type Env } from "./resolve.ts";
import { byteSize } from "./units.ts";
import type { ConfigPath } from "./source-map.ts";

/** What semantics.ts's Report offers; structural, so this module needs nothing from semantics.ts. */
export type Reporter = {
  error(path: ConfigPath, part: "key" | "value", message: string, hint?: string): void;
  warn(path: ConfigPath, part: "key" | "value", message: string, hint?: string): void;
};

export function checkKratosSafety(raw: HooksFile, v: Version | undefined, env: Env, dir: string, r: Reporter): void {
  checkReceiverCredentials(raw, r);
  checkKratosSideTemplates(raw, r);
  checkReachable(raw, env, r);
  for (const [name, hook] of Object.entries(raw.hooks)) {
    const at: ConfigPath = ["hooks", name];
    checkActionUrls(hook, at, r);
    checkReplaces(hook, at, r);
    if (v) {
      checkOutputSize(hook, at, v, raw.kratos.emit_analytics_event, byteSize(raw.serve?.body_limit ?? DEFAULTS.bodyLimit), raw.serve?.body_limit !== undefined, r);
      checkExecutionCarried(hook, at, v, raw.kratos.emit_analytics_event, dir, r);
    }
  }
}

// URLs -----------------------------------------------------------------------------------------

/** The user:password@ part of a URL's text (templated or not), or undefined. */
export function urlUserinfo(text: string): string | undefined {
  const m = /^(?:[A-Za-z][A-Za-z0-9+.-]*:\/\/)?([^/?#]*)@/.exec(text.trim());
  return m ? m[1] : undefined;
}

/** A url's text fit for a message: no query or fragment, no userinfo (either may hold a secret). */
function shownUrl(text: string): string {
  return text.replace(/[?#][\s\S]*$/, "").replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)?[^/@]*@/, "$1");
}

function checkReceiverCredentials(raw: HooksFile, r: Reporter): void {
  if (urlUserinfo(raw.receiver.url) === undefined) return;
  r.error(["receiver", "url"], "value", "receiver.url holds credentials (user:password@)", "generate copies receiver.url into every hook url Kratos reads, so they would end up in your Kratos config; remove them and give the hooks auth: (docs/kratos.md#auth)");
}

function checkActionUrls(hook: HookDecl, at: ConfigPath, r: Reporter): void {
  (hook.actions ?? []).forEach((action, i) => {
    if (!("http" in action)) return;
    const path: ConfigPath = [...at, "actions", i, "http", "url"];
    const url = action.http.url.trim();
    if (urlUserinfo(url) !== undefined) {
      r.error(path, "value", "an action url holds credentials (user:password@)", 'put them in a header instead, e.g. headers: { Authorization: "Bearer {{ env.CRM_TOKEN }}" }; a url is shown in logs and outbox listings');
    }
    // A url that starts with a template gets its scheme at delivery; anything else must have one now.
    if (!url.startsWith("{{") && !/^https?:\/\//i.test(url)) {
      const shown = shownUrl(url);
      const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(shown)?.[1];
      r.error(path, "value", scheme ? `an http action url must be http:// or https://, not ${scheme}://` : `'${shown}' has no http:// or https:// scheme`, `every delivery of this action would fail; write e.g. https://${shown.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//, "")}`);
    }
  });
}

// Values Kratos reads verbatim ---------------------------------------------------------------------

const TEMPLATE_SYNTAX = /\{\{[\s\S]*?\}\}|\$\{[^}]*\}/;

/**
 * Everything generate copies into the Kratos config: Kratos reads it as it is, with no {{ }} or
 * ${} interpolation (env vars override whole keys, CONTRACT §7). Action fields are the receiver's,
 * where templates are meant.
 */
function checkKratosSideTemplates(raw: HooksFile, r: Reporter): void {
  const found = (path: ConfigPath, value: unknown): void => {
    if (typeof value === "string") {
      const m = TEMPLATE_SYNTAX.exec(value);
      if (m) {
        r.error(path, "value", `${m[0]} is sent to Kratos as literal text`, "Kratos does no interpolation in its config: a secret belongs in auth: (secret_env / password_env, set through Kratos's env var override), and templates only work in actions (docs/kratos.md#env-var-overrides)");
      }
    } else if (Array.isArray(value)) value.forEach((x, i) => found([...path, i], x));
    else if (value && typeof value === "object") for (const [k, x] of Object.entries(value)) found([...path, k], x);
  };
  found(["receiver", "url"], raw.receiver.url);
  found(["kratos", "body"], raw.kratos.body);
  found(["kratos", "builtin_hooks"], raw.kratos.builtin_hooks);
  found(["kratos", "header_allowlist"], raw.kratos.header_allowlist);
  for (const [name, hook] of Object.entries(raw.hooks)) {
    const at: ConfigPath = ["hooks", name];
    found([...at, "headers"], hook.headers);
    found([...at, "path"], hook.path);
    if (hook.auth?.type === "api_key") {
      found([...at, "auth", "name"], hook.auth.name);
      found([...at, "auth", "value_prefix"], hook.auth.value_prefix);
    } else if (hook.auth?.type === "basic_auth") found([...at, "auth", "user"], hook.auth.user);
    for (const [field, spec] of Object.entries(hook.body ?? {})) {
      if (typeof spec !== "string" && spec.value !== undefined) found([...at, "body", field, "value"], spec.value);
    }
  }
}

// serve.listen vs receiver.url ---------------------------------------------------------------------

function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * serve on a loopback address answers only on its own host, so a receiver.url naming another host
 * (kratos-hooks:4459 in a container network) is never reached, unless a proxy on that host
 * forwards to it: a warning, not an error.
 */
function checkReachable(raw: HooksFile, env: Env, r: Reporter): void {
  let host: string;
  try {
    host = new URL(raw.receiver.url).hostname;
  } catch {
    return;
  }
  const fromEnv = env[ENV_OVERRIDES.listen];
  const listen = parseListen(fromEnv || raw.serve?.listen || DEFAULTS.listen);
  const where = fromEnv ? `${ENV_OVERRIDES.listen}=${fromEnv}` : raw.serve?.listen !== undefined ? `serve.listen ${raw.serve.listen}` : `the default listen address ${DEFAULTS.listen}`;
  // Both on this host: the ports must meet too, unless a proxy here forwards one to the other.
  const url = new URL(raw.receiver.url);
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  // Port 0 lets the system pick (tests): nothing to compare.
  if (listen && listen.port !== 0 && isLoopbackHost(host) && port !== listen.port) {
    r.warn(
      ["receiver", "url"],
      "value",
      `Kratos calls ${host} on port ${port}, but serve listens on port ${listen.port} (${where})`,
      `use the same port in receiver.url and serve.listen, unless a proxy on this host forwards port ${port} to ${listen.port}`,
    );
  }
  if (!listen || !isLoopbackHost(listen.host) || isLoopbackHost(host)) return;
  r.warn(
    raw.serve?.listen !== undefined && !fromEnv ? ["serve", "listen"] : ["receiver", "url"],
    "value",
    `serve listens on loopback (${where}), but Kratos calls ${host}: a loopback address is reachable only from the same host`,
    `listen on all interfaces (serve.listen: 0.0.0.0:${listen.port}, or ${ENV_OVERRIDES.listen}) when Kratos runs in another container or host; keep loopback only behind a proxy on this host`,
  );
}

// enrich -------------------------------------------------------------------------------------------

/**
 * Kratos replaces a metadata object wholesale with what an enrich answer carries (CONTRACT §5.1),
 * and at settings.after the identity already has one; it never sends metadata_admin to webhooks
 * (§0.4), so the receiver cannot merge: setting one key erases the others. Allowed only when the
 * hook states it owns the object (`replaces:`).
 */
function checkReplaces(hook: HookDecl, at: ConfigPath, r: Reporter): void {
  const replaces = hook.replaces ?? [];
  const sets = new Set<string>();
  (hook.enrich ?? []).forEach((step, i) => {
    const admin = step.metadata_admin !== undefined || step.lookup?.into === "metadata_admin";
    if (step.metadata_public !== undefined || step.lookup?.into === "metadata_public") sets.add("metadata_public");
    if (!admin) return;
    sets.add("metadata_admin");
    if (hook.on === "settings.after" && !replaces.includes("metadata_admin")) {
      const key: ConfigPath = step.metadata_admin !== undefined ? [...at, "enrich", i, "metadata_admin"] : [...at, "enrich", i, "lookup", "into"];
      r.error(key, step.metadata_admin !== undefined ? "key" : "value", "enriching metadata_admin at settings.after erases its other keys", "Kratos replaces metadata_admin wholesale and never sends its current value to webhooks; if this hook owns all of metadata_admin, say so with replaces: [metadata_admin] (docs/kratos.md#identity-updates)");
    }
  });
  replaces.forEach((which, i) => {
    if (!sets.has(which)) r.warn([...at, "replaces", i], "value", `replaces names ${which}, which no enrich step of this hook sets`, "remove it, or add an enrich step that sets it");
  });
}

// Output size --------------------------------------------------------------------------------------

function checkOutputSize(hook: HookDecl, at: ConfigPath, v: Version, emit: boolean | undefined, bodyLimit: number, bodyLimitSet: boolean, r: Reporter): void {
  // A hand-written body's output cannot be known from its declaration.
  if (hook.jsonnet !== undefined || !hook.body) return;
  const plan = dedupePlan(hook, v, emit);
  const fields = [...Object.entries(hook.body).map(([name, spec]) => resolveField(name, spec)), ...addedFields(plan)];
  const size = worstCaseOutput(fields, v, BYTES_PER_CODE_POINT.text);
  const control = worstCaseOutput(fields, v, BYTES_PER_CODE_POINT.control);
  const limit = `Kratos ${v.text} accepts less than ${kib(size.limit)} (${bytesText(size.limit)}) from a Jsonnet body`;
  const bounded = size.fields.filter((f): f is Extract<typeof f, { bytes: number }> => f.bytes !== undefined).sort((a, b) => b.bytes - a.bytes);
  const unbounded = size.fields.filter((f) => f.bytes === undefined);
  const biggest = bounded.slice(0, 3).map((f) => `${f.name} (${f.how}, ${kib(f.bytes)})`).join(", ");
  const fail = "Kratos then fails every flow with this hook (\"token too long\")";
  // The receiver answers a larger body 413, which Kratos does not retry: a notify event is lost, a
  // blocking hook fails the flow (src/server/body-limit.ts, CONTRACT §4.2).
  if (size.bounded > bodyLimit && size.bounded < size.limit) {
    r.error(
      bodyLimitSet ? ["serve", "body_limit"] : [...at, "body"],
      bodyLimitSet ? "value" : "key",
      `the body of hook '${at[1]}' can be ${bytesText(size.bounded)}, more than serve.body_limit (${bytesText(bodyLimit)})`,
      `the receiver would answer 413, which Kratos does not retry: a notify event is lost and a blocking hook fails the flow; raise serve.body_limit to at least ${Math.ceil(size.bounded / 1024)}kb, or shrink the body (largest: ${biggest}) (docs/config.md#body-size)`,
    );
  }
  if (size.bounded >= size.limit) {
    r.error([...at, "body"], "key", `the body can be ${bytesText(size.bounded)}; ${limit}`, `${fail}; largest: ${biggest}; shrink constants or lower max_length (a max_length character counts 4 bytes, as an emoji does; docs/kratos.md#jsonnet-bodies)`);
    return;
  }
  if (control.bounded >= control.limit) {
    r.warn([...at, "body"], "key", `the body can be ${bytesText(control.bounded)} when its max_length fields are filled with control characters; ${limit}`, `${fail}; each is printed as \\u00XX (6 bytes), and traits come from the user; lower max_length, or forbid control characters in your identity schema (docs/kratos.md#jsonnet-bodies)`);
  }
  const structured = unbounded.filter((f) => "structured" in f && f.structured);
  // Unbounded strings are common (a trait without max_length) and rarely large: warned about only
  // once the bounded part has used half of the limit. Objects (traits, flow.ui, headers) are warned about always.
  const risky = size.bounded * 2 >= size.limit ? unbounded : structured;
  if (risky.length > 0) {
    r.warn([...at, "body"], "key", `${risky.map((f) => f.name).join(", ")} ${risky.length === 1 ? "has" : "have"} no size bound, so the body could pass the limit: ${limit}`, `${fail}; send only the keys you need, and give string fields a max_length as in your identity schema (docs/kratos.md#jsonnet-bodies)`);
  }
}

// Dedupe -------------------------------------------------------------------------------------------

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * A hand-written body gets nothing added, and may send flow.id without declaring it (its `body`
 * only types fields): a warning when neither the declaration nor the file's text has it.
 */
function checkExecutionCarried(hook: HookDecl, at: ConfigPath, v: Version, emit: boolean | undefined, dir: string, r: Reporter): void {
  const plan = dedupePlan(hook, v, emit);
  if (missingCarriers(plan).length === 0 || hook.jsonnet === undefined) return;
  const text = readText(resolvePath(dir, hook.jsonnet));
  if (text === undefined) return; // reported by semantics.ts
  // `flow.id` or `flow["id"]`, `identity.updated_at`: the last two segments of the path, as Jsonnet writes member access.
  const mentions = (p: string) => {
    const [a, b] = p.split(".").slice(-2) as [string, string];
    return new RegExp(`\\b${a}\\s*(\\.\\s*${b}\\b|\\[\\s*["']${b}["']\\s*\\])`).test(text);
  };
  const missing = missingCarriers(plan).filter((p) => !mentions(p));
  if (missing.length === 0) return;
  r.warn(
    [...at, "jsonnet"],
    "value",
    `without an Ory-Webhook-Trigger-Id the receiver dedupes on the body, and this body seems to carry no ${missing.join(" or ")}: two real events with the same body would run the actions once`,
    `send ${missing.map((p) => `${p.replace(".", "_")}: ctx.${p}`).join(" and ")} from your Jsonnet and declare ${missing.length === 1 ? "it" : "them"} under body (e.g. ${missing[0]!.replace(".", "_")}: ${missing[0]}), or set dedupe.key; Kratos sends the header from v25.4.0 with emit_analytics_event on (docs/kratos.md#retries)`,
  );
}
