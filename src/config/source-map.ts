// Where each key and value of hooks.yaml sits in the file, so every error can name
// file:line:column and the dotted path of the thing it is about.
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair, type YAMLMap } from "yaml";
import { ConfigError, type Located } from "../errors.ts";

/** A path into the document: map keys and list indexes, e.g. ["hooks", "welcome", "methods", 1]. */
export type ConfigPath = ReadonlyArray<string | number>;

/** `hooks.welcome.methods[1]`; keys that are not plain names are quoted: `builtin_hooks["login.after"]`. */
export function formatPath(path: ConfigPath): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Maps with more pairs than this are looked up through an index (see SourceMap.pairOf). */
const INDEX_FROM = 16;

export class SourceMap {
  constructor(
    /** The file name as errors show it (as the user gave it). */
    readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  locate(offset: number): Located {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, col };
  }

  /**
   * The position of the key (`part: "key"`) or the value at `path`. When the path does not exist
   * (a missing key), the position of its nearest existing ancestor's key.
   */
  at(path: ConfigPath, part: "key" | "value" = "value"): Located {
    let node: unknown = this.doc.contents;
    let keyNode: Node | undefined;
    for (const seg of path) {
      node = this.deref(node);
      if (isMap(node)) {
        const pair = this.pairOf(node, String(seg));
        if (!pair) return this.pos(keyNode ?? (node as Node));
        keyNode = pair.key as Node;
        node = pair.value ?? undefined;
        if (node === undefined) return this.pos(keyNode);
      } else if (isSeq(node) && typeof seg === "number" && node.items[seg] !== undefined) {
        node = node.items[seg];
        keyNode = node as Node;
      } else {
        return this.pos(keyNode ?? (node as Node | undefined));
      }
    }
    if (part === "key" && keyNode) return this.pos(keyNode);
    return this.pos((node as Node | undefined) ?? keyNode);
  }

  /** The path of the innermost key or item whose node contains `offset`, for YAML-level errors. */
  pathAt(offset: number): (string | number)[] {
    const path: (string | number)[] = [];
    let node: unknown = this.doc.contents;
    for (;;) {
      if (isMap(node)) {
        const pair = node.items.find((p) => {
          const start = (p.key as Node | null)?.range?.[0];
          const end = (p.value as Node | null)?.range?.[2] ?? (p.key as Node | null)?.range?.[2];
          return start !== undefined && end !== undefined && start <= offset && offset <= end;
        });
        if (!pair || !isScalar(pair.key)) return path;
        path.push(String(pair.key.value));
        node = pair.value;
      } else if (isSeq(node)) {
        const i = node.items.findIndex((item) => {
          const r = (item as Node | null)?.range;
          return r != null && r[0] <= offset && offset <= r[2];
        });
        if (i < 0) return path;
        path.push(i);
        node = node.items[i];
      } else {
        return path;
      }
    }
  }

  error(path: ConfigPath, part: "key" | "value", message: string, hint?: string): ConfigError {
    return new ConfigError(message, this.at(path, part), path.length ? formatPath(path) : undefined, hint);
  }

  /**
   * The first pair of `node` whose key is `key`. Large maps get an index on first use: the loader
   * asks for every hook's key (resolve, env needs), and a scan of `hooks:` per hook is quadratic.
   */
  private pairOf(node: YAMLMap, key: string): Pair | undefined {
    if (node.items.length <= INDEX_FROM) return node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
    let index = this.index.get(node);
    if (index === undefined) {
      index = new Map();
      for (const p of node.items) if (isPair(p) && isScalar(p.key) && !index.has(String(p.key.value))) index.set(String(p.key.value), p);
      this.index.set(node, index);
    }
    return index.get(key);
  }

  private readonly index = new WeakMap<YAMLMap, Map<string, Pair>>();

  private deref(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.doc) : node;
  }

  private pos(node: Node | undefined): Located {
    const start = node?.range?.[0];
    return start === undefined ? { file: this.file, line: 1, col: 1 } : this.locate(start);
  }
}

/** Errors first by position in the file, so the first one printed is the first one to fix. */
export function byPosition(a: ConfigError, b: ConfigError): number {
  return (a.at?.line ?? 0) - (b.at?.line ?? 0) || (a.at?.col ?? 0) - (b.at?.col ?? 0);
}
