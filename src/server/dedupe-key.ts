// The idempotency key of a delivery. Kratos retries a failed attempt up to 3 times with the same
// body and the same `Ory-Webhook-Trigger-Id` (CONTRACT §4.1-§4.2, §8.13), so:
//   1. the hook's declared `dedupe.key` fields (e.g. identity_id), when all are present: one
//      logical event however Kratos triggered it;
//   2. else the Ory-Webhook-Trigger-Id header (Kratos ≥ v25.4.0, with emit_analytics_event);
//   3. else sha256 of hook name + canonical JSON of the body.
// Keys are namespaced by hook. Body-derived keys are hashed so the dedupe table holds no PII.
import { createHash } from "node:crypto";

export type DedupeSource = "fields" | "trigger" | "body";
export type DedupeKey = { key: string; source: DedupeSource };

export const TRIGGER_ID_HEADER = "ory-webhook-trigger-id";
export const REQUEST_ID_HEADER = "ory-webhook-request-id";

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** JSON with object keys sorted at every level, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
}

// A Kratos trigger id is a uuid; anything else unusual is hashed so the key stays short and printable.
const PLAIN_TRIGGER = /^[A-Za-z0-9._-]{1,128}$/;

export function dedupeKey(hook: string, keyFields: readonly string[] | undefined, triggerId: string | null, body: Record<string, unknown>): DedupeKey {
  if (keyFields && keyFields.length > 0) {
    const values = keyFields.map((f) => body[f]);
    if (values.every((v) => v !== undefined && v !== null)) return { key: `${hook}:fields:${sha256(canonicalJson(values))}`, source: "fields" };
  }
  if (triggerId) return { key: `${hook}:trigger:${PLAIN_TRIGGER.test(triggerId) ? triggerId : sha256(triggerId)}`, source: "trigger" };
  return { key: `${hook}:body:${sha256(`${hook}\n${canonicalJson(body)}`)}`, source: "body" };
}
