// Names of the environment variables that override Kratos config values. CONTRACT §7: Kratos
// lower-cases each variable name, turns every `_` into `.` and matches it against the config
// paths of its schema (whose own `_` also become `.`), a numeric segment being an array index.
// So the name is the dotted path upper-cased with `.` → `_` and indices written as numbers.

export type ConfigPath = ReadonlyArray<string | number>;

/** `["selfservice","flows","login","after","password","hooks",0,"config","auth","config","value"]` → `SELFSERVICE_FLOWS_LOGIN_AFTER_PASSWORD_HOOKS_0_CONFIG_AUTH_CONFIG_VALUE`. */
export function kratosEnvName(path: ConfigPath): string {
  return path.map((seg) => String(seg).replaceAll(".", "_").toUpperCase()).join("_");
}

/** The config path of a hook list, e.g. `registration.after.password` → selfservice.flows.registration.after.password.hooks. */
export function hookListPath(listKey: string): string[] {
  return ["selfservice", "flows", ...listKey.split("."), "hooks"];
}

/**
 * One line of a POSIX-sh / dotenv file assigning `name` from other variables by reference:
 * `NAME="Bearer ${KRATOS_HOOKS_SECRET}"`. Literal parts are escaped for double quotes, so only the
 * named variables expand; the file holds names, never a secret value.
 */
export function envAssignment(name: string, parts: ReadonlyArray<{ literal: string } | { env: string }>): string {
  const value = parts.map((p) => ("env" in p ? `\${${p.env}}` : p.literal.replace(/[\\"$`]/g, (c) => `\\${c}`))).join("");
  return `${name}="${value}"`;
}
