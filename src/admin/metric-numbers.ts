// The admin page's rates and p99s come from the same numbers /metrics serves: the Prometheus text
// of Metrics.render(), parsed here, so the page and a dashboard never disagree. Rates are the
// increase over the last minute (snapshots kept by MetricSampler); p99s are estimated from the
// histogram buckets the way Prometheus's histogram_quantile does (linear within the bucket).

type Series = { labels: Record<string, string>; value: number };
export type MetricSnapshot = { at: number; series: Map<string, Series[]> };

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseMetrics(text: string, at: number): MetricSnapshot {
  const series = new Map<string, Series[]>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    const value = m[3] === "+Inf" ? Infinity : Number(m[3]);
    let list = series.get(m[1]!);
    if (!list) series.set(m[1]!, (list = []));
    list.push({ labels, value });
  }
  return { at, series };
}

/** Sum of a metric's series whose `label` is `value`. */
export function total(s: MetricSnapshot, name: string, label: string, value: string, more: Record<string, string> = {}): number {
  let n = 0;
  for (const x of s.series.get(name) ?? []) if (x.labels[label] === value && Object.entries(more).every(([k, v]) => x.labels[k] === v)) n += x.value;
  return n;
}

/** The q-quantile of a histogram's series for `label = value`, in its unit; undefined without observations. */
export function quantile(s: MetricSnapshot, name: string, label: string, value: string, q = 0.99, since?: MetricSnapshot): number | undefined {
  const buckets = (snap: MetricSnapshot | undefined) => {
    const m = new Map<number, number>();
    for (const x of snap?.series.get(`${name}_bucket`) ?? []) if (x.labels[label] === value) m.set(x.labels.le === "+Inf" ? Infinity : Number(x.labels.le), x.value);
    return m;
  };
  const now = buckets(s);
  const then = buckets(since);
  const les = [...now.keys()].sort((a, b) => a - b);
  const counts = les.map((le) => (now.get(le) ?? 0) - (then.get(le) ?? 0));
  const count = counts.at(-1) ?? 0;
  if (count <= 0) return undefined;
  const rank = q * count;
  let prevLe = 0;
  let prevCount = 0;
  for (let i = 0; i < les.length; i++) {
    if (counts[i]! >= rank) {
      const le = les[i]!;
      if (le === Infinity) return prevLe; // above the last bound: the last bound is all we know
      const inBucket = counts[i]! - prevCount;
      return inBucket > 0 ? prevLe + (le - prevLe) * ((rank - prevCount) / inBucket) : le;
    }
    prevLe = les[i]!;
    prevCount = counts[i]!;
  }
  return prevLe;
}

/** Keeps a minute of snapshots (one every `everyMs`), for rates over the last minute. */
export class MetricSampler {
  readonly #snapshots: MetricSnapshot[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(readonly read: () => string, readonly windowMs = 60_000, readonly everyMs = 5_000, readonly now: () => number = Date.now) {}

  start(): void {
    this.sample();
    this.#timer = setInterval(() => this.sample(), this.everyMs);
    this.#timer.unref?.();
  }
  stop(): void {
    clearInterval(this.#timer);
  }
  sample(): MetricSnapshot {
    const s = parseMetrics(this.read(), this.now());
    this.#snapshots.push(s);
    while (this.#snapshots.length > 1 && s.at - this.#snapshots[0]!.at > this.windowMs) this.#snapshots.shift();
    return s;
  }
  /** The current numbers and the oldest kept snapshot (up to a minute old) to take rates against. */
  current(): { now: MetricSnapshot; base: MetricSnapshot | undefined } {
    const now = parseMetrics(this.read(), this.now());
    const base = this.#snapshots.find((s) => now.at - s.at <= this.windowMs && now.at > s.at);
    return { now, base };
  }
}

/** Per-second increase of a counter total between two snapshots (0 without a base). */
export function ratePerSecond(now: MetricSnapshot, base: MetricSnapshot | undefined, f: (s: MetricSnapshot) => number): number {
  if (!base || now.at <= base.at) return 0;
  return Math.max(0, f(now) - f(base)) / ((now.at - base.at) / 1000);
}
