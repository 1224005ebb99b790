// Every environment variable serve reads, with where hooks.yaml asks for it: auth secrets
// (secret_env, password_env) for the receiver, `{{ env.X }}` in actions and enrich patches and
// smtp password_env for the delivery worker. Found once at load, so `serve` can refuse to start
// with every missing one listed (instead of starting and failing each job later), and `check` can
// say the same in advance.
import { ConfigError, type Located } from "../errors.ts";
import { templateRefs } from "../template.ts";
import type { HooksFile } from "./model.ts";
import { formatPath, type ConfigPath, type SourceMap } from "./source-map.ts";

export type EnvNeed = {
  name: string;
  /** Who reads it: the receiver (auth) or the delivery worker (actions, smtp, enrich templates). */
  by: "receiver" | "worker";
  what: string;
  at: Located;
  path: string;
};

export function envNeeds(raw: HooksFile, map: SourceMap): EnvNeed[] {
  const out: EnvNeed[] = [];
  const add = (name: string, by: EnvNeed["by"], what: string, path: ConfigPath) => out.push({ name, by, what, at: map.at(path, "value"), path: formatPath(path) });
  const templates = (value: unknown, by: EnvNeed["by"], what: string, path: ConfigPath): void => {
    if (typeof value === "string") {
      for (const ref of templateRefs(value)) if (ref.kind === "env") add(ref.name, by, what, path);
    } else if (Array.isArray(value)) value.forEach((x, i) => templates(x, by, what, [...path, i]));
    else if (value && typeof value === "object") for (const [k, x] of Object.entries(value)) templates(x, by, what, [...path, k]);
  };
  let defaultSmtpUsed = false;
  for (const [name, hook] of Object.entries(raw.hooks)) {
    const at: ConfigPath = ["hooks", name];
    if (hook.auth?.type === "api_key") add(hook.auth.secret_env, "receiver", `the api key of hook '${name}'`, [...at, "auth", "secret_env"]);
    if (hook.auth?.type === "basic_auth") add(hook.auth.password_env, "receiver", `the basic auth password of hook '${name}'`, [...at, "auth", "password_env"]);
    (hook.enrich ?? []).forEach((step, i) => {
      for (const which of ["metadata_public", "metadata_admin"] as const) templates(step[which], "receiver", `an enrich template of hook '${name}'`, [...at, "enrich", i, which]);
    });
    (hook.actions ?? []).forEach((action, i) => {
      const kind = "http" in action ? "http" : "email" in action ? "email" : "exec";
      const label = `action ${action.name ?? i} of hook '${name}'`;
      const decl = (action as Record<string, unknown>)[kind] as Record<string, unknown>;
      templates(kind === "email" ? { ...decl, smtp: undefined } : decl, "worker", label, [...at, "actions", i, kind]);
      if ("email" in action) {
        if (action.email.smtp?.password_env) add(action.email.smtp.password_env, "worker", `the smtp password of ${label}`, [...at, "actions", i, "email", "smtp", "password_env"]);
        if (!action.email.smtp) defaultSmtpUsed = true;
      }
    });
  }
  const smtp = raw.serve?.smtp;
  if (defaultSmtpUsed && smtp?.password_env) add(smtp.password_env, "worker", "the serve.smtp password", ["serve", "smtp", "password_env"]);
  return out;
}

/**
 * The needs `env` does not meet: one located error per variable, at its first use, naming the
 * other uses (line:col and path) in the hint. `worker: false` (serve --no-worker) skips what only
 * the worker reads. An empty value counts as unset, as for auth.
 */
export function missingEnv(needs: readonly EnvNeed[], env: Record<string, string | undefined>, opts: { worker?: boolean } = {}): ConfigError[] {
  const byName = new Map<string, EnvNeed[]>();
  for (const n of needs) {
    if (opts.worker === false && n.by !== "receiver") continue;
    if (env[n.name] !== undefined && env[n.name] !== "") continue;
    byName.set(n.name, [...(byName.get(n.name) ?? []), n]);
  }
  return [...byName.entries()].map(([name, uses]) => {
    const [first, ...more] = uses as [EnvNeed, ...EnvNeed[]];
    const also = more.length ? `; also used by ${more.map((m) => `${m.at.line}:${m.at.col} ${m.path}`).join(", ")}` : "";
    const auth = uses.some((u) => /\.auth\./.test(u.path)) ? "; Kratos must send the same value" : "";
    return new ConfigError(`environment variable ${name} is not set (${first.what}${more.length ? ` and ${more.length} more` : ""})`, first.at, first.path, `export ${name}=... before 'kratos-hooks serve'${auth}${also}`);
  });
}
