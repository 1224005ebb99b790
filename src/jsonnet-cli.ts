// Finding and running the `jsonnet` executable (Debian's C++ jsonnet or go-jsonnet; both take
// `--tla-code-file`). Kratos evaluates bodies with ctx as a top-level argument (CONTRACT §3.1), so
// do we: `jsonnet --tla-code-file ctx=<file> <body.jsonnet>`.
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import process from "node:process";
import { UsageError } from "./errors.ts";

/** Env var naming the jsonnet executable explicitly. */
export const JSONNET_ENV = "KRATOS_HOOKS_JSONNET";

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The jsonnet executable: $KRATOS_HOOKS_JSONNET, else `jsonnet` on PATH. */
export function findJsonnet(env: Record<string, string | undefined> = process.env): string {
  const explicit = env[JSONNET_ENV];
  if (explicit) {
    if (executable(explicit)) return explicit;
    throw new UsageError(`${JSONNET_ENV}=${explicit} is not an executable file`);
  }
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir && executable(join(dir, "jsonnet"))) return join(dir, "jsonnet");
  }
  throw new UsageError("no `jsonnet` executable on PATH", `install one (Debian: apt-get install jsonnet; or go-jsonnet's jsonnet), or set ${JSONNET_ENV}`);
}

export type JsonnetResult =
  | { kind: "ok"; json: string }
  /** The template raised `error "cancel"`: Kratos sends nothing (CONTRACT §3.5). */
  | { kind: "cancel" }
  | { kind: "error"; message: string };

/** Evaluates `bodyFile` with `ctx` bound to the JSON in `ctxFile`, as Kratos does. */
export function evalBody(bodyFile: string, ctxFile: string, jsonnet = findJsonnet()): JsonnetResult {
  const r = spawnSync(jsonnet, ["--tla-code-file", `ctx=${ctxFile}`, bodyFile], { encoding: "utf8", timeout: 10_000 });
  if (r.error) return { kind: "error", message: r.error.message };
  if (r.status === 0) return { kind: "ok", json: r.stdout };
  const message = `${r.stderr}${r.stdout}`.trim();
  // Kratos's own test: any error text containing "RUNTIME ERROR: cancel" cancels (request/builder.go:159-164).
  if (message.includes("RUNTIME ERROR: cancel")) return { kind: "cancel" };
  return { kind: "error", message };
}
