// A fast reader for the plain YAML most hooks.yaml files are written in, building the same
// document (nodes and source ranges) as the `yaml` package, which stays the reader of record.
//
// Why: the `yaml` package's parse was two thirds of `generate` for 1,000 hooks, 0.4-0.5 s cold
// (bench/results/cold-start.md). This reads block maps and lists, one-line flow maps and lists,
// quoted and plain scalars, `|` and `|-` literals, and comments. Anything else (anchors, aliases,
// tags, folded scalars, merge keys, multi-line plain scalars, numbers other than small unsigned
// integers, nulls, tabs, document markers, anything unusual) makes it give up, and load.ts parses
// the text with the `yaml` package.
// load.ts also does so whenever the file has an error, so that every error message comes from the
// package's reading of the file. test/config/simple-yaml.test.ts checks values and node offsets
// against the package's, on every YAML file of the repository and on mutations of them.
import { Document, LineCounter, Pair, Scalar, YAMLMap, YAMLSeq } from "yaml";

type Node = Scalar | YAMLMap | YAMLSeq;

/** Thrown (and caught below) where the text leaves the subset read here. */
const GIVE_UP = Symbol("give up");

// The `yaml` package's core schema (yaml/dist/schema/core): a plain scalar matching one of these is
// not a string. Null and booleans are read here; the other numbers are left to the package.
const NULL = /^(?:~|[Nn]ull|NULL)?$/;
const TRUE = /^(?:[Tt]rue|TRUE)$/;
const FALSE = /^(?:[Ff]alse|FALSE)$/;
const SMALL_INT = /^[0-9]{1,15}$/;
const OTHER_NUMBER = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+|[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)|0o[0-7]+|[-+]?[0-9]+|0x[0-9a-fA-F]+)$/;
/** Keys read here: names that the core schema reads as strings. */
const KEY = /[A-Za-z_][A-Za-z0-9_.\-/]*/y;
const SPECIAL_KEYS = new Set(["true", "True", "TRUE", "false", "False", "FALSE", "null", "Null", "NULL"]);

/** The document the `yaml` package would build for `text`, or undefined when `text` is outside the subset. */
export function parseSimpleYaml(text: string): { doc: Document; lines: LineCounter } | undefined {
  if (/[\t\r\u00a0\ufeff]/.test(text) || /^(?:---|\.\.\.|%)/m.test(text)) return undefined;
  try {
    const reader = new Reader(text);
    const contents = reader.document();
    const doc = new Document();
    doc.contents = contents;
    const lines = new LineCounter();
    lines.addNewLine(0);
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) lines.addNewLine(i + 1);
    return { doc, lines };
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  }
}

function giveUp(): never {
  throw GIVE_UP;
}

function scalar(value: unknown, start: number, end: number): Scalar {
  const s = new Scalar(value);
  s.range = [start, end, end];
  return s;
}

class Reader {
  /** Start offset of each line, and of its first non-space character. */
  readonly #starts: number[] = [];
  #line = 0;

  constructor(readonly text: string) {
    for (let at = 0; at <= text.length; ) {
      this.#starts.push(at);
      const nl = text.indexOf("\n", at);
      if (nl < 0) break;
      at = nl + 1;
    }
  }

  document(): YAMLMap {
    const first = this.#nextContent();
    if (first === undefined || this.#indent(first) !== 0) giveUp();
    const map = this.#blockMap(0, this.#starts[first]!);
    if (this.#nextContent() !== undefined) giveUp();
    return map;
  }

  /** The next line with content (not blank, not only a comment), from #line on; sets #line to it. */
  #nextContent(): number | undefined {
    for (; this.#line < this.#starts.length; this.#line++) {
      const at = this.#firstChar(this.#line);
      const c = this.text[at];
      if (c !== undefined && c !== "\n" && c !== "#") return this.#line;
    }
    return undefined;
  }

  #firstChar(line: number): number {
    let at = this.#starts[line]!;
    while (this.text.charCodeAt(at) === 32) at++;
    return at;
  }

  #indent(line: number): number {
    return this.#firstChar(line) - this.#starts[line]!;
  }

  #lineEnd(line: number): number {
    const end = this.text.indexOf("\n", this.#starts[line]!);
    return end < 0 ? this.text.length : end;
  }

  /** A block map whose keys sit at column `indent`; its first key starts at `from` on the current line. */
  #blockMap(indent: number, from: number): YAMLMap {
    const map = new YAMLMap();
    let at = from;
    for (;;) {
      const line = this.#line;
      const key = this.#key(at);
      const end = this.#lineEnd(line);
      let p = key.end + 1; // after the colon
      const afterColon = this.text[p];
      if (afterColon !== " " && afterColon !== "\n" && afterColon !== undefined) giveUp();
      while (this.text[p] === " ") p++;
      let value: Node;
      if (p >= end || this.text[p] === "#") {
        if (this.text[p] === "#" && this.text[p - 1] !== " ") giveUp();
        this.#line = line + 1;
        const next = this.#nextContent();
        if (next === undefined) giveUp(); // an empty value: left to the package
        const nextIndent = this.#indent(next);
        const first = this.#firstChar(next);
        if (nextIndent > indent) value = this.#block(nextIndent, first);
        else if (nextIndent === indent && this.#isItem(first)) value = this.#blockSeq(indent);
        else giveUp();
      } else if (this.text[p] === "|") {
        value = this.#literal(p, end, indent);
      } else {
        const v = this.#inline(p, false);
        value = v.node;
        this.#endOfLine(v.end, end);
        this.#line = line + 1;
      }
      map.items.push(new Pair(key.node, value));
      const next = this.#nextContent();
      if (next === undefined) break;
      const nextIndent = this.#indent(next);
      if (nextIndent < indent) break;
      if (nextIndent > indent) giveUp();
      at = this.#firstChar(next);
      if (this.#isItem(at)) break; // a list at the key's column: the caller's
    }
    const last = map.items[map.items.length - 1]!.value as Node;
    map.range = [from, last.range![2], last.range![2]];
    return map;
  }

  /** A block node starting at `first` (column `indent`) on the current line. */
  #block(indent: number, first: number): Node {
    return this.#isItem(first) ? this.#blockSeq(indent) : this.#blockMap(indent, first);
  }

  #isItem(at: number): boolean {
    return this.text[at] === "-" && (this.text[at + 1] === " " || this.text[at + 1] === "\n" || at + 1 >= this.text.length);
  }

  /**
   * A literal block scalar, `|` or `|-` alone after its key (`at` is the `|`), its lines indented
   * more than the key (column `indent`): the lines as written less the first line's indentation,
   * and one final line break for `|` (clip), none for `|-` (strip). Other headers (`|+`, `|2`,
   * comments) and `>` are left to the package.
   */
  #literal(at: number, end: number, indent: number): Scalar {
    const header = this.text.slice(at, end);
    if (header !== "|" && header !== "|-") giveUp();
    const lines: string[] = [];
    let contentIndent = -1;
    let last = this.#line;
    for (let line = this.#line + 1; line < this.#starts.length; line++) {
      const start = this.#starts[line]!;
      const lineEnd = this.#lineEnd(line);
      const first = this.#firstChar(line);
      if (first >= lineEnd) {
        if (start >= this.text.length) break;
        // Blank lines before the first, or with spaces past the content's indentation: left to the package.
        if (contentIndent < 0 || lineEnd - start > contentIndent) giveUp();
        lines.push("");
        continue;
      }
      const lineIndent = first - start;
      if (contentIndent < 0) {
        if (lineIndent <= indent) break;
        contentIndent = lineIndent;
      }
      if (lineIndent < contentIndent) {
        if (lineIndent > indent) giveUp(); // less indented than the first line, more than the key
        break;
      }
      lines.push(this.text.slice(start + contentIndent, lineEnd));
      last = line;
    }
    if (contentIndent < 0) giveUp();
    const content = lines.slice(0, last - this.#line);
    this.#line = last + 1;
    const nodeEnd = this.#lineEnd(last);
    const value = content.join("\n") + (header === "|" ? "\n" : "");
    const node = scalar(value, at, nodeEnd);
    node.type = Scalar.BLOCK_LITERAL;
    return node;
  }

  /** A block list whose dashes sit at column `indent`, from the current line. */
  #blockSeq(indent: number): YAMLSeq {
    const seq = new YAMLSeq();
    const start = this.#firstChar(this.#line);
    for (;;) {
      const line = this.#line;
      const dash = this.#firstChar(line);
      let p = dash + 1;
      while (this.text[p] === " ") p++;
      const end = this.#lineEnd(line);
      if (p >= end || this.text[p] === "#") giveUp(); // "-" alone, its item below: left to the package
      let item: Node;
      if (this.#looksLikeKey(p, end)) {
        item = this.#blockMap(p - this.#starts[line]!, p);
      } else {
        const v = this.#inline(p, false);
        item = v.node;
        this.#endOfLine(v.end, end);
        this.#line = line + 1;
      }
      seq.items.push(item);
      const next = this.#nextContent();
      if (next === undefined || this.#indent(next) !== indent || !this.#isItem(this.#firstChar(next))) {
        if (next !== undefined && this.#indent(next) > indent) giveUp();
        break;
      }
    }
    const last = seq.items[seq.items.length - 1] as Node;
    seq.range = [start, last.range![2], last.range![2]];
    return seq;
  }

  /** A plain key followed by ": " or ":" at the end of the line. */
  #looksLikeKey(at: number, end: number): boolean {
    KEY.lastIndex = at;
    if (!KEY.test(this.text)) return false;
    const colon = KEY.lastIndex;
    return this.text[colon] === ":" && (colon + 1 >= end || this.text[colon + 1] === " ");
  }

  /** A key at `at`, up to its colon (`end` is the colon's offset). */
  #key(at: number): { node: Scalar; end: number } {
    KEY.lastIndex = at;
    if (!KEY.test(this.text)) giveUp();
    const end = KEY.lastIndex;
    const name = this.text.slice(at, end);
    if (this.text[end] !== ":" || SPECIAL_KEYS.has(name)) giveUp();
    return { node: scalar(name, at, end), end };
  }

  /** Nothing but spaces and a comment may follow a value on its line. */
  #endOfLine(at: number, end: number): void {
    let p = at;
    while (this.text[p] === " ") p++;
    if (p < end && !(this.text[p] === "#" && p > at)) giveUp();
  }

  /** A value on one line: a flow map or list, a quoted or a plain scalar. */
  #inline(at: number, flow: boolean): { node: Node; end: number } {
    const c = this.text[at];
    if (c === "{") return this.#flowMap(at);
    if (c === "[") return this.#flowSeq(at);
    if (c === '"') return this.#doubleQuoted(at);
    if (c === "'") return this.#singleQuoted(at);
    if (c === undefined || "&*!|>%@`?:,]}#\n".includes(c)) giveUp();
    // A plain scalar may start with "-" followed by a character that cannot end it ("-c", not "- ").
    if (c === "-" && " \n,[]{}".includes(this.text[at + 1] ?? "\n")) giveUp();
    return this.#plain(at, flow);
  }

  #plain(at: number, flow: boolean): { node: Scalar; end: number } {
    let p = at;
    let end = at; // after the last non-space character
    for (;;) {
      const c = this.text[p];
      if (c === undefined || c === "\n") break;
      if (c === "#" && this.text[p - 1] === " ") break;
      if (c === ":") {
        const n = this.text[p + 1];
        if (n === " " || n === "\n" || n === undefined || (flow && (n === "," || n === "]" || n === "}"))) {
          if (!flow) giveUp(); // "a: b: c", or a key where a value was expected
          break;
        }
      }
      if (flow && (c === "," || c === "]" || c === "}")) break;
      if (flow && (c === "[" || c === "{")) giveUp();
      p++;
      if (c !== " ") end = p;
    }
    const text = this.text.slice(at, end);
    return { node: scalar(resolvePlain(text), at, end), end };
  }

  #doubleQuoted(at: number): { node: Scalar; end: number } {
    let out = "";
    let p = at + 1;
    for (;;) {
      const c = this.text[p];
      if (c === undefined || c === "\n") giveUp();
      if (c === '"') break;
      if (c === "\\") {
        const e = this.text[p + 1];
        if (e === '"' || e === "\\" || e === "/") out += e;
        else if (e === "n") out += "\n";
        else if (e === "t") out += "\t";
        else if (e === "u" && /^[0-9a-fA-F]{4}$/.test(this.text.slice(p + 2, p + 6))) {
          out += String.fromCharCode(parseInt(this.text.slice(p + 2, p + 6), 16));
          p += 4;
        } else giveUp();
        p += 2;
        continue;
      }
      out += c;
      p++;
    }
    const node = scalar(out, at, p + 1);
    node.type = Scalar.QUOTE_DOUBLE;
    return { node, end: p + 1 };
  }

  #singleQuoted(at: number): { node: Scalar; end: number } {
    let out = "";
    let p = at + 1;
    for (;;) {
      const c = this.text[p];
      if (c === undefined || c === "\n") giveUp();
      if (c === "'") {
        if (this.text[p + 1] !== "'") break;
        out += "'";
        p += 2;
        continue;
      }
      out += c;
      p++;
    }
    const node = scalar(out, at, p + 1);
    node.type = Scalar.QUOTE_SINGLE;
    return { node, end: p + 1 };
  }

  #skipSpaces(at: number): number {
    while (this.text[at] === " ") at++;
    return at;
  }

  #flowMap(at: number): { node: YAMLMap; end: number } {
    const map = new YAMLMap();
    map.flow = true;
    let p = this.#skipSpaces(at + 1);
    if (this.text[p] === "}") giveUp(); // {}: left to the package
    for (;;) {
      const key = this.text[p] === '"' ? this.#doubleQuoted(p) : this.text[p] === "'" ? this.#singleQuoted(p) : this.#key(p);
      p = key.end;
      if (this.text[p] !== ":" || this.text[p + 1] !== " ") giveUp();
      p = this.#skipSpaces(p + 1);
      const c = this.text[p];
      if (c === "," || c === "}") giveUp(); // an empty value
      const value = this.#inline(p, true);
      map.items.push(new Pair(key.node, value.node));
      p = this.#skipSpaces(value.end);
      if (this.text[p] === "}") break;
      if (this.text[p] !== ",") giveUp();
      p = this.#skipSpaces(p + 1);
      if (this.text[p] === "}") giveUp(); // a trailing comma
    }
    map.range = [at, p + 1, p + 1];
    return { node: map, end: p + 1 };
  }

  #flowSeq(at: number): { node: YAMLSeq; end: number } {
    const seq = new YAMLSeq();
    seq.flow = true;
    let p = this.#skipSpaces(at + 1);
    if (this.text[p] === "]") giveUp(); // []: left to the package
    for (;;) {
      const item = this.#inline(p, true);
      seq.items.push(item.node);
      p = this.#skipSpaces(item.end);
      if (this.text[p] === "]") break;
      if (this.text[p] !== ",") giveUp(); // "a: b" inside a list, or anything else
      p = this.#skipSpaces(p + 1);
      if (this.text[p] === "]") giveUp();
    }
    seq.range = [at, p + 1, p + 1];
    return { node: seq, end: p + 1 };
  }
}

/** A plain scalar's value as the core schema reads it, or give up (numbers other than small integers). */
function resolvePlain(text: string): unknown {
  if (NULL.test(text)) giveUp(); // null values: left to the package (its empty nodes' ranges)
  if (TRUE.test(text)) return true;
  if (FALSE.test(text)) return false;
  if (SMALL_INT.test(text)) return Number(text);
  if (OTHER_NUMBER.test(text)) giveUp();
  return text;
}
