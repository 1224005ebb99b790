// Shared parts of the worker and outbox CLI tests: a real SQLite store in a temp dir, jobs enqueued
// the way the receiver does (acceptBatch with payloads from buildJobPayload), and an HTTP sink on
// 127.0.0.1 that records deliveries and counts the ones in flight.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SMTPServer } from "smtp-server";
import { acceptedWebhook, buildJobPayload } from "../../src/actions/index.ts";
import type { ResolvedAction } from "../../src/config/types.ts";
import { openStore } from "../../src/outbox/open-store.ts";
import type { Store } from "../../src/outbox/store.ts";
import type { Worker, WorkerEvents } from "../../src/outbox/worker.ts";

export async function tempStore(opts: { busyTimeoutMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "kh-outbox-"));
  const url = `sqlite:${join(dir, "outbox.db")}`;
  const store = await openStore(url, { synchronous: "normal", ...opts });
  return {
    dir,
    url,
    store,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let keySeq = 0;
/** Enqueues one job per body for `action`, as one accepted webhook each. Returns the job ids. */
/**
 * `form`: "accepted" (default) stores the accepted webhook (`{ body, hook, ... }`) as the receiver
 * does, leaving rendering to delivery; "rendered" stores buildJobPayload's output.
 */
export async function enqueue(store: Store, action: ResolvedAction, bodies: unknown[], over: { maxAttempts?: number; runAt?: number; form?: "rendered" | "accepted" } = {}): Promise<string[]> {
  const now = Date.now();
  const ids: string[] = [];
  const batch = bodies.map((body) => {
    const id = Bun.randomUUIDv7();
    ids.push(id);
    return {
      hook: action.hook,
      key: `k${++keySeq}-${id}`,
      response: { status: 200, body: null },
      expiresAt: now + 60_000,
      now,
      jobs: [{ id, hook: action.hook, action: action.id, payload: over.form === "rendered" ? buildJobPayload(action, { body, hook: action.hook, jobId: id }) : acceptedWebhook(body, action.hook, null, null, new Date(now).toISOString()), maxAttempts: over.maxAttempts ?? action.retry.attempts, runAt: over.runAt ?? now }],
    };
  });
  await store.acceptBatch(batch);
  return ids;
}

export type Delivery = { jobId: string; at: number; path: string; body: unknown; headers: Record<string, string> };

/** An HTTP sink. `mode` decides answers; `delayMs` holds each request; `inFlight`/`maxInFlight` count overlap. */
export function startSink(opts: { port?: number; delayMs?: number; status?: (path: string) => number } = {}) {
  const deliveries: Delivery[] = [];
  const state = { inFlight: 0, maxInFlight: 0 };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: opts.port ?? 0,
    async fetch(req) {
      state.inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      try {
        const path = new URL(req.url).pathname;
        const body = await req.json().catch(() => null);
        if (opts.delayMs) await Bun.sleep(opts.delayMs);
        const status = opts.status?.(path) ?? 200;
        if (status < 300) deliveries.push({ jobId: req.headers.get("idempotency-key") ?? "", at: Date.now(), path, body, headers: Object.fromEntries(req.headers) });
        return new Response(status < 300 ? "ok" : "nope", { status });
      } finally {
        state.inFlight--;
      }
    },
  });
  return { server, port: server.port!, url: `http://127.0.0.1:${server.port}`, deliveries, state, stop: () => server.stop(true) };
}

/** A port with nothing listening (connection refused), that a sink can later bind. */
export function freePort(): number {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = s.port!;
  s.stop(true);
  return port;
}

/** Records every worker event in order, with the time it was seen. */
export function recordEvents(worker: Worker) {
  const log: { name: keyof WorkerEvents; at: number; e: WorkerEvents[keyof WorkerEvents] }[] = [];
  for (const name of ["job:claimed", "job:delivered", "job:retry", "job:dead", "job:released", "worker:error"] as const) {
    worker.events.on(name, (e) => log.push({ name, at: Date.now(), e }));
  }
  return {
    log,
    of<K extends keyof WorkerEvents>(name: K): WorkerEvents[K][] {
      return log.filter((l) => l.name === name).map((l) => l.e as WorkerEvents[K]);
    },
  };
}

/** Polls `cond` every 10ms until true or `timeoutMs` passes (then throws with `what`). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** One message a recording SMTP server got: its envelope recipients and the raw message. */
export type RecordedMail = { to: string[]; raw: string };

/** A real SMTP server on 127.0.0.1 (no auth, no TLS) that records every message it accepts. */
export async function startSmtpRecorder(opts: { size?: number } = {}): Promise<{ port: number; mails: RecordedMail[]; close: () => Promise<void> }> {
  const mails: RecordedMail[] = [];
  const smtp = new SMTPServer({
    logger: false,
    authOptional: true,
    disableReverseLookup: true,
    ...(opts.size ? { size: opts.size } : {}),
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString("utf8") });
        cb();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, "127.0.0.1", r));
  const port = (smtp.server.address() as { port: number }).port;
  return { port, mails, close: () => new Promise<void>((r) => smtp.close(() => r())) };
}
