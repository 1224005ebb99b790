// Rules both Store implementations share, so SQLite and Postgres cannot drift apart on them.
import type { JobFilter, JobState } from "./store.ts";

/**
 * Which states retryJobs may touch. Never `running` (a worker holds it). Without ids: dead jobs
 * (or filter.state); with ids: any state but running.
 */
export function retryableStates(filter: JobFilter): JobState[] {
  const candidates: JobState[] = filter.state ? [filter.state] : filter.ids ? ["pending", "done", "dead"] : ["dead"];
  return candidates.filter((s) => s !== "running");
}

/** Which states purgeJobs may delete: done/dead, unless the operator names ids. */
export function purgeableStates(filter: JobFilter): JobState[] {
  const all: JobState[] = filter.ids ? ["pending", "running", "done", "dead"] : ["done", "dead"];
  return filter.state ? all.filter((s) => s === filter.state) : all;
}

/** last_error of a job whose lease ran out during its final attempt (worker crashed or hung). */
export const LEASE_EXPIRED_ON_LAST_ATTEMPT = "lease expired during the last attempt (worker crashed or timed out)";
