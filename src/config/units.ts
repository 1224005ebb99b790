// Durations and byte sizes as hooks.yaml writes them (model.ts `Duration`, `ByteSize`), in the
// units the rest of the code uses: milliseconds and bytes.

const DURATION_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const SIZE_BYTES = { b: 1, kb: 1024, mb: 1024 * 1024 } as const;

/** `500ms`, `30s`, `10m`, `24h`, `7d`, or an integer number of milliseconds. The model has already checked the shape. */
export function durationMs(value: number | string): number {
  if (typeof value === "number") return value;
  const m = /^([0-9]+)(ms|s|m|h|d)$/.exec(value);
  if (!m) throw new Error(`not a duration: ${value}`);
  return Number(m[1]) * DURATION_MS[m[2] as keyof typeof DURATION_MS];
}

/** `64kb`, `1mb`, `512b` (kb and mb are powers of 1024), or an integer number of bytes. */
export function byteSize(value: number | string): number {
  if (typeof value === "number") return value;
  const m = /^([0-9]+)(b|kb|mb)$/.exec(value);
  if (!m) throw new Error(`not a byte size: ${value}`);
  return Number(m[1]) * SIZE_BYTES[m[2] as keyof typeof SIZE_BYTES];
}
