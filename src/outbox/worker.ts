// The delivery loop: claims due jobs from the Store, delivers them with their action, and records
// the outcome. At least once: a job is marked done only after its delivery succeeded, so a crash
// between the two delivers it again (the Idempotency-Key / Message-ID let the destination tell).
//
// Polling: SQLite has no notifications, and on Postgres a NOTIFY lost across a reconnect would
// stall work until the next poll anyway (Bun 1.4.5 has sql.listen; the store does not use it), so
// the worker polls with an adaptive interval: minPollMs while jobs keep coming, doubling up to
// pollMs when idle. The receiver calls wake() after a commit, so a fresh job does not wait for
// the idle interval, and the worker sets a timer for every retry it schedules itself.
//
// Leases: a claim leases a job for leaseMs. Leases are not renewed; instead every delivery is cut
// (aborted, counted as a retryable failure) shortly before its lease ends, so a job is never
// delivered by this worker after another worker could have reclaimed it (lease.ts). `check` refuses
// an action timeout that does not fit in that budget.
//
// Throughput: a delivery's slot is freed as soon as the delivery ends, and its outcome recorded
// after: successes go through a CompletionCommitter, so many deliveries share one completeJobs
// write (one fsync / one round trip) instead of paying one each. Claims ask for as many jobs as
// there is room for (up to batchSize) and, while deliveries are in flight, wait for part of an
// action's room to be free (a quarter of it, waiting at most claimCoalesceMs for an action that
// does not prefetch; its concurrency for one with a deep queue, see Prefetch), so a destination is refilled
// by a few large claims rather than a claim per finished delivery. Outcomes not yet recorded are
// bounded (2 × the total concurrency): past that the worker stops claiming until they are.
//
// Prefetch: an action without a rate limit has room for its concurrency in flight plus as many
// jobs again claimed ahead, queued in this worker. A freed slot takes the next queued job at once,
// so deliveries do not wait for the claim's round trip (with the store on its own thread, slots
// sat empty most of the time: bench/results/drain.md). While its deliveries are short (under an
// eighth of the lease, smoothed), it queues twice its concurrency and claims when its concurrency
// is free, so a claim goes out with a whole concurrency still queued: the queue outlasts the
// claim's round trip as long as that is shorter than a delivery (Little's law; with half a
// concurrency queued, 9 % of slot time sat empty against a 1 ms destination while claims crossed
// the store thread). Against slower destinations the deeper queue buys nothing (a claim is far
// shorter than a delivery) and its last jobs would wait two deliveries on their lease, so it stays
// one concurrency deep, claimed when a quarter of its room is free. Queued jobs hold their lease; one whose
// lease is half gone before a slot frees is given back (releaseJob, attempt not counted), and at
// stop() every queued job is given back. A rate-limited action is not prefetched: its tokens, not
// its slots, pace it, and a job waiting for a token would sit on its lease.
//
// Failures are events (graphile-worker style): job:claimed, job:delivered, job:retry, job:dead,
// job:released and worker:error. Metrics and logs subscribe; the worker itself never logs.
import { hostname } from "node:os";
import type { SmtpDecl } from "../config/model.ts";
import type { ResolvedAction, ResolvedConfig } from "../config/types.ts";
import { deliver, DeliveryError, DeliveryTimeout, type DeliveryResult } from "../actions/index.ts";
import { closeEmailTransports } from "../actions/email.ts";
import type { Env } from "../template.ts";
import { knownSecrets, NO_SECRETS, type Redactor } from "../secrets.ts";
import { CompletionCommitter } from "./completion-committer.ts";
import { leaseMarginMs } from "./lease.ts";
import { nextRetryAt, type Random } from "./retry.ts";
import { traceIdOf } from "../trace-context.ts";
import { ATTEMPT_DETAIL_MAX, rateLimitBurst, type AttemptOutcome, type AttemptRecord, type Job, type SharedRateLimit, type Store } from "./store.ts";

/**
 * What every job event carries: enough to join a log line to its webhook (trigger id) and its
 * trace. Never payload contents: they may hold personal data.
 */
export type JobEvent = { jobId: string; hook: string; action: string; attempt: number; maxAttempts: number; triggerId: string | null; traceId?: string };

export type WorkerEvents = {
  "job:claimed": JobEvent;
  "job:delivered": JobEvent & { durationMs: number };
  "job:retry": JobEvent & { durationMs: number; error: string; retryAt: number; delayMs: number };
  "job:dead": JobEvent & { durationMs: number; error: string; reason: "max_attempts" | "non_retryable" };
  /**
   * Given back without counting the attempt; another worker (or the next start) delivers it.
   * `shutdown`: at stop(). `lease`: a prefetched job still queued when half its lease was gone.
   */
  "job:released": JobEvent & { reason: "shutdown" | "lease" };
  /**
   * The worker could not do something and will try again: a store call failed (it backs off and
   * keeps running), a lease was lost, a listener threw. `error` is text without secrets.
   */
  "worker:error": { op: "claim" | "complete" | "fail" | "release" | "lease" | "listener"; error: string; jobId?: string; hook?: string; action?: string; triggerId?: string | null; retryInMs?: number };
};

type Listener<T> = (event: T) => void;

/** A small typed event emitter. Listeners run synchronously; one that throws does not stop the worker. */
export class WorkerEventEmitter {
  readonly #listeners = new Map<keyof WorkerEvents, Set<Listener<never>>>();

  on<K extends keyof WorkerEvents>(name: K, fn: Listener<WorkerEvents[K]>): () => void {
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    set.add(fn as Listener<never>);
    return () => this.off(name, fn);
  }

  off<K extends keyof WorkerEvents>(name: K, fn: Listener<WorkerEvents[K]>): void {
    this.#listeners.get(name)?.delete(fn as Listener<never>);
  }

  /** Whether anyone listens to `name`: the worker builds an event only for listeners (it emits several per delivery). */
  has(name: keyof WorkerEvents): boolean {
    return (this.#listeners.get(name)?.size ?? 0) > 0;
  }

  emit<K extends keyof WorkerEvents>(name: K, event: WorkerEvents[K]): void {
    for (const fn of this.#listeners.get(name) ?? []) {
      try {
        (fn as Listener<WorkerEvents[K]>)(event);
      } catch (err) {
        if (name !== "worker:error") this.emit("worker:error", { op: "listener", error: `a ${name} listener threw: ${(err as Error)?.message ?? err}` });
      }
    }
  }
}

export type WorkerOptions = {
  store: Store;
  /** The actions this worker delivers; jobs of other actions stay pending. */
  actions: ResolvedAction[];
  /** serve.leaseMs. */
  leaseMs: number;
  /** serve.pollMs: the longest idle interval between claims. */
  pollMs: number;
  /** The shortest interval, used while busy. Default min(25, pollMs). */
  minPollMs?: number;
  /** Most jobs taken by one claim (a claim never takes more than the free slots). Default 128. */
  batchSize?: number;
  /** Lease holder name. Default host:pid:random. */
  workerId?: string;
  /** serve.smtp, for email actions without their own smtp block. */
  defaultSmtp?: SmtpDecl;
  /** Where env refs and secrets are read at delivery. Default process.env. */
  env?: Env;
  /**
   * Every secret serve knows (src/secrets.ts), masked in delivery errors before they are cut
   * short, stored (last_error) or emitted. fromConfig sets it from the config and env.
   */
  redactor?: Redactor;
  /** Jitter source for retries. Default Math.random. */
  random?: Random;
  /** Clock for store timestamps. Default Date.now. */
  now?: () => number;
  /** Longest back-off after store errors. Default 5000. */
  maxStoreBackoffMs?: number;
  /**
   * How long the first completion of a batch waits for others before one completeJobs write
   * records them together (see completion-committer.ts). Default 1 ms.
   */
  completionWaitMs?: number;
  /**
   * While deliveries of an action that does not prefetch are in flight and fewer than a quarter
   * of its slots are free, the worker waits up to this long for more slots before claiming, so a
   * fast destination is refilled by a few large claims rather than one claim per finished
   * delivery (a prefetching action waits for a quarter of its room, or its concurrency: see #coalesceMs). 0 = never wait.
   * Default 2 ms.
   */
  claimCoalesceMs?: number;
  /** Claim jobs ahead of free slots (see Prefetch above). Default true. */
  prefetch?: boolean;
  /**
   * Deliveries per second per destination (serve.rate_limits, keyed as ResolvedAction.destination),
   * shared by every action of this worker that delivers there, on top of each action's rateLimit.
   */
  rateLimits?: Record<string, number>;
};

/** A claimed job, from the start of its delivery until its outcome is recorded (or it is released). */
type InFlight = { job: Job; action: ResolvedAction; deadline: Deadline; released: boolean; started: number; startedAt: number };

/**
 * The deliveries cut at the same real-time ms for the same reason (the lease, or an http action's
 * timeout of the same length): they share one timer and one AbortController. The deliveries of a
 * claim start together and hold the same lease, so most share one: a timer and a controller per
 * delivery were ~2-3 µs of the event loop's CPU each (bench/results/drain.md, eighth session).
 * Aborting it aborts them all, which only stop() does besides the timer (it releases every
 * delivery in flight). A deadline lasts one ms of starts on purpose: in Bun 1.4.5, fetches on one
 * long-lived signal shared by every request cost ~5 µs more of the event loop each, while signals
 * replaced every ms cost nothing more than one per request (same section).
 */
type Deadline = { readonly key: string; readonly at: number; readonly timeoutMs: number | undefined; readonly controller: AbortController; timer: ReturnType<typeof setTimeout> | undefined; members: number };

/** What pacing a rate-limited action asks of a limit, whether the worker holds it or the store does. */
interface Limit {
  readonly rate: number;
  /** Whole tokens a claim may use now (an upper bound when the store holds the bucket). */
  available(now: number): number;
  /** A delivery started: its token. */
  take(now: number): void;
  /** Ms until a whole token is available. */
  msUntilToken(now: number): number;
}

/** A token bucket held by this worker: `rate` deliveries per second, bursts up to rateLimitBurst(rate). For stores without shared limits (SQLite). */
class TokenBucket implements Limit {
  readonly #capacity: number;
  #tokens: number;
  #at: number;
  constructor(readonly rate: number, now: number) {
    this.#capacity = rateLimitBurst(rate);
    this.#tokens = this.#capacity;
    this.#at = now;
  }
  available(now: number): number {
    this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    this.#at = now;
    return Math.floor(this.#tokens);
  }
  take(now: number): void {
    this.available(now);
    this.#tokens -= 1;
  }
  msUntilToken(now: number): number {
    this.available(now);
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.rate) * 1000);
  }
}

/**
 * A bucket the store holds for every worker on it (Store.claimDueJobsWithin): the claim takes the
 * tokens. This side only remembers when the store said the next token is due, so the worker does
 * not ask before then.
 */
class SharedLimit implements Limit {
  nextTokenAt = 0;
  constructor(readonly key: string, readonly rate: number) {}
  available(now: number): number {
    return now >= this.nextTokenAt ? Math.ceil(rateLimitBurst(this.rate)) : 0;
  }
  take(): void {}
  msUntilToken(now: number): number {
    return Math.max(0, this.nextTokenAt - now);
  }
}

export class Worker {
  readonly events = new WorkerEventEmitter();
  readonly id: string;
  readonly #store: Store;
  readonly #actions: Map<string, ResolvedAction>;
  /** The limits a delivery of each rate-limited action takes a token from: its own rate_limit, its destination's (serve.rate_limits). */
  readonly #limits = new Map<string, Limit[]>();
  /** The destination limit of each action that shares one (serve.rate_limits). */
  readonly #destinationBucket = new Map<string, Limit>();
  /** Whether the store holds the limits for every worker on it (Postgres) rather than this worker. */
  readonly #sharedLimits: boolean;
  /** Deliveries in flight (a Set of their records: one keyed by job id hashed the id twice per delivery). */
  readonly #inFlight = new Set<InFlight>();
  /** The deadlines of deliveries in flight, by when and why they are cut (see Deadline). */
  readonly #deadlines = new Map<string, Deadline>();
  /** The deadline a delivery last joined: the next one usually joins it too (same ms, same reason), found without building its key. */
  #lastDeadline: Deadline | undefined;
  /** Deliveries running per action (they hold a slot). */
  readonly #perAction = new Map<string, number>();
  /** Jobs claimed ahead per action, waiting for a slot, oldest due first. */
  readonly #queued = new Map<string, Job[]>();
  /** How many jobs an action may have queued (0 without prefetch), twice that while #deep. */
  readonly #prefetch = new Map<string, number>();
  /** Each action's delivery time, smoothed (ms): whether its queue is #deep. */
  readonly #deliveryMs = new Map<string, number>();
  readonly #leaseMs: number;
  /** leaseMarginMs(leaseMs): how long before its lease ends a delivery is cut. */
  readonly #leaseMarginMs: number;
  readonly #pollMs: number;
  readonly #minPollMs: number;
  readonly #batchSize: number;
  readonly #env: Env;
  readonly #redactor: Redactor;
  readonly #random: Random;
  readonly #now: () => number;
  /** deliver()'s options: the same for every delivery, made once. */
  readonly #deliverOptions: { defaultSmtp: SmtpDecl | undefined };
  readonly #maxStoreBackoffMs: number;
  readonly #completions: CompletionCommitter;
  readonly #claimCoalesceMs: number;
  /** Sum of the actions' concurrency: bounds the deliveries whose outcome is still being recorded. */
  readonly #totalConcurrency: number;
  /** Deliveries that ended and whose outcome is not recorded yet (they no longer hold a slot). */
  #recording = 0;
  /** When the loop first saw free slots it chose not to claim yet (claim coalescing). */
  #holdingSince: number | undefined;
  /** Times at which this worker knows a job becomes due (its own retries). */
  #dueHints: number[] = [];
  #state: "idle" | "running" | "stopping" | "stopped" = "idle";
  #loop: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;
  #nudge: (() => void) | undefined;
  #nudged = false;
  /** stop() waiting for the deliveries in flight: called when the last one leaves #inFlight. */
  #onAllRecorded: (() => void) | undefined;

  constructor(opts: WorkerOptions) {
    this.#store = opts.store;
    this.#actions = new Map(opts.actions.map((a) => [a.id, a]));
    this.#leaseMs = opts.leaseMs;
    this.#leaseMarginMs = leaseMarginMs(opts.leaseMs);
    this.#pollMs = Math.max(1, opts.pollMs);
    this.#minPollMs = Math.max(1, Math.min(opts.minPollMs ?? 25, this.#pollMs));
    this.#batchSize = opts.batchSize ?? 128;
    this.id = opts.workerId ?? `${hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}`;
    this.#env = opts.env ?? process.env;
    this.#redactor = opts.redactor ?? NO_SECRETS;
    this.#random = opts.random ?? Math.random;
    this.#now = opts.now ?? Date.now;
    this.#deliverOptions = { defaultSmtp: opts.defaultSmtp };
    this.#maxStoreBackoffMs = opts.maxStoreBackoffMs ?? 5000;
    this.#completions = new CompletionCommitter(this.#store, { maxWaitMs: opts.completionWaitMs ?? 1, now: this.#now });
    this.#claimCoalesceMs = Math.max(0, opts.claimCoalesceMs ?? 2);
    this.#totalConcurrency = opts.actions.reduce((n, a) => n + a.concurrency, 0);
    const now = this.#now();
    this.#sharedLimits = typeof this.#store.claimDueJobsWithin === "function";
    const limit = (key: string, rate: number): Limit => (this.#sharedLimits ? new SharedLimit(key, rate) : new TokenBucket(rate, now));
    // Actions that deliver to one destination share its bucket.
    const destinations = new Map<string, Limit>();
    for (const a of opts.actions) {
      const buckets: Limit[] = [];
      if (a.rateLimit !== undefined && a.rateLimit > 0) buckets.push(limit(`action:${a.id}`, a.rateLimit));
      const rate = a.destination !== undefined ? opts.rateLimits?.[a.destination] : undefined;
      if (rate !== undefined && rate > 0) {
        let shared = destinations.get(a.destination!);
        if (!shared) destinations.set(a.destination!, (shared = limit(`destination:${a.destination}`, rate)));
        buckets.push(shared);
        this.#destinationBucket.set(a.id, shared);
      }
      if (buckets.length) this.#limits.set(a.id, buckets);
      this.#prefetch.set(a.id, opts.prefetch !== false && !buckets.length ? a.concurrency : 0);
    }
  }

  /** A worker for every action of a resolved config, with serve's lease, poll and smtp. */
  static fromConfig(config: ResolvedConfig, store: Store, opts: Partial<WorkerOptions> = {}): Worker {
    return new Worker({
      store,
      actions: config.hooks.flatMap((h) => h.actions),
      leaseMs: config.serve.leaseMs,
      pollMs: config.serve.pollMs,
      defaultSmtp: config.serve.smtp,
      rateLimits: config.serve.rateLimits,
      redactor: knownSecrets(config, opts.env ?? process.env),
      ...opts,
    });
  }

  /** Jobs being delivered right now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Jobs claimed ahead, waiting in this worker for a free slot. */
  get queued(): number {
    let n = 0;
    for (const q of this.#queued.values()) n += q.length;
    return n;
  }

  get running(): boolean {
    return this.#state === "running";
  }

  /** Starts the loop. The worker keeps running through store errors until stop(). */
  start(): void {
    if (this.#state !== "idle") throw new Error(`worker ${this.id} cannot start: it is ${this.#state}`);
    this.#state = "running";
    this.#loop = this.#run();
  }

  /** Claims now instead of waiting out the idle interval (the receiver calls it after a commit). */
  wake(): void {
    this.#nudged = true;
    this.#nudge?.();
  }

  /**
   * Stops claiming, waits up to `timeoutMs` for deliveries in flight, then aborts the rest and
   * gives their jobs back (releaseJob, attempt not counted). Resolves when the worker holds no job.
   */
  stop(timeoutMs: number): Promise<void> {
    return (this.#stopped ??= this.#stop(timeoutMs));
  }

  async #stop(timeoutMs: number): Promise<void> {
    if (this.#state === "idle") {
      this.#state = "stopped";
      return;
    }
    this.#state = "stopping";
    this.wake();
    await this.#loop;
    // Queued jobs never started (a freed slot no longer takes one once stopping): give them back.
    const queued = [...this.#queued.values()].flatMap((q) => q.splice(0));
    await Promise.all(queued.map((job) => this.#giveBack(job, "shutdown")));
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#allRecorded(), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    this.#onAllRecorded = undefined;
    await Promise.all([...this.#inFlight].map((f) => this.#release(f)));
    this.#state = "stopped";
    closeEmailTransports();
  }

  async #release(f: InFlight): Promise<void> {
    f.released = true;
    f.deadline.controller.abort();
    this.#leave(f);
    await this.#giveBack(f.job, "shutdown");
  }

  /** Resolves once no delivery is in flight (each has its outcome recorded, or was released). */
  #allRecorded(): Promise<void> {
    if (this.#inFlight.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => (this.#onAllRecorded = resolve));
  }

  /** A delivery leaves #inFlight: its outcome is recorded, or it was released. */
  #leave(f: InFlight): void {
    if (!this.#inFlight.delete(f) || this.#inFlight.size > 0) return;
    this.#onAllRecorded?.();
    this.#onAllRecorded = undefined;
  }

  /** releaseJob: the job is pending again, its attempt not counted. */
  async #giveBack(job: Job, reason: "shutdown" | "lease"): Promise<void> {
    try {
      const ok = await this.#store.releaseJob(job.id, this.id, this.#now());
      if (ok) this.events.emit("job:released", { ...jobEvent(job), reason });
    } catch (err) {
      // The lease runs out and another worker reclaims the job; nothing is lost.
      this.events.emit("worker:error", { op: "release", error: this.#redactor.redact(errorText(err)), ...jobRef(job) });
    }
  }

  async #run(): Promise<void> {
    let idleMs = this.#minPollMs;
    let storeFailures = 0;
    while (this.#state === "running") {
      this.#nudged = false;
      const now = this.#now();
      const free = this.#unrecorded() < 2 * this.#totalConcurrency ? this.#freeSlots(now) : new Map<string, number>();
      if (free.size === 0) {
        // Every action is at its concurrency or rate limit (or outcomes are piling up unrecorded):
        // wait for a slot, a token, a recorded outcome or wake().
        await this.#sleep(Math.min(this.#pollMs, this.#msUntilToken(now)));
        continue;
      }
      const holdMs = this.#nudged ? 0 : this.#coalesceMs(free, now);
      if (holdMs > 0) {
        await this.#sleep(holdMs);
        continue;
      }
      this.#holdingSince = undefined;
      let claimed = 0;
      let full = false;
      let failed = false;
      for (const group of this.#claims(free)) {
        let jobs: Job[];
        try {
          jobs = await this.#claim(group, now);
          storeFailures = 0;
        } catch (err) {
          const backoff = Math.min(this.#maxStoreBackoffMs, 100 * 2 ** storeFailures++);
          this.events.emit("worker:error", { op: "claim", error: this.#redactor.redact(errorText(err)), retryInMs: backoff });
          await this.#sleep(backoff, false);
          failed = true;
          break;
        }
        for (const job of jobs) this.#take(job, now);
        claimed += jobs.length;
        if (jobs.length >= group.limit) full = true;
      }
      if (failed) continue;
      if (full) {
        // Probably more due: claim again at once, after letting deliveries get going.
        idleMs = this.#minPollMs;
        await new Promise((r) => setImmediate(r));
        continue;
      }
      idleMs = claimed > 0 || this.#nudged ? this.#minPollMs : Math.min(this.#pollMs, idleMs * 2);
      if (this.#nudged) continue;
      await this.#sleep(Math.min(idleMs, this.#msUntilHint(this.#now())));
    }
  }

  /**
   * One claim. With limits the store holds, it goes through claimDueJobsWithin with every limit of
   * the group's actions, and each limit learns when its next token is due.
   */
  async #claim(group: { actions: string[]; limit: number }, now: number): Promise<Job[]> {
    const opts = { worker: this.id, now, leaseMs: this.#leaseMs, limit: group.limit, actions: group.actions };
    const limits = new Map<SharedLimit, string[]>();
    if (this.#sharedLimits) {
      for (const id of group.actions) {
        for (const l of this.#limits.get(id) ?? []) {
          const shared = l as SharedLimit;
          limits.set(shared, [...(limits.get(shared) ?? []), id]);
        }
      }
    }
    // Through the committer: completions waiting for their write go with the claim (completion-committer.ts).
    if (!limits.size) return this.#completions.claim(opts);
    const list: SharedRateLimit[] = [...limits].map(([l, actions]) => ({ key: l.key, rate: l.rate, actions }));
    const claim = await this.#store.claimDueJobsWithin!(opts, list);
    for (const l of limits.keys()) l.nextTokenAt = claim.nextTokenAt[l.key] ?? now;
    return claim.jobs;
  }

  /** An action's room: its concurrency plus its prefetch (twice over while #deep). */
  #room(a: ResolvedAction): number {
    const prefetch = this.#prefetch.get(a.id)!;
    return a.concurrency + (this.#deep(a.id) ? 2 * prefetch : prefetch);
  }

  /**
   * Whether a prefetching action's deliveries are short enough for the deeper queue (see Prefetch):
   * under an eighth of the lease, so its last queued job waits about a quarter of its lease, well
   * before the half at which #startQueued gives a job back. Not until a delivery has been timed.
   */
  #deep(id: string): boolean {
    const ms = this.#deliveryMs.get(id);
    return ms !== undefined && ms * 8 < this.#leaseMs && this.#prefetch.get(id)! > 0;
  }

  /** The free room at which an action claims without waiting for more (#coalesceMs): its concurrency while #deep, else a quarter of its room. */
  #claimAt(a: ResolvedAction): number {
    return this.#deep(a.id) ? a.concurrency : Math.ceil(this.#room(a) / 4);
  }

  /** Smooths in a delivery's time; true if that turned the action's queue deep or shallow. */
  #timed(id: string, ms: number): boolean {
    const before = this.#deliveryMs.get(id);
    const was = this.#deep(id);
    this.#deliveryMs.set(id, before === undefined ? ms : before + (ms - before) / 8);
    return this.#deep(id) !== was;
  }

  /** Jobs an action holds: in flight plus queued. */
  #held(id: string): number {
    return (this.#perAction.get(id) ?? 0) + (this.#queued.get(id)?.length ?? 0);
  }

  /** Free room per action: concurrency and prefetch minus jobs held, and whole rate tokens. */
  #freeSlots(now: number): Map<string, number> {
    const free = new Map<string, number>();
    for (const a of this.#actions.values()) {
      let n = this.#room(a) - this.#held(a.id);
      const buckets = this.#limits.get(a.id);
      if (buckets) for (const b of buckets) n = Math.min(n, b.available(now));
      if (n > 0) free.set(a.id, n);
    }
    return free;
  }

  /**
   * The claims for this round: claimGroups for the actions on their own, and one claim per shared
   * (destination) bucket over all its actions with room, capped by the least room among them, so
   * that together they never get more jobs than the bucket has tokens, oldest due first.
   */
  #claims(free: Map<string, number>): { actions: string[]; limit: number }[] {
    const alone = new Map(free);
    const byBucket = new Map<Limit, [string, number][]>();
    const own: { actions: string[]; limit: number }[] = [];
    for (const [id, n] of free) {
      const shared = this.#destinationBucket.get(id);
      if (!shared) {
        // A store-held limit caps a whole claim at its tokens: an action limited on its own is
        // claimed on its own, so it does not hold back the others' batch.
        if (this.#sharedLimits && this.#limits.has(id)) {
          alone.delete(id);
          own.push({ actions: [id], limit: Math.min(this.#batchSize, n) });
        }
        continue;
      }
      alone.delete(id);
      let group = byBucket.get(shared);
      if (!group) byBucket.set(shared, (group = []));
      group.push([id, n]);
    }
    const shared = [...byBucket.values()].map((g) => ({ actions: g.map(([id]) => id), limit: Math.min(this.#batchSize, ...g.map(([, n]) => n)) }));
    return [...claimGroups(alone, this.#batchSize), ...own, ...shared];
  }

  /**
   * How long to hold off claiming for more room to free up: 0 when some action has its #claimAt
   * free (a quarter of its room; its concurrency while its queue is deep), or holds no job that
   * could free more, or is rate limited (tokens, not slots, pace it), or the loop has held off for
   * claimCoalesceMs already.
   *
   * An action that prefetches is held without that time limit: until #claimAt is free, at least
   * half its concurrency is queued (a whole one while deep), and a finished delivery hands its slot
   * to a queued job, so no slot waits for the claim; slotFreed wakes the loop when that much is
   * free. Against a slow destination, whose slots free one by one, the 2 ms limit made claims of a
   * few jobs each (4.8 per claim at 50 ms, C = 16: bench/results/drain.md); held, each claim takes
   * at least half the concurrency, so fewer claims (writes) per delivery.
   */
  #coalesceMs(free: Map<string, number>, now: number): number {
    if (this.#claimCoalesceMs === 0) return 0;
    let untilClaimAt = true;
    for (const [id, n] of free) {
      if (n >= this.#claimAt(this.#actions.get(id)!) || !this.#held(id) || this.#limits.has(id)) return 0;
      if (!this.#prefetch.get(id)) untilClaimAt = false;
    }
    if (untilClaimAt) return this.#pollMs;
    this.#holdingSince ??= now;
    return Math.max(0, this.#holdingSince + this.#claimCoalesceMs - now);
  }

  /** Ms until some rate-limited action with a free slot has a token in every bucket it draws from. */
  #msUntilToken(now: number): number {
    let ms = Infinity;
    for (const [id, buckets] of this.#limits) {
      const a = this.#actions.get(id)!;
      if ((this.#perAction.get(id) ?? 0) >= a.concurrency) continue;
      ms = Math.min(ms, Math.max(1, ...buckets.map((b) => b.msUntilToken(now))));
    }
    return ms;
  }

  #msUntilHint(now: number): number {
    this.#dueHints = this.#dueHints.filter((t) => t > now);
    return this.#dueHints.length ? Math.max(1, Math.min(...this.#dueHints) - now) : Infinity;
  }

  /** Sleeps `ms`, or less if nudged (wake, a finished delivery, stop). Stop always interrupts. */
  #sleep(ms: number, nudgeable = true): Promise<void> {
    if (this.#state !== "running") return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#nudge = undefined;
        resolve();
      };
      const timer = setTimeout(done, Number.isFinite(ms) ? ms : this.#pollMs);
      this.#nudge = nudgeable ? done : () => this.#state !== "running" && done();
      if (nudgeable && this.#nudged) done();
    });
  }

  /** A freshly claimed job: delivered now if its action has a free slot, else queued (prefetch). */
  #take(job: Job, claimedAt: number): void {
    const action = this.#actions.get(job.action);
    if (!action) return; // Claims only ask for known actions.
    if (this.events.has("job:claimed")) this.events.emit("job:claimed", jobEvent(job));
    if ((this.#perAction.get(action.id) ?? 0) < action.concurrency) this.#startDelivery(job, action, claimedAt);
    else {
      let q = this.#queued.get(action.id);
      if (!q) this.#queued.set(action.id, (q = []));
      q.push(job);
    }
  }

  /** When this worker's lease on a job ends: as the claim recorded it. */
  #leaseEnd(job: Job, claimedAt: number): number {
    return job.lockedUntil ?? claimedAt + this.#leaseMs;
  }

  #startDelivery(job: Job, action: ResolvedAction, claimedAt: number): void {
    this.#perAction.set(action.id, (this.#perAction.get(action.id) ?? 0) + 1);
    const buckets = this.#limits.get(action.id);
    if (buckets) for (const b of buckets) b.take(this.#now());
    // Cut the delivery before the lease ends: after that another worker may own the job. An http
    // action's own timeout rides on the same timer and signal (ctx.signalHasTimeout), so a
    // request costs no timer and signal of its own.
    const leaseLeft = Math.max(1, this.#leaseEnd(job, claimedAt) - this.#leaseMarginMs - this.#now());
    const deadline = action.kind === "http" && action.timeoutMs < leaseLeft ? this.#joinDeadline(action.timeoutMs, action.timeoutMs) : this.#joinDeadline(leaseLeft, undefined);
    const f: InFlight = { job, action, deadline, released: false, started: 0, startedAt: 0 };
    this.#inFlight.add(f);
    this.#deliver(f);
  }

  /**
   * The deadline `ms` from now, shared with the deliveries that joined it in the same real-time
   * ms (rounded up: none is cut before its `ms`, some up to 1 ms after). `timeoutMs`: an http
   * action's timeout (the abort reason is then its DeliveryTimeout), else the lease's cut.
   * Real time (performance.now), not the worker's clock: the timer runs in real time.
   */
  #joinDeadline(ms: number, timeoutMs: number | undefined): Deadline {
    const now = performance.now();
    const at = Math.ceil(now) + Math.ceil(ms);
    const last = this.#lastDeadline;
    if (last !== undefined && last.timer !== undefined && last.at === at && last.timeoutMs === timeoutMs) {
      last.members++;
      return last;
    }
    const key = timeoutMs === undefined ? `${at}` : `${at}/${timeoutMs}`;
    let d = this.#deadlines.get(key);
    if (!d) {
      const group: Deadline = (d = { key, at, timeoutMs, controller: new AbortController(), timer: undefined, members: 0 });
      group.timer = setTimeout(() => {
        group.timer = undefined;
        this.#deadlines.delete(key);
        if (timeoutMs === undefined) group.controller.abort();
        else group.controller.abort(new DeliveryTimeout(timeoutMs));
      }, at - now);
      this.#deadlines.set(key, group);
    }
    d.members++;
    this.#lastDeadline = d;
    return d;
  }

  /** A delivery ended: its deadline's timer goes when no delivery is left on it. */
  #leaveDeadline(d: Deadline): void {
    if (--d.members > 0 || d.timer === undefined) return;
    clearTimeout(d.timer);
    d.timer = undefined;
    this.#deadlines.delete(d.key);
  }

  /**
   * A slot of `action` is free: the next queued job takes it, unless the worker is stopping. A
   * queued job with less than half its lease left is given back instead: its delivery could be
   * cut short by the lease (and count an attempt) through no fault of the destination.
   */
  #startQueued(action: ResolvedAction): void {
    const q = this.#queued.get(action.id);
    const now = this.#now();
    while (q?.length && this.#state === "running") {
      const job = q.shift()!;
      if (this.#leaseEnd(job, now) - now >= this.#leaseMs / 2) return this.#startDelivery(job, action, now);
      void this.#giveBack(job, "lease");
    }
  }

  /**
   * Delivers a job, then records its outcome (#ended); it leaves #inFlight at the end, whatever
   * happened. Callbacks rather than an async function awaiting the delivery and then the
   * completion's write: most deliveries succeed, and for each of them that was a promise, a
   * resumption and an async frame more, and the completion's promise and its two callbacks.
   */
  #deliver(f: InFlight): void {
    const { job, action, deadline } = f;
    f.started = performance.now();
    f.startedAt = this.#now();
    let delivery: Promise<DeliveryResult>;
    try {
      delivery = deliver(action, job.payload, { jobId: job.id, hook: job.hook, action: job.action, attempt: job.attempts, env: this.#env, signal: deadline.controller.signal, signalHasTimeout: action.kind === "http", traceparent: job.traceparent, redactor: this.#redactor }, this.#deliverOptions);
    } catch (err) {
      delivery = Promise.reject(err);
    }
    // The payload is rendered (what the action still needs of it, it holds itself): let it go now,
    // not when the outcome is recorded, a batch's wait and a store round trip later. Freed young,
    // it costs the garbage collector nothing; kept, it outlived collections as the floor's did not.
    job.payload = undefined;
    delivery.then(
      (result) => this.#ended(f, undefined, result),
      (err: unknown) => this.#ended(f, err instanceof DeliveryError ? err : new DeliveryError(this.#redactor.redact(`unexpected: ${errorText(err)}`), true), undefined),
    );
  }

  /** A delivery ended: its slot is free, and its outcome is recorded unless it was released meanwhile. */
  #ended(f: InFlight, failure: DeliveryError | undefined, result: DeliveryResult | undefined): void {
    const { job, action, started, startedAt } = f;
    try {
      this.#leaveDeadline(f.deadline);
      this.#slotFreed(action, this.#prefetch.get(action.id)! > 0 && this.#timed(action.id, performance.now() - started));
    } catch (err) {
      this.#leave(f);
      throw err;
    }
    if (f.released) return this.#leave(f);
    this.#recording++;
    const durationMs = Math.round(performance.now() - started);
    if (failure) {
      this.#recordFailure(f, failure, { startedAt, durationMs, code: failure.code ?? null }).finally(() => this.#recorded(f));
      return;
    }
    // Done: the write tried once before #settle's retries, since every delivery that succeeds comes this way.
    const tried: AttemptRecord = { startedAt, durationMs, code: result?.code ?? null, outcome: "delivered", detail: null };
    this.#completions.completeThen(
      job.id,
      this.id,
      tried,
      (ok) => {
        if (!ok) this.#leaseLost("complete", f);
        this.#completed(f, ok, durationMs);
      },
      (err: unknown) => {
        this.#settle("complete", f, () => this.#completions.complete(job.id, this.id, tried), err).then(
          (ok) => this.#completed(f, ok, durationMs),
          (e: unknown) => {
            this.#recorded(f);
            throw e;
          },
        );
      },
    );
  }

  /** A success's completion was written (`ok`), or its lease was lost or ran out meanwhile. */
  #completed(f: InFlight, ok: boolean, durationMs: number): void {
    try {
      if (ok && this.events.has("job:delivered")) this.events.emit("job:delivered", deliveredEvent(f.job, durationMs));
    } finally {
      this.#recorded(f);
    }
  }

  /** An outcome is recorded (or given up on): the delivery no longer counts against the cap, and leaves #inFlight. */
  #recorded(f: InFlight): void {
    // Back under the cap on unrecorded outcomes: the loop may be waiting for that.
    const atCap = this.#unrecorded() === 2 * this.#totalConcurrency;
    this.#recording--;
    if (atCap) this.#nudge?.();
    this.#leave(f);
  }

  /**
   * Outcomes not recorded yet, against the cap of 2 × the total concurrency. Completions that the
   * next claim will carry (CompletionCommitter.riding) do not count: that claim records them, in
   * its transaction, before it takes new jobs. Counted, they held the loop back from the very
   * claim that would record them (bench/results/drain.md, seventh session).
   */
  #unrecorded(): number {
    return this.#recording - this.#completions.riding;
  }

  /**
   * A delivery ended: its slot is free while the outcome is recorded (the concurrency limits what
   * the destination sees; recording is batched and need not hold it up), and the next queued job
   * takes it. The loop is woken only when it would act: the first free room (it may be sleeping
   * until some frees), #claimAt free (claim coalescing ends), nothing left held, a rate-limited
   * action, or the queue's depth changed (`resized`: the room moved by a concurrency, past
   * #claimAt). Waking it for every finished delivery cost a loop turn, a promise and a timer each.
   */
  #slotFreed(action: ResolvedAction, resized: boolean): void {
    this.#perAction.set(action.id, (this.#perAction.get(action.id) ?? 1) - 1);
    this.#startQueued(action);
    const held = this.#held(action.id);
    const free = this.#room(action) - held;
    if (free === 1 || free === this.#claimAt(action) || held === 0 || resized || this.#limits.has(action.id)) this.#nudge?.();
  }

  /** Records a failed delivery's outcome (retry or dead) with its attempt, and emits its event. (A success is recorded in #ended.) */
  async #recordFailure(f: InFlight, failure: DeliveryError, seen: { startedAt: number; durationMs: number; code: number | null }): Promise<void> {
    const { job, action } = f;
    const { durationMs } = seen;
    const attempt = (outcome: AttemptOutcome, detail: string | null): AttemptRecord => ({ ...seen, outcome, detail: detail === null ? null : cut(detail, ATTEMPT_DETAIL_MAX) });
    const ev = jobEvent(job);
    const now = this.#now();
    let retryAt = failure.retryable ? nextRetryAt(job.attempts, job.maxAttempts, action.retry, now, this.#random) : null;
    // The destination's Retry-After is honoured up to the retry cap (an hour-long Retry-After must
    // not park the job beyond what the operator configured).
    if (retryAt !== null && failure.retryAfterMs !== undefined) retryAt = Math.max(retryAt, now + Math.min(failure.retryAfterMs, action.retry.capMs));
    const tried = attempt(retryAt === null ? "dead" : "retry", failure.message);
    const ok = await this.#settle("fail", f, () => this.#store.failJob(job.id, this.id, failure.message, retryAt, this.#now(), tried));
    if (!ok) return;
    if (retryAt !== null) {
      this.#dueHints.push(retryAt);
      this.#nudge?.();
      this.events.emit("job:retry", { ...ev, durationMs, error: failure.message, retryAt, delayMs: retryAt - now });
    } else {
      this.events.emit("job:dead", { ...ev, durationMs, error: failure.message, reason: failure.retryable ? "max_attempts" : "non_retryable" });
    }
  }

  /** A completion or failure the store refused: this worker no longer held the job's lease. */
  #leaseLost(op: "complete" | "fail", f: InFlight): void {
    this.events.emit("worker:error", { op: "lease", error: `lease on job ${f.job.id} was lost before it could be marked ${op === "complete" ? "done" : "failed"}; another worker may deliver it again`, ...jobRef(f.job) });
  }

  /**
   * Records an outcome, retrying store errors with backoff until the lease would run out (then
   * the job is reclaimed and delivered again: at least once). False if the lease was lost.
   */
  async #settle(op: "complete" | "fail", f: InFlight, write: () => Promise<boolean>, ...failedFirst: [] | [unknown]): Promise<boolean> {
    const leaseEnd = (f.job.lockedUntil ?? this.#now() + this.#leaseMs);
    for (let i = 0; ; i++) {
      // A first write the caller made already, which failed with failedFirst[0]: straight to its backoff.
      if (f.released && !(i === 0 && failedFirst.length)) return false;
      try {
        if (i === 0 && failedFirst.length) throw failedFirst[0];
        const ok = await write();
        if (!ok) this.#leaseLost(op, f);
        return ok;
      } catch (err) {
        const wait = Math.min(this.#maxStoreBackoffMs, 100 * 2 ** i);
        const giveUp = this.#now() + wait >= leaseEnd;
        this.events.emit("worker:error", { op, error: this.#redactor.redact(errorText(err)), ...jobRef(f.job), ...(giveUp ? {} : { retryInMs: wait }) });
        if (giveUp) return false;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }
}

/** Actions with at least this many free slots are claimed together in one batch. */
const ROOMY = 8;

/**
 * One claim may hand out up to `limit` jobs of any of its actions, so `limit` must not exceed the
 * free slots of any of them. One claim over all actions would be held down to the tightest action
 * (a concurrency-1 exec would make every claim take one job); two tiers keep the roomy actions
 * batching while the nearly full ones get claims of their own size.
 */
export function claimGroups(free: Map<string, number>, batchSize: number): { actions: string[]; limit: number }[] {
  const roomy = [...free].filter(([, n]) => n >= ROOMY);
  const tight = [...free].filter(([, n]) => n < ROOMY);
  return [roomy, tight]
    .filter((g) => g.length > 0)
    .map((g) => ({ actions: g.map(([a]) => a), limit: Math.min(batchSize, ...g.map(([, n]) => n)) }));
}

function jobEvent(job: Job): JobEvent {
  const ev: JobEvent = { jobId: job.id, hook: job.hook, action: job.action, attempt: job.attempts, maxAttempts: job.maxAttempts, triggerId: job.triggerId ?? null };
  const traceId = traceIdOf(job.traceparent);
  if (traceId) ev.traceId = traceId;
  return ev;
}

/** A job:delivered event: jobEvent's own object with the duration set on it, not copied into another (one is emitted per delivery). */
export function deliveredEvent(job: Job, durationMs: number): WorkerEvents["job:delivered"] {
  const ev = jobEvent(job) as WorkerEvents["job:delivered"];
  ev.durationMs = durationMs;
  return ev;
}

/** The ids a worker:error about one job carries. */
function jobRef(job: Job) {
  return { jobId: job.id, hook: job.hook, action: job.action, triggerId: job.triggerId ?? null };
}

/** Text cut to `max` characters (the store keeps attempt details bounded). */
function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
