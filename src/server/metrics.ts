// Prometheus text exposition (format 0.0.4) from a small hand-written registry: counters, gauges
// and histograms keyed by label values. `Metrics` is the one object the receiver and the outbox
// worker call; it never sees bodies or secrets (labels are hook names, action ids, states, statuses).
import type { Stats } from "../outbox/store.ts";

type Labels = readonly string[];
const SEP = "\u0000";

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}
function labelText(names: Labels, values: Labels, extra?: string): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? "")}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(",")}}` : "";
}
function num(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return Number.isNaN(v) ? "NaN" : String(v);
}

interface Metric {
  render(out: string[]): void;
}

type CounterCell = { labels: Labels; value: number };
type HistogramCell = { labels: Labels; counts: number[]; sum: number; count: number };

// How every metric keys a series: a one-label series by the label itself (what join gives),
// without the array walk.
const keyOf = (labels: Labels): string => (labels.length === 1 ? labels[0]! : labels.join(SEP));

export class Counter implements Metric {
  private readonly values = new Map<string, CounterCell>();
  constructor(readonly name: string, readonly help: string, readonly labelNames: Labels = []) {}
  /** The series of `labels`, created now if new (series render in order of creation). Hot paths keep it and add to `value`. */
  cell(labels: Labels = []): CounterCell {
    const key = keyOf(labels);
    let cell = this.values.get(key);
    if (!cell) {
      cell = { labels: [...labels], value: 0 };
      this.values.set(key, cell);
    }
    return cell;
  }
  inc(labels: Labels = [], by = 1): void {
    this.cell(labels).value += by;
  }
  get(labels: Labels = []): number {
    return this.values.get(keyOf(labels))?.value ?? 0;
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    for (const { labels, value } of this.values.values()) out.push(`${this.name}${labelText(this.labelNames, labels)} ${num(value)}`);
  }
}

export class Gauge implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string, readonly labelNames: Labels = []) {}
  set(labels: Labels, value: number): void {
    this.values.set(keyOf(labels), { labels: [...labels], value });
  }
  get(labels: Labels = []): number | undefined {
    return this.values.get(keyOf(labels))?.value;
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`);
    for (const { labels, value } of this.values.values()) out.push(`${this.name}${labelText(this.labelNames, labels)} ${num(value)}`);
  }
}

export class Histogram implements Metric {
  private readonly values = new Map<string, HistogramCell>();
  constructor(readonly name: string, readonly help: string, readonly labelNames: Labels, readonly buckets: readonly number[]) {}
  /** The series of `labels`, created now if new; hot paths keep it and pass it to `record`. */
  cell(labels: Labels): HistogramCell {
    const key = keyOf(labels);
    let cell = this.values.get(key);
    if (!cell) {
      cell = { labels: [...labels], counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.values.set(key, cell);
    }
    return cell;
  }
  observe(labels: Labels, value: number): void {
    this.record(this.cell(labels), value);
  }
  record(cell: HistogramCell, value: number): void {
    // One increment, in the first bucket that holds the value (none for NaN or above the last);
    // render adds them up into the cumulative counts.
    const b = this.buckets;
    let i = 0;
    while (i < b.length && !(value <= b[i]!)) i++;
    if (i < b.length) cell.counts[i]!++;
    cell.sum += value;
    cell.count++;
  }
  count(labels: Labels = []): number {
    return this.values.get(keyOf(labels))?.count ?? 0;
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const { labels, counts, sum, count } of this.values.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += counts[i]!;
        out.push(`${this.name}_bucket${labelText(this.labelNames, labels, `le="${num(le)}"`)} ${cumulative}`);
      });
      out.push(`${this.name}_bucket${labelText(this.labelNames, labels, 'le="+Inf"')} ${count}`);
      out.push(`${this.name}_sum${labelText(this.labelNames, labels)} ${num(sum)}`);
      out.push(`${this.name}_count${labelText(this.labelNames, labels)} ${count}`);
    }
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  add<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  render(): string {
    const out: string[] = [];
    for (const m of this.metrics) m.render(out);
    return `${out.join("\n")}\n`;
  }
}

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const DELIVERY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const JOB_STATES = ["pending", "running", "done", "dead"] as const;

/**
 * The metrics of one `serve` process. The receiver calls `request`/`dedupeHit`/`jobsEnqueued`;
 * the outbox worker calls `deliveryAttempt`/`jobDead`; `/metrics` calls `updateStoreStats` then
 * `render`.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly requests = this.registry.add(new Counter("kratos_hooks_requests_total", "Webhook requests answered, by hook and HTTP status.", ["hook", "status"]));
  private readonly ackSeconds = this.registry.add(
    new Histogram("kratos_hooks_ack_duration_seconds", "Time from receiving a webhook request to its answer (after the outbox commit).", ["hook"], LATENCY_BUCKETS),
  );
  private readonly dedupeHits = this.registry.add(new Counter("kratos_hooks_dedupe_hits_total", "Repeated deliveries answered from the dedupe record, by hook.", ["hook"]));
  private readonly enqueued = this.registry.add(new Counter("kratos_hooks_jobs_enqueued_total", "Outbox jobs enqueued, by action.", ["action"]));
  private readonly storeErrors = this.registry.add(new Counter("kratos_hooks_store_errors_total", "Requests answered 503 because the store failed, by hook.", ["hook"]));
  private readonly attempts = this.registry.add(new Counter("kratos_hooks_delivery_attempts_total", "Action delivery attempts, by action and result (ok|error).", ["action", "result"]));
  private readonly failures = this.registry.add(new Counter("kratos_hooks_delivery_failures_total", "Failed action delivery attempts, by action.", ["action"]));
  private readonly deliverySeconds = this.registry.add(new Histogram("kratos_hooks_delivery_duration_seconds", "Duration of one action delivery attempt.", ["action"], DELIVERY_BUCKETS));
  private readonly dead = this.registry.add(new Counter("kratos_hooks_jobs_dead_total", "Jobs that exhausted their attempts, by action.", ["action"]));
  private readonly jobs = this.registry.add(new Gauge("kratos_hooks_jobs", "Outbox jobs by state (from a store snapshot, refreshed by a scrape at most every 5 s).", ["state"]));
  private readonly oldestDue = this.registry.add(new Gauge("kratos_hooks_outbox_oldest_due_age_seconds", "Age of the oldest pending job that is due (0 if none).", []));
  private readonly storeUp = this.registry.add(new Gauge("kratos_hooks_store_up", "1 if the last store stats query succeeded, else 0.", []));
  private readonly snapshotAge = this.registry.add(new Gauge("kratos_hooks_store_snapshot_age_seconds", "Age of the store snapshot the job gauges come from (refreshed at most every 5 s).", []));
  private readonly logDropped = this.registry.add(new Counter("kratos_hooks_log_lines_dropped_total", "Log lines about requests refused before authentication that the log budget dropped.", []));
  // The series each request adds to, per hook: found without building label keys on every request.
  private readonly hookSeries = new Map<string, { statuses: Map<number, CounterCell>; ack: HistogramCell }>();
  // The same for each delivery attempt, per action (a job line's cost on the worker's event loop).
  private readonly actionSeries = new Map<string, { ok: CounterCell | undefined; error: CounterCell | undefined; failures: CounterCell | undefined; seconds: HistogramCell | undefined }>();

  /** One answered webhook request (any status, including errors). */
  request(hook: string, status: number, seconds: number): void {
    let series = this.hookSeries.get(hook);
    if (!series) {
      series = { statuses: new Map(), ack: this.ackSeconds.cell([hook]) };
      this.hookSeries.set(hook, series);
    }
    let requests = series.statuses.get(status);
    if (!requests) {
      requests = this.requests.cell([hook, String(status)]);
      series.statuses.set(status, requests);
    }
    requests.value++;
    this.ackSeconds.record(series.ack, seconds);
  }
  dedupeHit(hook: string): void {
    this.dedupeHits.inc([hook]);
  }
  jobsEnqueued(action: string, n = 1): void {
    this.enqueued.inc([action], n);
  }
  storeError(hook: string): void {
    this.storeErrors.inc([hook]);
  }
  logLineDropped(): void {
    this.logDropped.inc();
  }
  /** For the outbox worker: one delivery attempt of an action finished; `seconds` is its duration if known. */
  deliveryAttempt(action: string, ok: boolean, seconds?: number): void {
    let series = this.actionSeries.get(action);
    if (!series) {
      series = { ok: undefined, error: undefined, failures: undefined, seconds: undefined };
      this.actionSeries.set(action, series);
    }
    // Each series is created on its first use, as inc/observe would: none is rendered before it counts something.
    if (ok) (series.ok ??= this.attempts.cell([action, "ok"])).value++;
    else {
      (series.error ??= this.attempts.cell([action, "error"])).value++;
      (series.failures ??= this.failures.cell([action])).value++;
    }
    if (seconds !== undefined) this.deliverySeconds.record((series.seconds ??= this.deliverySeconds.cell([action])), seconds);
  }
  /** For the outbox worker: a job gave up (no attempts left, or a permanent failure). */
  jobDead(action: string): void {
    this.dead.inc([action]);
  }
  updateStoreStats(stats: Stats): void {
    for (const state of JOB_STATES) this.jobs.set([state], stats.byState[state] ?? 0);
    this.oldestDue.set([], stats.oldestDueAgeMs / 1000);
    this.storeUp.set([], 1);
  }
  storeStatsFailed(): void {
    this.storeUp.set([], 0);
  }
  storeSnapshotAge(seconds: number): void {
    this.snapshotAge.set([], seconds);
  }
  render(): string {
    return this.registry.render();
  }

  /** Read access for tests and the benchmark. */
  requestCount(hook: string, status: number): number {
    return this.requests.get([hook, String(status)]);
  }
  dedupeHitCount(hook: string): number {
    return this.dedupeHits.get([hook]);
  }
}
