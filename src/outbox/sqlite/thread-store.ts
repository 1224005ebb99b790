// SqliteStore on a thread of its own (a Web Worker, on Bun and on Deno), behind the same Store
// interface. Why: SQLite's drivers are synchronous, so on the event loop every commit (its WAL writes and, at synchronous=full, its
// fsync) stops the receiver for its whole duration; measured, the commit was a third of serve's
// time under load (bench/results/ack.md). On the thread the event loop goes on parsing, checking
// and queueing requests while a batch commits, and Kratos is still answered only after the commit
// that holds its request. `serve` uses this; the CLI commands, which make one call and exit, use
// SqliteStore directly.
//
// One connection, on the thread, as before: the thread runs one call at a time in arrival order.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { UsageError } from "../../errors.ts";
import { StoreUnavailableError } from "../errors.ts";
import type { Acceptance, AcceptResult, Attempt, AttemptRecord, ClaimOptions, CompletedJob, Job, JobFilter, Stats, Store } from "../store.ts";
import type { SqliteOptions } from "./connection.ts";
import type { Call, Reply } from "./thread-host.ts";
import { acceptMessage, acceptResults, acceptRows, type Duplicates } from "./accept-rows.ts";
import { completionRows } from "./record-attempts.ts";
import { claimedJob, type ClaimedRow } from "./claim-due-jobs.ts";
import { unframeReply } from "./framed.ts";

type Waiting = { resolve(value: unknown): void; reject(err: unknown): void };

/**
 * Where the thread's code is: beside this file, or in the compiled binary a second entrypoint of
 * `bun build --compile` (package.json "build", scripts/test.sh). That build is split into chunks
 * (so `--version` loads none of this), and then this module sits in a chunk at the bundle's root
 * while the entrypoint keeps its path under src/ with a .js name (seen on Bun 1.4.5).
 */
const HOST = threadHost();

function threadHost(): URL {
  const beside = new URL("./thread-host.ts", import.meta.url);
  const bundled = /^(file:\/\/\/\$bunfs\/root\/)/.exec(import.meta.url)?.[1];
  if (!bundled) return beside;
  const entry = new URL(`${bundled}outbox/sqlite/thread-host.js`);
  return existsSync(fileURLToPath(entry)) ? entry : beside;
}

export class SqliteThreadStore implements Store {
  readonly kind = "sqlite";
  readonly #worker: Worker;
  readonly #waiting = new Map<number, Waiting>();
  #nextId = 1;
  #stopped: string | undefined;

  constructor(readonly path: string, opts: SqliteOptions = {}) {
    this.#worker = new Worker(HOST.href, { type: "module" }); // Deno requires the type; Bun accepts it
    this.#worker.onmessage = (event: MessageEvent<string>) => {
      const { reply, tail } = unframeReply<Reply>(event.data);
      // A framed reply (a claim's): its value is the head, with the tail beside it.
      this.#settle(tail === undefined ? reply : { ...reply, value: { head: reply.value, tail } });
    };
    this.#worker.onerror = (event) => this.#stop(`the store thread failed: ${event.message}`);
    this.#worker.addEventListener("close", () => this.#stop("the store thread stopped"));
    void this.#call("open", path, opts).catch(() => {}); // a failure to open surfaces again at migrate()
  }

  migrate(): Promise<void> {
    return this.#call("migrate");
  }
  acceptBatch(batch: Acceptance[]): Promise<AcceptResult[]> {
    if (!batch.length) return Promise.resolve([]);
    // In the compact form of accept-rows.ts: each payload serialised once, here, and inserted as
    // that text; the answer lists only the duplicates.
    return this.#send<Duplicates>((id) => acceptMessage(id, acceptRows(batch))).then((duplicates) => acceptResults(batch.length, duplicates));
  }
  async claimDueJobs(opts: ClaimOptions): Promise<Job[]> {
    // As compact rows with their payloads' text in the reply's tail (store.ts claimDueJobsFramed),
    // made Jobs here (claim-due-jobs.ts says why).
    const { head, tail } = await this.#call<{ head: ClaimedRow[]; tail: string }>("claimDueJobsFramed", opts);
    return claimedJobs(head, tail, opts);
  }
  async completeThenClaim(items: CompletedJob[], completedAt: number, opts: ClaimOptions): Promise<{ completed: string[]; jobs: Job[] }> {
    // The completions in the form of record-attempts.ts (CompletionRows); the answer says null
    // when all of them were marked done (store.ts completeThenClaimFramed).
    const { head, tail } = await this.#call<{ head: [string[] | null, ClaimedRow[]]; tail: string }>("completeThenClaimFramed", completionRows(items), completedAt, opts);
    return { completed: head[0] ?? idsOf(items), jobs: claimedJobs(head[1], tail, opts) };
  }
  completeJob(id: string, worker: string, now: number): Promise<boolean> {
    return this.#call("completeJob", id, worker, now);
  }
  completeJobs(items: CompletedJob[], now: number): Promise<string[]> {
    // As CompletionRows: a few values per completion, not objects with long keys, to encode here and
    // decode on the thread for every completion (record-attempts.ts); null back when all were done.
    if (!items.length) return Promise.resolve([]);
    return this.#call<string[] | null>("completeJobRows", completionRows(items), now).then((done) => done ?? idsOf(items));
  }
  failJob(id: string, worker: string, error: string, retryAt: number | null, now: number, attempt?: AttemptRecord): Promise<boolean> {
    return this.#call("failJob", id, worker, error, retryAt, now, attempt);
  }
  releaseJob(id: string, worker: string, now: number): Promise<boolean> {
    return this.#call("releaseJob", id, worker, now);
  }
  getJob(id: string): Promise<Job | undefined> {
    return this.#call("getJob", id);
  }
  listJobs(filter: JobFilter): Promise<Job[]> {
    return this.#call("listJobs", filter);
  }
  listAttempts(jobId: string): Promise<Attempt[]> {
    return this.#call("listAttempts", jobId);
  }
  retryJobs(filter: JobFilter, now: number): Promise<number> {
    return this.#call("retryJobs", filter, now);
  }
  purgeJobs(filter: JobFilter): Promise<number> {
    return this.#call("purgeJobs", filter);
  }
  expireJobs(state: "done" | "dead", before: number, limit: number): Promise<number> {
    return this.#call("expireJobs", state, before, limit);
  }
  purgeExpiredDedupe(now: number): Promise<number> {
    return this.#call("purgeExpiredDedupe", now);
  }
  stats(now: number): Promise<Stats> {
    return this.#call("stats", now);
  }
  ping(): Promise<void> {
    return this.#call("ping");
  }
  async close(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.#call("close");
    } finally {
      this.#stop("the store is closed");
      this.#worker.terminate();
    }
  }

  #call<T>(op: string, ...args: unknown[]): Promise<T> {
    return this.#send((id) => JSON.stringify({ id, op, args } satisfies Call));
  }

  /** Posts the message `message(id)` builds for a new call id; settles with the thread's reply to that id. */
  #send<T>(message: (id: number) => string): Promise<T> {
    if (this.#stopped) return Promise.reject(new StoreUnavailableError(`sqlite store unavailable: ${this.#stopped}`));
    const id = this.#nextId++;
    let text: string;
    try {
      text = message(id);
    } catch (err) {
      return Promise.reject(err); // e.g. arguments JSON cannot represent: nothing was sent, nothing waits
    }
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#worker.postMessage(text);
    });
  }

  #settle(reply: Reply): void {
    const waiting = this.#waiting.get(reply.id);
    if (!waiting) return;
    this.#waiting.delete(reply.id);
    if (!reply.error) return waiting.resolve(reply.value);
    const { name, message, unavailable, commitUnknown, usage, hint } = reply.error;
    if (unavailable) return waiting.reject(new StoreUnavailableError(message, commitUnknown));
    // A store path that cannot be used (connection.ts): printed by the CLI like any usage error.
    if (usage) return waiting.reject(new UsageError(message, hint));
    const err = new Error(message);
    err.name = name;
    waiting.reject(err);
  }

  /** Everything still waiting fails as unavailable (Kratos gets 503 and retries), and so does every later call. */
  #stop(why: string): void {
    if (this.#stopped) return;
    this.#stopped = why;
    for (const [id, waiting] of this.#waiting) {
      this.#waiting.delete(id);
      waiting.reject(new StoreUnavailableError(`sqlite store unavailable: ${why}`));
    }
  }
}

/** The ids of completions, in their order: what the thread's null answer (all marked done) stands for. */
function idsOf(items: CompletedJob[]): string[] {
  return items.map((i) => i.id);
}

/** A framed claim's rows as Jobs, each payload's text taken from the tail by the length in its place. */
function claimedJobs(head: ClaimedRow[], tail: string, opts: ClaimOptions): Job[] {
  let at = 0;
  return head.map((r) => {
    const length = r[3] as unknown as number;
    r[3] = tail.slice(at, (at += length));
    return claimedJob(r, opts);
  });
}
