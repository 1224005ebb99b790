// `kratos-hooks generate`: hooks.yaml → the Kratos config (hook lists), one Jsonnet body per hook,
// and the env var names that carry the secrets. Deterministic and free of Bun APIs: the same input
// gives the same bytes under Bun, the compiled binary and Deno.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import process from "node:process";
import { defineCommand, configFlag, configPath } from "./command.ts";
import { UsageError } from "../errors.ts";
import { loadConfig } from "../config/load.ts";
import type { ResolvedConfig } from "../config/types.ts";
import { emitBody } from "../kratos/jsonnet.ts";
import { bodyRef, configTree, envFileText, envLines, generateLists, kratosConfigText, type ListEntry } from "../kratos/config-emit.ts";
import { mergeInto } from "../kratos/merge-into.ts";
import { validateGenerated } from "../kratos/validate-output.ts";
import { helmValues, helmValuesText } from "../kratos/helm-values.ts";
import { unifiedDiff } from "../line-diff.ts";
import { parse as parseYaml } from "yaml";
import { compareVersions, parseVersion, rulesTag } from "../kratos/versions.ts";

export const KRATOS_CONFIG_FILE = "kratos-hooks.kratos.yml";
export const ENV_FILE = "kratos-hooks.env";
const GENERATED_MARK = /^\/\/ (Generated|Copied) by kratos-hooks /;

export type GenerateOptions = {
  /** Directory of the bodies and the env file (and the Kratos config unless `into`). */
  out: string;
  /** Overrides kratos.body.file_dir. */
  bodyDir?: string;
  /** A hand-written Kratos config to update in place instead of writing kratos-hooks.kratos.yml. */
  into?: string;
  /** Also write values for Ory's Kratos Helm chart here (inline bodies, secrets via secretKeyRef). */
  helmValues?: string;
  /** Where non-fatal notes go (a version mismatch within the same rules); default: dropped. */
  warn?: (message: string) => void;
  /** Directory relative command-line paths resolve against; default the working directory. */
  cwd?: string;
};

/**
 * A path as generated headers name it: relative to hooks.yaml's directory, with `/` (hooks.yaml
 * itself by its name, a hand-written body as hooks.yaml names it). Never the path as typed on the
 * command line, nor relative to --out: the same input gives the same bytes from any working
 * directory and into any --out, so `generate --check` and CI's diff of two outputs hold.
 */
function relPath(base: string) {
  return (abs: string) => relative(base, abs).split(sep).join("/") || ".";
}

/** Every file generate owns, path → content, plus the final lists (tests read them). */
export function generateFiles(config: ResolvedConfig, opts: GenerateOptions): { files: Map<string, string>; lists: Map<string, ListEntry[]> } {
  const cwd = opts.cwd ?? process.cwd();
  const rel = relPath(config.dir);
  if (opts.bodyDir !== undefined && !opts.bodyDir.startsWith("/")) {
    throw new UsageError(`--body-dir must be an absolute path, got '${opts.bodyDir}'`, "Kratos resolves file:// bodies against its own working directory (docs/kratos.md#body-source)");
  }
  const bodies = new Map(config.hooks.map((h) => [h.name, emitBody({ config, hook: h, rel })]));
  const ref = bodyRef(config, bodies, opts.bodyDir);
  const files = new Map<string, string>();
  const out = resolve(cwd, opts.out);
  for (const [name, text] of bodies) files.set(join(out, `${name}.jsonnet`), text);
  const source = rel(config.file);
  let lists: Map<string, ListEntry[]>;
  if (opts.into !== undefined) {
    const into = resolve(cwd, opts.into);
    let text: string;
    try {
      text = readFileSync(into, "utf8");
    } catch {
      throw new UsageError(`cannot read --into file ${opts.into}`);
    }
    checkIntoVersion(text, config, opts.into, opts.warn);
    const merged = mergeInto(text, config, ref, opts.into);
    files.set(into, merged.text);
    lists = merged.lists;
  } else {
    lists = generateLists(config, ref);
    files.set(join(out, KRATOS_CONFIG_FILE), kratosConfigText(configTree(config, lists), source));
  }
  files.set(join(out, ENV_FILE), envFileText(envLines(lists), source));
  if (opts.helmValues !== undefined) files.set(resolve(cwd, opts.helmValues), helmValuesText(helmValues(config, bodies).values, source));
  return { files, lists };
}

/**
 * A Kratos config names the version it was written for (`version:` at the top). generate emits
 * keys by kratos.version, so a target newer than that file, under other rules, would splice in keys
 * the file's Kratos rejects (`id:` before v25.4.0): refuse. Any other disagreement (an older
 * target, another patch release) is a warning: the lists are valid, the user may not mean it.
 */
function checkIntoVersion(text: string, config: ResolvedConfig, into: string, warn: ((message: string) => void) | undefined): void {
  let declared: unknown;
  try {
    declared = (parseYaml(text) as { version?: unknown } | null)?.version;
  } catch {
    return; // mergeInto reports the syntax error with its position
  }
  if (declared === undefined || declared === null) return;
  const target = config.kratos.version;
  const v = parseVersion(String(declared).trim());
  const hint = `set kratos.version in hooks.yaml to the Kratos that reads ${into}, or update its version: (docs/kratos.md#version-differences)`;
  if (!v) throw new UsageError(`${into} says version: ${String(declared)}, which is not a Kratos version (hooks.yaml targets ${target.text})`, hint);
  const newer = target.head ? !v.head : !v.head && compareVersions(target, v) > 0;
  if (newer && rulesTag(v) !== rulesTag(target)) {
    throw new UsageError(`${into} is for Kratos ${v.text}, but hooks.yaml targets ${target.text}: the generated lists would hold keys that Kratos ${v.text} rejects`, hint);
  }
  if (v.text !== target.text) {
    warn?.(`${into} is for Kratos ${v.text} and hooks.yaml targets ${target.text}; ${rulesTag(v) === rulesTag(target) ? "both follow the same rules" : `the lists follow ${target.text}'s rules (what Kratos ${v.text} accepts, but not what it offers)`}`);
  }
}

/** Bodies we wrote earlier for hooks that no longer exist. */
function staleBodies(out: string, files: ReadonlyMap<string, string>): string[] {
  if (!existsSync(out)) return [];
  return readdirSync(out)
    .filter((f) => f.endsWith(".jsonnet"))
    .map((f) => join(out, f))
    .filter((p) => !files.has(p) && GENERATED_MARK.test(readFileSync(p, "utf8")))
    .sort();
}

function readOrEmpty(p: string): string | undefined {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return undefined;
  }
}

export const command = defineCommand({
  name: "generate",
  summary: "Write the Kratos hook config and Jsonnet bodies from hooks.yaml (or --check them).",
  usage: "kratos-hooks generate --config <hooks.yaml> --out <dir> [--into <kratos.yml>] [--body-dir <dir>] [--helm-values <file>] [--check]",
  flags: {
    config: configFlag("to read"),
    out: { type: "string", short: "o", placeholder: "<dir>", description: "Directory for the bodies, kratos-hooks.kratos.yml and kratos-hooks.env." },
    into: { type: "string", placeholder: "<kratos.yml>", description: "Update the hook lists of this Kratos config in place instead of writing kratos-hooks.kratos.yml." },
    "body-dir": { type: "string", placeholder: "<dir>", description: "Absolute directory where Kratos reads the bodies (overrides kratos.body)." },
    "helm-values": { type: "string", placeholder: "<file>", description: "Also write values for Ory's Kratos Helm chart: kratos.config hook lists, inline bodies, deployment.extraEnv." },
    check: { type: "boolean", description: "Write nothing; exit 1 with a diff if any output is not current." },
  },
  details: `Files in --out:
  <hook>.jsonnet          the body Kratos sends, function(ctx) ... (docs/kratos.md#jsonnet-bodies)
  kratos-hooks.kratos.yml complete hook lists; load after your config: kratos serve -c kratos.yml -c kratos-hooks.kratos.yml
  kratos-hooks.env        the Kratos env var overriding each secret, set by reference (\${SECRET_ENV})
Before anything is written, the lists are validated against Kratos's own config schema for
kratos.version (embedded). With clients.http.disallow_private_ip_ranges on in the --into file, each
hook URL is added to clients.http.private_ip_exception_urls (docs/kratos.md#private-ip-guard).
Secrets never appear in any generated file.`,
  async run({ flags }) {
    const out = flags.out as string | undefined;
    if (!out) throw new UsageError("generate needs --out <dir>", "e.g. kratos-hooks generate --config config/hooks.yaml --out jsonnet");
    const configFile = configPath(flags);
    const config = loadConfig(configFile);
    const opts: GenerateOptions = { out, bodyDir: flags["body-dir"] as string | undefined, into: flags.into as string | undefined, helmValues: flags["helm-values"] as string | undefined, warn: (m) => process.stderr.write(`kratos-hooks: warning: ${m}\n`) };
    const { files, lists } = generateFiles(config, opts);
    await validateGenerated(config, lists); // Kratos's own schema for the target version, before anything is written
    const outDir = resolve(out);
    const stale = staleBodies(outDir, files);
    const cwd = process.cwd();
    const show = (p: string) => (isAbsolute(p) ? relative(cwd, p) || p : p);

    if (flags.check) {
      const diffs: string[] = [];
      for (const [path, text] of files) {
        const disk = readOrEmpty(path);
        if (disk !== text) diffs.push(unifiedDiff(disk ?? "", text, disk === undefined ? "/dev/null" : `${show(path)} (on disk)`, `${show(path)} (generated)`));
      }
      for (const p of stale) diffs.push(unifiedDiff(readFileSync(p, "utf8"), "", `${show(p)} (on disk)`, "/dev/null"));
      if (diffs.length === 0) {
        process.stdout.write(`generate --check: ${files.size} files are current\n`);
        return 0;
      }
      process.stdout.write(diffs.join(""));
      process.stderr.write(`generate --check: ${diffs.length} file(s) out of date\n  hint: run 'kratos-hooks generate ${["--config", configFile, "--out", out, ...(opts.into ? ["--into", opts.into] : []), ...(opts.bodyDir ? ["--body-dir", opts.bodyDir] : []), ...(opts.helmValues ? ["--helm-values", opts.helmValues] : [])].join(" ")}'\n`);
      return 1;
    }

    mkdirSync(outDir, { recursive: true });
    let changed = 0;
    let intoChanged = false;
    const intoPath = opts.into !== undefined ? resolve(opts.into) : undefined;
    for (const [path, text] of files) {
      if (readOrEmpty(path) === text) continue;
      writeFileSync(path, text);
      changed++;
      if (path === intoPath) intoChanged = true;
    }
    for (const p of stale) rmSync(p);
    process.stdout.write(`generate: ${files.size} files (${changed} changed${stale.length ? `, ${stale.length} stale removed` : ""})${opts.into ? `, ${opts.into} ${intoChanged ? "updated" : "unchanged"}` : ""}\n`);
    return 0;
  },
});
