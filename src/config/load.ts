// Loading hooks.yaml: YAML → model (TypeBox) → semantic checks (Kratos rules) → ResolvedConfig.
// Every user mistake becomes a ConfigError with file:line:column, the dotted path, a message and a
// hint; all errors of a stage are reported together (a later stage needs the earlier one clean).
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { isAlias, isCollection, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair, type YAMLError, type YAMLMap } from "yaml";
import { ConfigError, ConfigErrors, UsageError } from "../errors.ts";
import type { HooksFile } from "./model.ts";
import { resolveConfig, type Env } from "./resolve.ts";
import { schemaIssues } from "./schema-errors.ts";
import { checkSemantics } from "./semantics.ts";
import { envNeeds } from "./env-needs.ts";
import { byPosition, formatPath, SourceMap } from "./source-map.ts";
import { parseSimpleYaml } from "./simple-yaml.ts";
import type { ResolvedConfig } from "./types.ts";

export type LoadOptions = {
  /** Environment for KRATOS_HOOKS_STORE / KRATOS_HOOKS_LISTEN; default process.env. */
  env?: Env;
  /** Directory relative paths on the command line (and sqlite: stores) resolve against; default process.cwd(). */
  cwd?: string;
};

/** Read, validate and resolve hooks.yaml. Throws ConfigErrors (every error found) on a mistake in it, UsageError when it cannot be read. */
export function loadConfig(path: string, options: LoadOptions = {}): ResolvedConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : code === "EACCES" ? "permission denied" : String((err as Error).message);
    // Not a mistake inside hooks.yaml (there is no file:line to name): a usage error, exit 2.
    throw new UsageError(`cannot read ${path}: ${why}`, "pass the path of your hooks.yaml with --config <file>");
  }
  return loadConfigText(text, path, options);
}

/** Like loadConfig, for text already in memory; `file` names it in errors and anchors relative paths. */
export function loadConfigText(text: string, file: string, options: LoadOptions = {}): ResolvedConfig {
  // Plain YAML is read by simple-yaml.ts, ~10x faster cold than the yaml package, into the same
  // nodes at the same offsets (warnings name those). A file with an error is read again by the
  // package, so that every error, and the path a YAML-level error names, comes from its reading.
  const simple = parseSimpleYaml(text);
  if (simple) {
    try {
      return loadDocument(simple.doc, simple.lines, text, file, options);
    } catch {
      // read again below
    }
  }
  const lines = new LineCounter();
  // merge: `<<: *base` lets hooks share settings, as in most YAML tools (YAML 1.1 merge keys).
  // uniqueKeys off: the yaml package checks each key against every earlier one (quadratic, half the
  // load time of a 1,000-hook file); yamlShapeErrors finds duplicates with one Set per map instead.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false, merge: true });
  return loadDocument(doc, lines, text, file, options);
}

function loadDocument(doc: Document, lines: LineCounter, text: string, file: string, options: LoadOptions): ResolvedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const map = new SourceMap(file, doc, lines);

  // A YAML syntax error throws the parser off for the rest of the file (one tab gave 13 errors, all
  // but the first about lines that are fine): report the first, which is the one to fix.
  if (doc.errors.length > 0) fail([yamlError(doc.errors[0]!, map, text)]);
  if (doc.contents === null) fail([new ConfigError("the file is empty", { file, line: 1, col: 1 }, undefined, "start from config/hooks.yaml in the kratos-hooks repository")]);

  const shapeErrors = yamlShapeErrors(doc, map, text);
  if (shapeErrors.length > 0) fail(shapeErrors);

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    fail([new ConfigError(`YAML: ${(err as Error).message}`, { file, line: 1, col: 1 }, undefined, "check the &anchor / *alias pairs")]);
  }

  const issues = schemaIssues(raw);
  if (issues.length > 0) fail(issues.map((i) => map.error(i.path, i.part, i.message, i.hint)));

  const dir = resolveDir(file, cwd);
  const { errors, warnings } = checkSemantics(raw as HooksFile, map, { dir, env, cwd });
  if (errors.length > 0) fail(errors);

  const config = { ...resolveConfig(raw as HooksFile, file, map, env, cwd), envNeeds: envNeeds(raw as HooksFile, map) };
  return warnings.length > 0 ? { ...config, warnings: warnings.sort(byPosition) } : config;
}

/**
 * Valid YAML that cannot be hooks.yaml data, found before conversion (which would throw or warn):
 * a duplicate key, an alias without its anchor, and a map or list used as a key, which is what an
 * unquoted `{{ body.email }}` template is in YAML.
 */
function yamlShapeErrors(doc: Document, map: SourceMap, text: string): ConfigError[] {
  const errors: ConfigError[] = [];
  const at = (node: Node | null | undefined) => node?.range?.[0] ?? 0;
  const pathOf = (offset: number) => formatPath(map.pathAt(offset)) || undefined;
  const duplicates = (node: YAMLMap) => {
    const seen = new Set<unknown>();
    for (const pair of node.items) {
      if (!isScalar(pair.key) || pair.key.value === "<<") continue;
      if (!seen.has(pair.key.value)) {
        seen.add(pair.key.value);
        continue;
      }
      const offset = at(pair.key);
      errors.push(new ConfigError(`YAML: duplicate key '${String(pair.key.value)}'`, map.locate(offset), formatPath(map.pathAt(offset).slice(0, -1)) || undefined, YAML_HINTS.DUPLICATE_KEY));
    }
  };
  const pair = (p: Pair) => {
    if (!isCollection(p.key)) {
      walk(p.key);
      walk(p.value);
      return;
    }
    // The key's range starts after the outer "{" of "{{"; look back for the template.
    const start = at(p.key as Node);
    const from = text.lastIndexOf("{", start - 1) === start - 1 ? start - 1 : start;
    const template = /^\{\{[^{}\n]*\}\}/.exec(text.slice(from))?.[0];
    errors.push(
      template
        ? new ConfigError(`YAML: the unquoted template ${template} is read as a map`, map.locate(from), pathOf(from), `quote it: "${template}"`)
        : new ConfigError("YAML: a map or list used as a key", map.locate(start), pathOf(start), "keys are plain names; quote the text if it starts with { or ["),
    );
  };
  // A plain walk rather than yaml's visit(), which freezes a copy of the path at every node: a
  // fifth of the load time of a 1,000-hook file.
  const walk = (node: unknown): void => {
    if (isMap(node)) {
      duplicates(node);
      for (const p of node.items) pair(p);
    } else if (isSeq(node)) {
      for (const item of node.items) isPair(item) ? pair(item) : walk(item);
    } else if (isAlias(node)) {
      if (!node.resolve(doc)) errors.push(new ConfigError(`YAML: alias *${node.source} has no anchor &${node.source} before it`, map.locate(at(node)), pathOf(at(node)), "define the anchor (&name) before using the alias (*name)"));
    }
  };
  walk(doc.contents);
  return errors;
}

function resolveDir(file: string, cwd: string): string {
  return dirname(resolve(cwd, file));
}

function fail(errors: ConfigError[]): never {
  throw new ConfigErrors(errors.sort(byPosition));
}

const YAML_HINTS: Record<string, string> = {
  DUPLICATE_KEY: "each key may appear once per map; merge the two entries",
  TAB_AS_INDENT: "indent with spaces, not tabs",
  MULTIPLE_DOCS: "hooks.yaml is one YAML document; remove the '---' separator",
  BAD_INDENT: "check the indentation and that every [ or { is closed",
  MISSING_CHAR: "close the quote or bracket",
  BLOCK_AS_IMPLICIT_KEY: "check the indentation of this line and the one above",
  MULTILINE_IMPLICIT_KEY: "a key must fit on one line; check the indentation and the colon after it",
};

function yamlError(e: YAMLError, map: SourceMap, text: string): ConfigError {
  const path = map.pathAt(e.pos[0]);
  let message = e.message;
  if (e.code === "MULTIPLE_DOCS") message = "the file holds more than one YAML document";
  if (e.code === "DUPLICATE_KEY") {
    const key = /^[^\s:#,\]}]+|^"[^"]*"|^'[^']*'/.exec(text.slice(e.pos[0]))?.[0] ?? "";
    message = `duplicate key ${key ? `'${key.replace(/^["']|["']$/g, "")}'` : ""}`.trim();
  }
  // For a duplicate key, pathAt finds the first occurrence; name the map that holds both.
  // A tab ends the structure the path would be read from, so the path would name the key before it.
  const where = e.code === "DUPLICATE_KEY" ? path.slice(0, -1) : e.code === "MULTIPLE_DOCS" || e.code === "TAB_AS_INDENT" ? [] : path;
  return new ConfigError(`YAML: ${message}`, map.locate(e.pos[0]), where.length ? formatPath(where) : undefined, YAML_HINTS[e.code]);
}
