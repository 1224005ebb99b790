// The job:delivered event as the worker builds it, and the line and metrics serve makes of it
// (observe-worker.ts): every field, the trigger id redacted then cut, the trace id when there is one.
import { describe, expect, test } from "bun:test";
import type { Job } from "../../src/outbox/store.ts";
import { deliveredEvent, WorkerEventEmitter } from "../../src/outbox/worker.ts";
import { Redactor } from "../../src/secrets.ts";
import { createLogger } from "../../src/server/log.ts";
import { Metrics } from "../../src/server/metrics.ts";
import { observeWorker } from "../../src/server/observe-worker.ts";

const job = (over: Partial<Job> = {}): Job =>
  ({ id: "j1", hook: "welcome", action: "welcome.crm", attempts: 2, maxAttempts: 5, triggerId: "trig-1", identityId: null, traceparent: null, ...over }) as Job;

describe("job:delivered", () => {
  test("the event carries the job's ids, attempt, budget and duration; the trace id only from a valid traceparent", () => {
    expect(deliveredEvent(job(), 12)).toEqual({ jobId: "j1", hook: "welcome", action: "welcome.crm", attempt: 2, maxAttempts: 5, triggerId: "trig-1", durationMs: 12 });
    expect(deliveredEvent(job({ triggerId: null, traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" }), 3)).toEqual({
      jobId: "j1", hook: "welcome", action: "welcome.crm", attempt: 2, maxAttempts: 5, triggerId: null, durationMs: 3, traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    });
    expect("traceId" in deliveredEvent(job({ traceparent: "00-bad" }), 3)).toBe(false);
  });

  test("its line holds every field in order, the trigger id redacted before it is cut; the attempt is counted", () => {
    const secret = "crm-t0ken-9f8e7d6c5b4a";
    const lines: string[] = [];
    const log = createLogger({ now: () => 0, sink: (line) => lines.push(line), redactor: new Redactor([secret]) });
    const metrics = new Metrics();
    const events = new WorkerEventEmitter();
    observeWorker(events, metrics, log);
    const longTrigger = `${"x".repeat(120)}${secret}${"y".repeat(40)}`;
    events.emit("job:delivered", deliveredEvent(job({ traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" }), 7));
    events.emit("job:delivered", deliveredEvent(job({ triggerId: longTrigger }), 8));
    events.emit("job:delivered", deliveredEvent(job({ triggerId: `id-${secret}` }), 9));
    expect(lines[0]).toBe(
      '{"time":"1970-01-01T00:00:00.000Z","level":"info","msg":"job delivered","job_id":"j1","hook":"welcome","action":"welcome.crm","trigger_id":"trig-1","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","attempt":2,"ms":7}\n',
    );
    const cut = JSON.parse(lines[1]!).trigger_id as string;
    expect(cut).toBe(`${"x".repeat(120)}***${"y".repeat(5)}…(35 more)`);
    expect(JSON.parse(lines[2]!)).toMatchObject({ trigger_id: "id-***", attempt: 2, ms: 9 });
    for (const line of lines) expect(line).not.toContain("crm-t0");
    const text = metrics.render();
    expect(text).toContain('kratos_hooks_delivery_attempts_total{action="welcome.crm",result="ok"} 3');
    expect(text).toContain('kratos_hooks_delivery_duration_seconds_sum{action="welcome.crm"} 0.024');
  });
});
