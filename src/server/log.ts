// Structured JSON logs: one object per line, info/debug to stdout, warn/error to stderr.
// Callers pass only safe fields (no bodies, secrets, cookies or auth headers); as a second line of
// defence, keys that name credentials are dropped here.
import type { Redactor } from "../secrets.ts";
import { isoTime } from "./iso-time.ts";
import { CappedLogValue } from "./log-budget.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const CREDENTIAL_KEY = /^(authorization|proxy-authorization|cookie|set-cookie|password|secret|token|api_key)$/i;

// The regex's verdict per field key: callers use a few fixed keys, and every request line has a
// dozen. Capped so that keys built from data could not grow it without bound.
const credentialKeys = new Map<string, boolean>();
function isCredentialKey(key: string): boolean {
  let verdict = credentialKeys.get(key);
  if (verdict === undefined) {
    verdict = CREDENTIAL_KEY.test(key);
    if (credentialKeys.size < 1024) credentialKeys.set(key, verdict);
  }
  return verdict;
}

export type LogSink = (line: string, level: LogLevel) => void;

/**
 * Lines buffered and handed to `write` once per event-loop turn (or at 64 KiB), or with `windowMs`
 * once per that many milliseconds: one write per request line would be a syscall on the ack path.
 * `flush` writes what is buffered now.
 */
export function turnBuffer(write: (text: string) => void, windowMs = 0): { push(line: string): void; flush(): void } {
  let pending = "";
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending) write(pending);
    pending = "";
  };
  return {
    push(line) {
      pending += line;
      if (pending.length > 64 * 1024) flush();
      else if (!scheduled) {
        scheduled = true;
        if (windowMs > 0) setTimeout(flush, windowMs);
        else setImmediate(flush);
      }
    },
    flush,
  };
}

// Info and debug go to stdout through a buffer written every STDOUT_WINDOW_MS; errors go out at
// once (with whatever is buffered before them). A write to a pipe costs ~3 µs of event-loop CPU
// whatever its size, and under load a turn holds only a few request lines: a 5 ms window writes
// one chunk for all of them (bench/results/ack.md, seventh session). A line waits at most that long;
// serve flushes at shutdown.
export const STDOUT_WINDOW_MS = 5;
const stdout = turnBuffer((text) => process.stdout.write(text), STDOUT_WINDOW_MS);
const stdSink: LogSink = (line, level) => {
  if (RANK[level] >= RANK.warn) {
    stdout.flush();
    process.stderr.write(line);
    return;
  }
  stdout.push(line);
};

/** Writes buffered stdout log lines now (before exit). */
export function flushLogs(): void {
  stdout.flush();
}

export function isLogLevel(s: string): s is LogLevel {
  return s in RANK;
}

/**
 * `redactor`: every secret serve knows (src/secrets.ts), masked in each line as written, so a value
 * echoed into a message or field never reaches the log. A caller that shortens a field (a header
 * copied into a line) passes a CappedLogValue (capLogValue), which is redacted here before it is cut.
 */
export function createLogger(opts: { level?: LogLevel; sink?: LogSink; now?: () => number; redactor?: Redactor } = {}): Logger {
  const min = RANK[opts.level ?? "info"];
  const redactor = opts.redactor && opts.redactor.size > 0 ? opts.redactor : undefined;
  const sink = opts.sink ?? stdSink;
  const now = opts.now ?? Date.now;
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[level] < min) return;
    const record: LogFields = { time: isoTime(now()), level, msg };
    if (fields)
      for (const key in fields) {
        const value = fields[key];
        if (value === undefined || isCredentialKey(key)) continue;
        record[key] = value instanceof CappedLogValue ? value.render(redactor ? (s) => redactor.redact(s) : (s) => s) : value;
      }
    const line = JSON.stringify(record);
    sink(`${redactor ? redactor.redact(line) : line}\n`, level);
  };
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
  };
}

/** A logger that keeps its lines in memory (tests, and `serve --log-level` parsing checks). */
export function memoryLogger(level: LogLevel = "debug"): Logger & { lines: LogFields[] } {
  const lines: LogFields[] = [];
  const logger = createLogger({ level, sink: (line) => lines.push(JSON.parse(line) as LogFields) });
  return Object.assign(logger, { lines });
}
