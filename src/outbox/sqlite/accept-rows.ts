// An acceptance batch in the form the SQLite store commits it: flat rows of fields, and each job's
// payload already serialised as JSON text. Why: on the ack path the batch crosses to the store
// thread (thread-store.ts) as one string, and as objects it was stringified on the event loop,
// parsed on the thread, and every payload stringified again there for its INSERT. Now a payload is
// serialised once, on the event loop, travels as raw text after the fields (no JSON escaping of
// it, no parsing of it on the thread), and is inserted as is. The answer is as small: only the
// duplicates, so an all-new batch is answered with `[]`.
//
// No runtime imports: the event loop loads this beside thread-store.ts, without the SQL modules.
import type { Acceptance, AcceptResult, StoredResponse } from "../store.ts";

/**
 * `fields`, per acceptance: hook, key, status, body, contentType, expiresAt, now, job count
 * (ACCEPTANCE_FIELDS), then per job: id, hook, action, maxAttempts, runAt, triggerId, identityId,
 * traceparent, and the index of its payload in `payloads` (JOB_FIELDS).
 *
 * The times (expiresAt, now, runAt) are written as offsets from `base`, the batch's first `now`:
 * JSON writes and reads a 13-digit epoch ms at several times the cost of a small number (0.6
 * against 0.3 µs per acceptance for the fields' JSON.stringify, Bun 1.4.5). Exact for integers up
 * to 2^53, so a batch with any other time keeps base 0 (the times as they are).
 */
export type AcceptRows = { base: number; fields: unknown[]; payloads: string[] };
export const ACCEPTANCE_FIELDS = 8;
export const JOB_FIELDS = 9;

/**
 * The duplicates of a batch, flat: for each, its index in the batch, status, body, contentType
 * (null when none). Empty when every acceptance was new.
 */
export type Duplicates = unknown[];

/** Throws (TypeError) on a payload JSON cannot represent, as the INSERT of its text would. */
export function acceptRows(batch: Acceptance[]): AcceptRows {
  const first = batch[0]?.now ?? 0;
  const base = Number.isSafeInteger(first) && batch.every(integerTimes) ? first : 0;
  const fields: unknown[] = [];
  const payloads: string[] = [];
  let last: unknown;
  for (const a of batch) {
    fields.push(a.hook, a.key, a.response.status, a.response.body, a.response.contentType ?? null, a.expiresAt - base, a.now - base, a.jobs.length);
    for (const j of a.jobs) {
      // The jobs of one webhook (one per action) share their payload object: one text for them all.
      if (payloads.length === 0 || j.payload !== last) {
        const text = JSON.stringify(j.payload ?? null) as string | undefined;
        if (typeof text !== "string") throw new TypeError(`job ${j.id}: its payload has no JSON form`);
        payloads.push(text);
        last = j.payload;
      }
      fields.push(j.id, j.hook, j.action, j.maxAttempts, j.runAt - base, j.triggerId ?? null, j.identityId ?? null, j.traceparent ?? null, payloads.length - 1);
    }
  }
  return { base, fields, payloads };
}

/** Whether every time of the acceptance is a safe integer (then t - base + base === t). */
function integerTimes(a: Acceptance): boolean {
  if (!Number.isSafeInteger(a.now) || !Number.isSafeInteger(a.expiresAt)) return false;
  for (const j of a.jobs) if (!Number.isSafeInteger(j.runAt)) return false;
  return true;
}

const NEW: AcceptResult = Object.freeze({ duplicate: false });

/** One AcceptResult per acceptance of a batch of `n`, from its Duplicates. */
export function acceptResults(n: number, duplicates: Duplicates): AcceptResult[] {
  const results = new Array<AcceptResult>(n).fill(NEW);
  for (let i = 0; i < duplicates.length; i += 4) {
    const response: StoredResponse = { status: duplicates[i + 1] as number, body: duplicates[i + 2] as string | null };
    if (duplicates[i + 3] !== null) response.contentType = duplicates[i + 3] as string;
    results[duplicates[i] as number] = { duplicate: true, response };
  }
  return results;
}

/**
 * The store thread's message for a batch: `A<call id>`, a newline, the JSON of [base, fields,
 * payload lengths], a newline, then the payload texts back to back. JSON.stringify without
 * indentation writes no raw newline, so the second newline ends the JSON whatever the payloads hold.
 */
export function acceptMessage(id: number, rows: AcceptRows): string {
  const { payloads } = rows;
  const lengths = new Array<number>(payloads.length);
  for (let i = 0; i < payloads.length; i++) lengths[i] = payloads[i]!.length;
  // One join into a flat string: a string built by `+=` is a rope of one piece per payload, which
  // postMessage flattens on the event loop at several times the cost (15.8 against 3.6 µs per
  // message of 32, measured around Worker.postMessage under bench/handoff-cpu.ts, Bun 1.4.5).
  const parts = new Array<string>(payloads.length + 1);
  parts[0] = `A${id}\n${JSON.stringify([rows.base, rows.fields, lengths])}\n`;
  for (let i = 0; i < payloads.length; i++) parts[i + 1] = payloads[i]!;
  return parts.join("");
}

export function isAcceptMessage(message: string): boolean {
  return message.charCodeAt(0) === 65; // "A"; every other call is JSON, "{..."
}

export function acceptMessageId(message: string): number {
  return Number(message.slice(1, message.indexOf("\n")));
}

export function readAcceptMessage(message: string): AcceptRows {
  const idEnd = message.indexOf("\n");
  const jsonEnd = message.indexOf("\n", idEnd + 1);
  const [base, fields, lengths] = JSON.parse(message.slice(idEnd + 1, jsonEnd)) as [number, unknown[], number[]];
  const payloads = new Array<string>(lengths.length);
  let at = jsonEnd + 1;
  for (let i = 0; i < lengths.length; i++) payloads[i] = message.slice(at, (at += lengths[i]!));
  return { base, fields, payloads };
}
