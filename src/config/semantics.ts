// Checks hooks.yaml against what Kratos can actually do. Filled in below.
import type { ConfigError } from "../errors.ts";
import type { HooksFile } from "./model.ts";
import type { Env } from "./resolve.ts";
import type { SourceMap } from "./source-map.ts";

export type SemanticsContext = { dir: string; env: Env; cwd: string };

export function checkSemantics(raw: HooksFile, map: SourceMap, c: SemanticsContext): { errors: ConfigError[]; warnings: ConfigError[] } {
  void raw; void map; void c;
  return { errors: [], warnings: [] };
}
