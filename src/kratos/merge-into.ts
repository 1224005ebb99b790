// `generate --into kratos.yml`: update the hook lists kratos-hooks manages inside a hand-written
// Kratos config and leave every other byte as it was (comments, order, quoting). We parse with the
// yaml package only to find text ranges, then splice text: re-serialising would lose the file's
// formatting. In a managed list, web_hook items whose url lies under receiver.url are ours and are
// replaced; built-ins and foreign web_hooks keep their place; `session` goes last (CONTRACT §1.3).
import { isMap, isPair, isScalar, isSeq, parseDocument, type Node, type Pair, type YAMLMap, type YAMLSeq } from "yaml";
import { UsageError } from "../errors.ts";
import type { ResolvedConfig } from "../config/types.ts";
import { assembleList, compareListKeys, headerAllowlist, ownedBy, planLists, type BodyRef, type FileLists, type HookItem, type ListEntry, type ListPlan } from "./config-emit.ts";
import { mappingLines, sequenceLines } from "./yaml-text.ts";
import { missingExceptions, privateIpGuard } from "./private-ip.ts";

type Edit = { start: number; end: number; text: string; depth: number };
/** A list item: kept source text, or a new value we serialise. */
type NewItem = { kept: { block: string; flow: string } } | { value: unknown };

const lineStart = (t: string, p: number) => t.lastIndexOf("\n", p - 1) + 1;
/** Offset just after the newline that ends the line holding offset p-1 (or the end of text). */
function lineEndAfter(t: string, p: number): number {
  if (p > 0 && t[p - 1] === "\n") return p;
  const nl = t.indexOf("\n", p);
  return nl < 0 ? t.length : nl + 1;
}
const column = (t: string, p: number) => p - lineStart(t, p);

function where(t: string, p: number, file: string): string {
  const before = t.slice(0, p);
  const line = before.split("\n").length;
  return `${file}:${line}:${p - lineStart(t, p) + 1}`;
}

function pairOf(map: YAMLMap, key: string): Pair<Node, Node | null> | undefined {
  return (map.items as Pair<Node, Node | null>[]).find((p) => isScalar(p.key) && String(p.key.value) === key);
}

/** Chunks of a block sequence: each item's text from the end of the previous one (comments before it included). */
function blockChunks(t: string, seq: YAMLSeq): { start: number; end: number; chunks: string[] } {
  const start = lineStart(t, seq.range![0]);
  const chunks: string[] = [];
  let from = start;
  for (const item of seq.items as Node[]) {
    const end = lineEndAfter(t, Math.max(item.range![1], item.range![2]));
    let chunk = t.slice(from, end);
    if (!chunk.endsWith("\n")) chunk += "\n";
    chunks.push(chunk);
    from = end;
  }
  return { start, end: from, chunks };
}

/** The edit that makes the value of `pair` the sequence `items`. */
function listEdit(t: string, pair: Pair<Node, Node | null>, items: NewItem[], depth: number, file: string): Edit {
  const key = pair.key as Node;
  const colon = t.indexOf(":", key.range![1]);
  const seq = pair.value;
  if (seq && isSeq(seq) && !seq.flow && seq.items.length > 0) {
    const { start, end } = blockChunks(t, seq);
    const col = column(t, seq.range![0]);
    if (items.length === 0) return { start: colon + 1, end: end - (t[end - 1] === "\n" ? 1 : 0), text: " []", depth };
    const text = items.map((i) => ("kept" in i ? i.kept.block : `${sequenceLines([i.value], col).join("\n")}\n`)).join("");
    return { start, end, text, depth };
  }
  const col = column(t, key.range![0]) + 2;
  const lines = items.map((i) => ("kept" in i ? `${" ".repeat(col)}- ${i.kept.flow}` : sequenceLines([i.value], col).join("\n")));
  if (seq && isSeq(seq)) {
    // A flow sequence (`hooks: []`, `hooks: [session]`): rewritten in block style.
    return items.length === 0 ? { start: seq.range![0], end: seq.range![1], text: "[]", depth } : { start: colon + 1, end: seq.range![1], text: `\n${lines.join("\n")}`, depth };
  }
  if (seq === null || (isScalar(seq) && seq.value === null)) {
    // `hooks:` with no value: the list goes on the next lines, a comment on this line stays.
    const nl = t.indexOf("\n", colon);
    const at = nl < 0 ? t.length : nl;
    return { start: at, end: at, text: items.length === 0 ? "" : `\n${lines.join("\n")}`, depth };
  }
  throw new UsageError(`${where(t, seq.range![0], file)}: expected a list here`, "kratos-hooks edits hook lists written as YAML sequences");
}

function itemsOfSeq(t: string, seq: YAMLSeq, file: string): Array<{ item: HookItem; keep: { block: string; flow: string } }> {
  const chunks = seq.flow ? undefined : blockChunks(t, seq).chunks;
  return (seq.items as Node[]).map((node, i) => {
    if (!isMap(node) && !isScalar(node)) throw new UsageError(`${where(t, node.range![0], file)}: expected a hook item ({hook, config})`);
    const value = node.toJSON() as HookItem;
    return { item: value, keep: { block: chunks?.[i] ?? "", flow: t.slice(node.range![0], node.range![1]) } };
  });
}

/** The node at a key path of block/flow mappings, if every key exists. */
function pathValue(root: Node | null, path: string[]): Node | null | undefined {
  let node: Node | null | undefined = root;
  for (const k of path) node = node && isMap(node) ? pairOf(node, k)?.value : undefined;
  return node;
}

type Found = { lists: Map<string, Pair<Node, Node | null>> };

/** Every `selfservice.flows.<flow>.<phase>[.<method>].hooks` present in the file. */
function findLists(root: Node | null): Found {
  const lists = new Map<string, Pair<Node, Node | null>>();
  // Only block mappings: we cannot splice block text into a flow collection ({...}).
  const block = (n: Node | null | undefined): n is YAMLMap => !!n && isMap(n) && !n.flow;
  const child = (n: Node | null | undefined, k: string) => (block(n) ? pairOf(n, k) : undefined);
  const flows = child(child(root, "selfservice")?.value, "flows")?.value;
  if (!block(flows)) return { lists };
  for (const fp of flows.items as Pair<Node, Node | null>[]) {
    if (!block(fp.value)) continue;
    for (const pp of fp.value.items as Pair<Node, Node | null>[]) {
      if (!block(pp.value)) continue;
      const base = `${String((fp.key as { value: unknown }).value)}.${String((pp.key as { value: unknown }).value)}`;
      for (const mp of pp.value.items as Pair<Node, Node | null>[]) {
        const k = String((mp.key as { value: unknown }).value);
        if (k === "hooks") lists.set(base, mp);
        else if (block(mp.value)) {
          const h = pairOf(mp.value, "hooks");
          if (h) lists.set(`${base}.${k}`, h);
        }
      }
    }
  }
  return { lists };
}

/** The target file's flow-level items that are not ours, and its per-method lists with items of the user's own (planLists). */
function fileLists(t: string, existing: Map<string, Pair<Node, Node | null>>, own: (item: HookItem) => boolean, file: string): FileLists {
  const flowLevel = new Map<string, HookItem[]>();
  const declared = new Set<string>();
  for (const [key, pair] of existing) {
    if (!pair.value || !isSeq(pair.value)) continue;
    const theirs = itemsOfSeq(t, pair.value, file).map((e) => e.item).filter((i) => !own(i));
    if (key.split(".").length === 2) flowLevel.set(key, theirs);
    else if (theirs.length > 0) declared.add(key);
  }
  return { flowLevel, declared };
}

export type IntoResult = { text: string; lists: Map<string, ListEntry[]> };

/** The updated text of a hand-written Kratos config, and the final managed lists (for env var indices). */
export function mergeInto(text: string, config: ResolvedConfig, body: BodyRef, file: string): IntoResult {
  const doc = parseDocument(text, { keepSourceTokens: false });
  if (doc.errors.length > 0) throw new UsageError(`${file}: ${doc.errors[0]!.message}`);
  const root = doc.contents as Node | null;
  if (root !== null && !(isMap(root) && !root.flow) && !(isScalar(root) && root.value === null)) {
    throw new UsageError(`${file}: the top level must be a block mapping`);
  }
  const own = ownedBy(config.receiverUrl);
  const { lists: existing } = findLists(root);
  const plans = planLists(config, body, new Set(existing.keys()), fileLists(text, existing, own, file));
  const edits: Edit[] = [];
  const result = new Map<string, ListEntry[]>();
  const missing = new Map<string, unknown[]>();

  const keys = new Set(plans.keys());
  // A list that still holds our items but no longer gets any (a hook was removed or moved).
  for (const [key, pair] of existing) if (pair.value && isSeq(pair.value) && itemsOfSeq(text, pair.value, file).some((e) => own(e.item))) keys.add(key);
  const empty: ListPlan = { builtins: [], own: [] };
  for (const key of [...keys].sort(compareListKeys)) {
    const plan = plans.get(key) ?? empty;
    const pair = existing.get(key);
    if (pair?.value && !isSeq(pair.value) && !(isScalar(pair.value) && pair.value.value === null)) {
      throw new UsageError(`${where(text, pair.value.range![0], file)}: selfservice.flows.${key}.hooks is not a list`);
    }
    const current = pair?.value && isSeq(pair.value) ? itemsOfSeq(text, pair.value, file) : [];
    const entries = assembleList(current, own, plan);
    result.set(key, entries);
    const items: NewItem[] = entries.map((e) => (e.keep ? { kept: e.keep } : { value: e.item }));
    if (pair) edits.push(listEdit(text, pair, items, 9, file));
    else missing.set(key, entries.map((e) => e.item));
  }

  const allow = headerAllowlist(config);
  const insertTree: Array<{ path: string[]; value: unknown }> = [];
  for (const [key, items] of missing) {
    const [flow, phase, method] = key.split(".") as [string, string, string | undefined];
    insertTree.push({ path: ["selfservice", "flows", flow, phase, ...(method ? [method] : []), "hooks"], value: items });
  }
  if (allow) {
    const clients = root && isMap(root) ? pairOf(root, "clients")?.value : undefined;
    const wh = clients && isMap(clients) ? pairOf(clients, "web_hook")?.value : undefined;
    const pair = wh && isMap(wh) ? pairOf(wh, "header_allowlist") : undefined;
    if (pair) edits.push(listEdit(text, pair, allow.map((value) => ({ value })), 9, file));
    else insertTree.push({ path: ["clients", "web_hook", "header_allowlist"], value: allow });
  }
  // Kratos's private-IP guard would refuse a receiver on a private address: exempt each hook URL.
  const guard = privateIpGuard(root ? root.toJSON() : null);
  const exempt = guard.on ? missingExceptions(config, guard.exceptions, file) : [];
  if (exempt.length > 0) {
    const http = pathValue(root, ["clients", "http"]);
    const pair = http && isMap(http) ? pairOf(http, "private_ip_exception_urls") : undefined;
    if (pair) edits.push(listEdit(text, pair, [...guard.exceptions, ...exempt].map((value) => ({ value })), 9, file));
    else insertTree.push({ path: ["clients", "http", "private_ip_exception_urls"], value: exempt });
  }
  edits.push(...insertions(text, root, insertTree, file));

  edits.sort((a, b) => b.start - a.start || a.depth - b.depth);
  let out = text;
  for (const e of edits) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  for (const [k, v] of result) if (v.length === 0) result.delete(k);
  return { text: out, lists: result };
}

/** Inserts missing keys under their deepest existing ancestor, one block per ancestor. */
function insertions(t: string, root: Node | null, wanted: Array<{ path: string[]; value: unknown }>, file: string): Edit[] {
    // eof: append to the file; map-end: after the last line of a block mapping; key-line: at the end of `key:` whose value is empty.
  type Group = { at: number; indent: number; depth: number; mode: "eof" | "map-end" | "key-line"; tree: Record<string, unknown> };
  const groups = new Map<object | string, Group>();
  for (const { path, value } of wanted) {
    let node: Node | null = root;
    let holder: Pair<Node, Node | null> | undefined;
    let i = 0;
    for (; i < path.length; i++) {
      if (!node || !isMap(node) || node.flow) break;
      const p = pairOf(node, path[i]!);
      if (!p) break;
      holder = p;
      node = p.value;
    }
    let g: Group | undefined;
    const anchor: object | string = node ?? holder ?? "root";
    g = groups.get(anchor);
    if (!g) {
      if (node === null && holder === undefined) {
        // Empty document: append at the end.
        g = { at: t.length, indent: 0, depth: 0, mode: "eof", tree: {} };
      } else if (node && isMap(node) && !node.flow) {
        const first = (node.items as Pair<Node, Node | null>[])[0]!;
        g = { at: lineEndAfter(t, node.range![1]), indent: column(t, (first.key as Node).range![0]), depth: i, mode: "map-end", tree: {} };
      } else if ((node === null || (isScalar(node) && node.value === null)) && holder) {
        const colon = t.indexOf(":", (holder.key as Node).range![1]);
        const nl = t.indexOf("\n", colon);
        g = { at: nl < 0 ? t.length : nl, indent: column(t, (holder.key as Node).range![0]) + 2, depth: i, mode: "key-line", tree: {} };
      } else {
        const at = node && isPair(node) ? 0 : (node as Node | null)?.range?.[0] ?? 0;
        throw new UsageError(`${where(t, at, file)}: cannot add ${path.slice(0, i + 1).join(".")} here (not a block mapping)`, "write this part of the Kratos config in block style");
      }
      groups.set(anchor, g);
    }
    let tree = g.tree;
    const rest = path.slice(i);
    rest.slice(0, -1).forEach((seg) => (tree = (tree[seg] ??= {}) as Record<string, unknown>));
    tree[rest[rest.length - 1]!] = value;
  }
  return [...groups.values()].map((g) => {
    const lines = mappingLines(g.tree, g.indent).join("\n");
    if (g.mode === "key-line") return { start: g.at, end: g.at, text: `\n${lines}`, depth: g.depth };
    const unterminated = g.at === t.length && t.length > 0 && !t.endsWith("\n");
    return { start: g.at, end: g.at, text: `${unterminated ? "\n" : ""}${lines}\n`, depth: g.depth };
  });
}
