// Metrics and logs listen to the outbox worker's lifecycle events (the worker itself never logs).
// Payload contents never appear here: events carry ids, names, attempts and error text only.
// Every job line carries job_id, hook, action and trigger_id (and trace_id when Kratos sent a
// traceparent), so a line joins the request line of its webhook and Kratos's own trace.
import type { JobEvent, WorkerEvents } from "../outbox/worker.ts";
import type { Logger } from "./log.ts";
import { capLogValue } from "./log-budget.ts";
import type { Metrics } from "./metrics.ts";

type Emitter = { on<K extends keyof WorkerEvents>(name: K, fn: (event: WorkerEvents[K]) => void): () => void };

/** The fields every job log line starts with. The trigger id is the webhook's header value: cut as on the request line. */
function jobFields(e: JobEvent) {
  return { job_id: e.jobId, hook: e.hook, action: e.action, trigger_id: capLogValue(e.triggerId), trace_id: e.traceId };
}

/** Subscribes; returns a function that unsubscribes. */
export function observeWorker(events: Emitter, metrics: Metrics, log: Logger): () => void {
  const offs = [
    events.on("job:delivered", (e) => {
      metrics.deliveryAttempt(e.action, true, e.durationMs / 1000);
      // One object literal, not jobFields spread into another: this line is written per delivery.
      log.info("job delivered", { job_id: e.jobId, hook: e.hook, action: e.action, trigger_id: capLogValue(e.triggerId), trace_id: e.traceId, attempt: e.attempt, ms: e.durationMs });
    }),
    events.on("job:retry", (e) => {
      metrics.deliveryAttempt(e.action, false, e.durationMs / 1000);
      log.warn("job attempt failed; will retry", { ...jobFields(e), attempt: e.attempt, max_attempts: e.maxAttempts, ms: e.durationMs, retry_in_ms: e.delayMs, error: e.error });
    }),
    events.on("job:dead", (e) => {
      metrics.deliveryAttempt(e.action, false, e.durationMs / 1000);
      metrics.jobDead(e.action);
      log.error("job dead", { ...jobFields(e), attempt: e.attempt, reason: e.reason, error: e.error });
    }),
    // A prefetched job given back (reason "lease") is routine and harmless (its attempt is not
    // counted): it happens once per delivery that holds a slot for over half the lease.
    events.on("job:released", (e) => {
      const fields = { ...jobFields(e), reason: e.reason };
      if (e.reason === "shutdown") log.info("job released at shutdown", fields);
      else log.debug("job given back: it waited in the worker's queue until half its lease was gone", fields);
    }),
    events.on("worker:error", (e) =>
      log.warn("worker error", { op: e.op, error: e.error, job_id: e.jobId, hook: e.hook, action: e.action, trigger_id: capLogValue(e.triggerId ?? null), retry_in_ms: e.retryInMs }),
    ),
  ];
  return () => {
    for (const off of offs) off();
  };
}
