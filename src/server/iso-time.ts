// `new Date(ms).toISOString()` with the last answer kept: the receiver formats the same
// millisecond many times under load (each request's log line, each job's received_at).
let lastMs = Number.NaN;
let lastIso = "";

export function isoTime(ms: number): string {
  // NaN never equals itself, so an invalid time still throws from toISOString as before.
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}
