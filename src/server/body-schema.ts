// The receiver's validation schema, derived from the hook's body declaration (ResolvedHook.fields):
// the same declaration the Jsonnet emitter turns into the body Kratos sends. One declaration, two
// uses. Checkers are compiled once at startup (TypeCompiler).
import { FormatRegistry, Type as T, type TSchema } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { ValueErrorType, type ValueError } from "@sinclair/typebox/errors";
import { HttpError } from "../errors.ts";
import type { ResolvedField, ResolvedHook } from "../config/types.ts";

// Formats are deliberately loose: Kratos has already validated the identity (its own email/uri
// checks accept IDN addresses and dotless domains), and a stricter receiver would fail the user's
// flow for Kratos's choice. The all-zero registration pre-persist id (CONTRACT §3.3) is a valid
// uuid here. TypeBox's FormatRegistry is process-global and Elysia fills it with its own, stricter
// `email`/`uuid`/... on import (first one wins), so the compiled checker uses private format names;
// the published schema keeps the standard ones.
const FORMATS: Record<string, (v: string) => boolean> = {
  email: (v) => {
    const at = v.lastIndexOf("@");
    return at > 0 && at < v.length - 1 && !/\s/.test(v);
  },
  uuid: (v) => /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(v),
  uri: (v) => /^[A-Za-z][A-Za-z0-9+.-]*:\S*$/.test(v),
  "date-time": (v) => /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(v),
};
const PRIVATE_FORMAT = (name: string) => `kratos-hooks:${name}`;
for (const [name, check] of Object.entries(FORMATS)) FormatRegistry.Set(PRIVATE_FORMAT(name), check);

/**
 * Characters as JSON Schema's maxLength counts them (and a person does): code points. JavaScript's
 * `length`, which TypeBox's compiled check uses, counts UTF-16 units, so an emoji would count twice.
 */
export function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function fieldType(f: ResolvedField, formatName: (f: string) => string, withMaxLength: boolean): TSchema {
  switch (f.type) {
    case "string":
      return T.String({ ...(f.format ? { format: formatName(f.format) } : {}), ...(withMaxLength && f.maxLength !== undefined ? { maxLength: f.maxLength } : {}) });
    case "number":
      return T.Number();
    case "integer":
      return T.Integer();
    case "boolean":
      return T.Boolean();
    case "object":
      return T.Object({});
    case "array":
      return T.Array(T.Unknown());
    case "any":
      return T.Unknown();
  }
}

/**
 * TypeBox schema of a hook's body. Optional fields may be absent or null (Kratos renders a
 * present-but-null ctx value as null). Unknown fields are rejected, since kratos-hooks generated the
 * body, except for a hand-written Jsonnet body (`jsonnet:`), whose declared fields are checked and
 * anything else is allowed.
 */
export function bodySchema(hook: Pick<ResolvedHook, "fields" | "jsonnetFile">, formatName: (f: string) => string = (f) => f, withMaxLength = true): TSchema {
  const props: Record<string, TSchema> = {};
  for (const f of hook.fields) {
    const t = fieldType(f, formatName, withMaxLength);
    props[f.name] = f.optional ? T.Optional(f.type === "any" ? t : T.Union([t, T.Null()])) : t;
  }
  return T.Object(props, { additionalProperties: hook.jsonnetFile !== undefined });
}

/**
 * A body that does not match the declaration: a 400 naming the first offending field. When that
 * is a declared field (missing, or a value of the wrong type, format or length), `declared` is it
 * and `userText` says what is wrong in words for the person filling in the form (the route shows
 * it on a blocking hook when the value is the user's: hook-route.ts).
 */
export class InvalidBodyError extends HttpError {
  constructor(
    message: string,
    field?: string,
    readonly declared?: ResolvedField,
    readonly userText?: string,
  ) {
    super(400, "invalid_body", message, field);
  }
}

/** Returns undefined when the body is valid, else the error for its first offending field. */
export type BodyValidator = (body: unknown) => InvalidBodyError | undefined;

export function compileBodyValidator(hook: Pick<ResolvedHook, "fields" | "jsonnetFile">): BodyValidator {
  // max_length is checked here, in code points, after the compiled check (which would count UTF-16 units).
  const checker = TypeCompiler.Compile(bodySchema(hook, PRIVATE_FORMAT, false));
  const byName = new Map(hook.fields.map((f) => [f.name, f]));
  const limited = hook.fields.filter((f) => f.type === "string" && f.maxLength !== undefined);
  return (body) => {
    if (checker.Check(body)) {
      for (const f of limited) {
        const value = (body as Record<string, unknown>)[f.name];
        if (typeof value !== "string" || codePoints(value) <= f.maxLength!) continue;
        const message = f.optional ? `body.${f.name}: expected string of at most ${f.maxLength} characters or null` : `body.${f.name}: expected string length less or equal to ${f.maxLength}`;
        return new InvalidBodyError(message, `body.${f.name}`, f, userText(f, value));
      }
      return undefined;
    }
    const first = checker.Errors(body).First();
    if (!first) return new InvalidBodyError("body: invalid");
    // A declared top-level field: its value is body[name] (fields are top-level names).
    const declared = first.path.lastIndexOf("/") === 0 ? byName.get(first.path.slice(1)) : undefined;
    const unexpected = first.type === ValueErrorType.ObjectAdditionalProperties;
    return new InvalidBodyError(describe(first, byName), fieldPath(first.path), unexpected ? undefined : declared, declared && !unexpected ? userText(declared, first.value) : undefined);
  };
}

const FORMAT_TEXT: Record<NonNullable<ResolvedField["format"]>, string> = {
  email: "Enter a valid email address.",
  uuid: "Enter a valid UUID.",
  uri: "Enter a valid URI.",
  "date-time": "Enter a valid date and time.",
};

/** What is wrong with a declared field's value, for the end user (not the operator's technical text). */
function userText(field: ResolvedField, value: unknown): string {
  if (value === undefined || value === null) return "This field is required.";
  if (field.type === "string" && typeof value === "string") {
    if (field.maxLength !== undefined && codePoints(value) > field.maxLength) return `Enter at most ${field.maxLength} characters.`;
    if (field.format) return FORMAT_TEXT[field.format];
  }
  return "This value is not valid here.";
}

/** `/email` → `body.email`; `` → `body`. */
function fieldPath(pointer: string): string {
  if (pointer === "") return "body";
  return `body${pointer.split("/").map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~")).join(".")}`;
}

function describe(e: ValueError, fields: Map<string, ResolvedField>): string {
  const path = fieldPath(e.path);
  if (e.path === "" && e.type === ValueErrorType.Object) return "body: expected a JSON object";
  if (e.type === ValueErrorType.ObjectRequiredProperty) return `${path}: required field is missing`;
  if (e.type === ValueErrorType.ObjectAdditionalProperties) return `${path}: unexpected field (not declared in the hook's body)`;
  const field = fields.get(e.path.slice(1));
  if (e.type === ValueErrorType.StringFormat && field?.format) return `${path}: expected string in ${field.format} format`;
  if (e.type === ValueErrorType.Union && field) {
    // An optional field is `T | null`; name the declared type rather than "union value".
    return `${path}: expected ${field.type}${field.format ? ` (format ${field.format})` : ""}${field.maxLength !== undefined ? ` of at most ${field.maxLength} characters` : ""} or null`;
  }
  return `${path}: ${e.message.charAt(0).toLowerCase()}${e.message.slice(1)}`;
}
