// Which Jsonnet standard library functions Kratos's Jsonnet engine has, per Kratos version. Kratos
// evaluates bodies with go-jsonnet v0.19.0 (v1.0.0), v0.20.0 (v1.1.0-v1.3.1) and v0.21.0 (v25.4.0
// and later) (CONTRACT §3.1). A hand-written body that calls a function its go-jsonnet lacks fails
// with "field does not exist" on every call, and so does every flow with the hook.
//
// The lists are the differences between the std library (stdlib/std.jsonnet of the jsonnet commit
// go-jsonnet vendors, plus the natives of go-jsonnet's builtins.go) at go-jsonnet v0.19.0, v0.20.0
// and v0.21.0, read in their sources. Only additions are listed: nothing was removed.
import { atLeast, type Version } from "./versions.ts";

/** go-jsonnet release → the Kratos version that first ships it. */
const ENGINE_SINCE = { "v0.20.0": "v1.1.0", "v0.21.0": "v25.4.0" } as const;

/** std functions added after go-jsonnet v0.19.0, with the release that added them. */
const ADDED: Record<string, keyof typeof ENGINE_SINCE> = Object.fromEntries([
  ...["escapeStringXML", "isEmpty", "objectKeysValues", "objectKeysValuesAll", "round", "sum", "xnor", "xor"].map((f) => [f, "v0.20.0"] as const),
  ...[
    "atan2", "avg", "contains", "deg2rad", "equalsIgnoreCase", "flattenDeepArray", "hypot", "isDecimal", "isEven", "isInteger", "isOdd",
    "log10", "log2", "maxArray", "minArray", "objectRemoveKey", "rad2deg", "remove", "removeAt", "sha1", "sha256", "sha3", "sha512", "trim",
  ].map((f) => [f, "v0.21.0"] as const),
]);

/** The go-jsonnet release Kratos `v` evaluates bodies with. */
export function jsonnetEngineAt(v: Version): string {
  return atLeast(v, ENGINE_SINCE["v0.21.0"]) ? "v0.21.0" : atLeast(v, ENGINE_SINCE["v0.20.0"]) ? "v0.20.0" : "v0.19.0";
}

/** Why `std.<name>` is missing at `v`, or undefined when Kratos `v` has it (or it is not a function we know was added). */
export function missingStdFunction(name: string, v: Version): { engine: string; addedIn: string; kratosSince: string } | undefined {
  const added = ADDED[name];
  if (!added || atLeast(v, ENGINE_SINCE[added])) return undefined;
  return { engine: jsonnetEngineAt(v), addedIn: added, kratosSince: ENGINE_SINCE[added] };
}
