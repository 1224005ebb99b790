// What an anonymous caller can make serve write to its logs is bounded: header values are cut to
// LOG_VALUE_MAX characters, and lines about requests turned away before authentication (401, and
// anything refused ahead of the auth check) share a token bucket. What the bucket drops is counted
// (kratos_hooks_log_lines_dropped_total) and summed up in one line at most every
// `summaryEveryMs`. Measured before: 83,685 requests with 8 KB ids wrote 1.2 GiB in 8 s.
import type { LogFields, Logger, LogLevel } from "./log.ts";

/** The longest header value (Trigger-Id, Request-Id) copied into a log line. */
export const LOG_VALUE_MAX = 128;

/** A header value bound for a log line: the logger redacts it, then cuts it (capLogValue). */
export class CappedLogValue {
  constructor(readonly raw: string) {}
  /** Cut to LOG_VALUE_MAX characters, saying how much was left out; `redact` runs first, so no part of a secret survives the cut. */
  render(redact: (s: string) => string): string {
    const value = redact(this.raw);
    return value.length <= LOG_VALUE_MAX ? value : `${value.slice(0, LOG_VALUE_MAX)}…(${value.length - LOG_VALUE_MAX} more)`;
  }
}

/** `value` as a log field cut to LOG_VALUE_MAX characters after redaction (the logger does both). */
export function capLogValue(value: string | null): CappedLogValue | string | null {
  return value === null || value.length <= LOG_VALUE_MAX ? value : new CappedLogValue(value);
}

export type LogBudgetOptions = {
  /** Lines per second, sustained. Default 5. */
  perSecond?: number;
  /** Lines allowed in a burst. Default 20. */
  burst?: number;
  /** How often, at most, a line sums up what was dropped. Default 10 s. */
  summaryEveryMs?: number;
  now?: () => number;
  /** Told of each dropped line (the metric). */
  onDrop?: () => void;
};

export class LogBudget {
  readonly #log: Logger;
  readonly #perMs: number;
  readonly #burst: number;
  readonly #summaryEveryMs: number;
  readonly #now: () => number;
  readonly #onDrop: (() => void) | undefined;
  #tokens: number;
  #refilledAt: number;
  #unreported = 0;
  #summary: ReturnType<typeof setTimeout> | undefined;

  constructor(log: Logger, opts: LogBudgetOptions = {}) {
    this.#log = log;
    this.#perMs = (opts.perSecond ?? 5) / 1000;
    this.#burst = this.#tokens = opts.burst ?? 20;
    this.#summaryEveryMs = opts.summaryEveryMs ?? 10_000;
    this.#now = opts.now ?? (() => performance.now());
    this.#onDrop = opts.onDrop;
    this.#refilledAt = this.#now();
  }

  /** Logs the line if the budget has room; otherwise counts it and schedules the summary. */
  write(level: LogLevel, msg: string, fields: LogFields): void {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#refilledAt) * this.#perMs);
    this.#refilledAt = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      this.#log[level](msg, fields);
      return;
    }
    this.#unreported++;
    this.#onDrop?.();
    this.#summary ??= setTimeout(() => this.flush(), this.#summaryEveryMs);
    this.#summary.unref?.();
  }

  /** Writes the summary of what was dropped since the last one, if anything was. */
  flush(): void {
    if (this.#summary) clearTimeout(this.#summary);
    this.#summary = undefined;
    if (this.#unreported === 0) return;
    this.#log.warn("requests refused before authentication were not logged (log budget)", { dropped: this.#unreported });
    this.#unreported = 0;
  }
}
