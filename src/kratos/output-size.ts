// The worst-case size of the JSON a generated body makes Kratos's Jsonnet worker print, per
// version. The worker hands its output back through a bufio.Scanner: in every release that caps
// one output at 64 KiB ("bufio.Scanner: token too long", and every flow with the hook answers
// 500); HEAD raises the cap to 256 KiB (CONTRACT §3.1, Appendix C.1).
//
// How the bound is computed (docs/config.md#body-size):
// - go-jsonnet prints the body pretty, 3 spaces per level, `{ }` / `[ ]` when empty, and a final
//   newline; constants are measured exactly that way.
// - A string field with `max_length: N` counts 2 + B·N bytes, N in code points (as JSON Schema
//   counts). B = 4 for text (an emoji or any astral character is 4 bytes of UTF-8; ASCII 1): the
//   bound for an error. B = 6 when the value is control characters, printed as \u00XX: the honest
//   worst case, but not text anyone types, so past the limit only with it is a warning.
// - Kratos's own fixed-shape values (uuids, timestamps, booleans, request_method, ...) have a
//   known bound; numbers count 24 bytes (float64 as go-jsonnet prints it).
// - Anything else (a string without max_length, an object such as identity.traits) is unbounded.
import type { ResolvedField } from "../config/types.ts";
import type { Version } from "./versions.ts";

/** Bytes of Jsonnet output Kratos accepts: the scanner's token must stay below its buffer. */
export function outputLimitBytes(v: Version): number {
  return v.head ? 256 * 1024 : 64 * 1024;
}

/** Bytes one max_length character can take in the output: printable text, and control characters (\u00XX). */
export const BYTES_PER_CODE_POINT = { text: 4, control: 6 } as const;
const NUMBER_BYTES = 24;

/** Quoted lengths of ctx values whose shape Kratos fixes (CONTRACT §3.2). */
const FIXED: Record<string, number> = {
  "request_method": 2 + 7,
  "flow.type": 2 + 7,
  "flow.active": 2 + 32,
  "flow.requested_aal": 2 + 4,
  "identity.state": 2 + 8,
  "session.authenticator_assurance_level": 2 + 4,
};
const FORMAT_BYTES: Record<string, number> = { uuid: 2 + 36, "date-time": 2 + 35 };

export type FieldSize = { name: string; bytes: number; how: string } | { name: string; bytes: undefined; structured: boolean };
export type OutputSize = {
  /** Worst-case bytes of the bounded part (every bounded field, the layout and the final newline). */
  bounded: number;
  fields: FieldSize[];
  limit: number;
};

/** The worst-case output of a generated body with these fields (in this order) at `v`. */
export function worstCaseOutput(fields: readonly ResolvedField[], v: Version, perCodePoint: number = BYTES_PER_CODE_POINT.text): OutputSize {
  const sizes = fields.map((f) => fieldSize(f, perCodePoint));
  // "{\n" + per field "   <key>: <value>,\n" (no comma after the last) + "}" + "\n".
  let bounded = fields.length === 0 ? "{ }\n".length : 2 + 1 + 1;
  sizes.forEach((s, i) => {
    bounded += 3 + quotedBytes(s.name) + 2 + (s.bytes ?? 0) + (i < sizes.length - 1 ? 2 : 1);
  });
  return { bounded, fields: sizes, limit: outputLimitBytes(v) };
}

function fieldSize(f: ResolvedField, perCodePoint: number): FieldSize {
  if (!f.from) {
    return { name: f.name, bytes: manifestBytes(f.value, 1), how: "constant" };
  }
  const path = f.from.join(".");
  if (f.type === "boolean") return { name: f.name, bytes: 5, how: "boolean" };
  if (f.type === "number" || f.type === "integer") return { name: f.name, bytes: NUMBER_BYTES, how: "number" };
  if (f.type === "string" && f.maxLength !== undefined) return { name: f.name, bytes: 2 + perCodePoint * f.maxLength, how: `max_length ${f.maxLength}` };
  const fixed = FIXED[path] ?? (f.format ? FORMAT_BYTES[f.format] : undefined);
  if (fixed !== undefined && (f.type === "string" || f.type === "any")) return { name: f.name, bytes: fixed, how: f.format ?? "fixed by Kratos" };
  // Whole objects and lists (identity.traits, flow.ui, a metadata object) are the ones that grow;
  // a request header's values and leaves of unknown type are counted with the strings.
  return { name: f.name, bytes: undefined, structured: (f.type === "object" || f.type === "array") && f.from[0] !== "request_headers" };
}

function quotedBytes(s: string): number {
  return Buffer.byteLength(jsonnetString(s));
}

/** A string as go-jsonnet prints it: JSON escapes, plus \u00XX for DEL and the C1 controls. */
export function jsonnetString(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Bytes of a constant printed at nesting `depth` (the top-level object's members are at depth 1). */
export function manifestBytes(value: unknown, depth: number): number {
  if (value === null || value === undefined) return 4;
  if (typeof value === "string") return quotedBytes(value);
  if (typeof value === "boolean") return value ? 4 : 5;
  if (typeof value === "number") return String(value).length;
  const indent = 3 * (depth + 1);
  if (Array.isArray(value)) {
    if (value.length === 0) return 3;
    // "[\n" + items "<indent><item>,\n" + "<indent-3>]"
    return 2 + value.reduce<number>((n, x) => n + indent + manifestBytes(x, depth + 1) + 2, 0) - 1 + indent - 3 + 1;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return 3;
  return 2 + entries.reduce<number>((n, [k, x]) => n + indent + quotedBytes(k) + 2 + manifestBytes(x, depth + 1) + 2, 0) - 1 + indent - 3 + 1;
}

/** 1536 → "1.5 KiB". */
export function kib(bytes: number): string {
  return bytes < 1024 ? `${bytes} bytes` : `${(bytes / 1024).toFixed(1).replace(/\.0$/, "")} KiB`;
}

/** 65536 → "65,536 bytes": exact, for sizes compared with the limit. */
export function bytesText(n: number): string {
  return `${n.toLocaleString("en-US")} bytes`;
}
