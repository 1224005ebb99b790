// The store thread's side of SqliteThreadStore (thread-store.ts): one SqliteStore, fed one call at
// a time from the event loop's messages. Calls are strings both ways (Bun's fast path for strings
// between threads): JSON, except an acceptance batch, which comes in its own compact form
// (accept-rows.ts) and goes straight to the store without a turn of the microtask queue, and a
// claim's reply, framed (framed.ts). A failure goes back as its name and message, and whether it
// was StoreUnavailableError or UsageError (with its hint), so the caller can raise the same error
// on its side.
import { UsageError } from "../../errors.ts";
import { StoreUnavailableError } from "../errors.ts";
import { acceptMessageId, isAcceptMessage, readAcceptMessage } from "./accept-rows.ts";
import { Framed, frameReply } from "./framed.ts";
import { SqliteStore, type SqliteOptions } from "./store.ts";

declare const self: Worker;

export type Call = { id: number; op: string; args: unknown[] };
export type Reply = {
  id: number;
  value?: unknown;
  error?: { name: string; message: string; unavailable: boolean; commitUnknown: boolean; usage: boolean; hint?: string };
};

let store: SqliteStore | undefined;
/** Why the store could not be opened: every later call fails with it (the caller first sees it at migrate()). */
let openFailure: unknown;

function open(path: string, opts: SqliteOptions): void {
  try {
    store = new SqliteStore(path, opts);
  } catch (err) {
    openFailure = err;
    throw err;
  }
}

async function run(call: Call): Promise<unknown> {
  if (call.op === "open") return open(call.args[0] as string, call.args[1] as SqliteOptions);
  if (!store) {
    if (call.op === "close") return undefined; // nothing was opened, nothing to close
    throw openFailure ?? new Error("sqlite store thread: not open");
  }
  const method = (store as unknown as Record<string, (...a: unknown[]) => unknown>)[call.op];
  if (typeof method !== "function") throw new Error(`sqlite store thread: unknown operation ${call.op}`);
  return await method.apply(store, call.args);
}

self.onmessage = async (event: MessageEvent<string>) => {
  let id = 0;
  let reply: Reply;
  try {
    if (isAcceptMessage(event.data)) {
      id = acceptMessageId(event.data);
      if (!store) throw openFailure ?? new Error("sqlite store thread: not open");
      reply = { id, value: store.acceptRows(readAcceptMessage(event.data)) };
    } else {
      const call = JSON.parse(event.data) as Call;
      id = call.id;
      reply = { id, value: await run(call) };
    }
  } catch (err) {
    reply = failure(id, err);
  }
  self.postMessage(reply.value instanceof Framed ? frameReply(reply.id, reply.value) : JSON.stringify(reply));
};

function failure(id: number, err: unknown): Reply {
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    id,
    error: {
      name: e.name,
      message: e.message,
      unavailable: e instanceof StoreUnavailableError,
      commitUnknown: e instanceof StoreUnavailableError && e.commitUnknown,
      usage: e instanceof UsageError,
      hint: e instanceof UsageError ? e.hint : undefined,
    },
  };
}
