// A small, deterministic YAML writer for the Kratos config we emit and splice (--into). We write
// it ourselves rather than stringify with a library so that the bytes are ours to promise: block
// style, two-space indent, and strings quoted whenever a YAML 1.1 or 1.2 reader (Kratos uses Go's
// yaml) could take them for a number, a boolean or null. CONTRACT §8.4: non-strings are rejected
// where Kratos expects a string (e.g. an api_key `value: 1`).

const PLAIN = /^[A-Za-z_/][A-Za-z0-9_./@:+=-]*$/;
// YAML 1.1 booleans and nulls (Go yaml.v2/v3 still read some of them), case-insensitive.
const RESERVED = new Set(["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"]);

export function yamlString(s: string): string {
  if (PLAIN.test(s) && !RESERVED.has(s.toLowerCase()) && !s.endsWith(":")) return s;
  // A JSON string is a valid YAML double-quoted scalar.
  return JSON.stringify(s);
}

export function yamlScalar(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return yamlString(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  throw new Error(`not a YAML scalar: ${typeof v}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isEmptyCollection(v: unknown): boolean {
  return (Array.isArray(v) && v.length === 0) || (isPlainObject(v) && Object.keys(v).length === 0);
}

function inline(v: unknown): string {
  if (Array.isArray(v)) return "[]";
  if (isPlainObject(v)) return "{}";
  return yamlScalar(v);
}

/** Lines of a block mapping at `indent` spaces. */
export function mappingLines(obj: Record<string, unknown>, indent: number): string[] {
  const pad = " ".repeat(indent);
  const out: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined) continue;
    if (isEmptyCollection(v) || (!Array.isArray(v) && !isPlainObject(v))) out.push(`${pad}${yamlString(k)}: ${inline(v)}`);
    else if (Array.isArray(v)) out.push(`${pad}${yamlString(k)}:`, ...sequenceLines(v, indent + 2));
    else out.push(`${pad}${yamlString(k)}:`, ...mappingLines(v as Record<string, unknown>, indent + 2));
  }
  return out;
}

/** Lines of a block sequence whose `-` sits at `indent` spaces. */
export function sequenceLines(items: readonly unknown[], indent: number): string[] {
  const pad = " ".repeat(indent);
  const out: string[] = [];
  for (const item of items) out.push(...sequenceItemLines(item, indent).map((l, i) => (i === 0 ? `${pad}- ${l.slice(indent + 2)}` : l)));
  return out;
}

/** Lines of one sequence item; the first line's `indent + 2` leading spaces are where `- ` goes. */
function sequenceItemLines(item: unknown, indent: number): string[] {
  const pad = " ".repeat(indent + 2);
  if (isEmptyCollection(item) || (!Array.isArray(item) && !isPlainObject(item))) return [`${pad}${inline(item)}`];
  if (Array.isArray(item)) return sequenceLines(item, indent + 2);
  return mappingLines(item as Record<string, unknown>, indent + 2);
}
