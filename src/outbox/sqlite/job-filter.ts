// JobFilter → a WHERE clause with named parameters. `ids` and `actions` travel as one JSON array
// parameter read by json_each, so the statement text does not depend on the list length; states
// (at most four) get a parameter each.
import type { JobFilter, JobState } from "../store.ts";

export type Where = { sql: string; params: Record<string, string | number> };

export function jobWhere(filter: JobFilter, states?: JobState[]): Where {
  const parts: string[] = [];
  const params: Record<string, string | number> = {};
  if (filter.state) {
    parts.push("state = $state");
    params.state = filter.state;
  }
  if (states) {
    // One parameter per state (at most four): `state = $state0` lets SQLite read a partial index
    // (jobs_dead for `outbox retry --all-dead`) instead of scanning every job, done ones included.
    parts.push(states.length === 1 ? "state = $state0" : `state IN (${states.map((_, i) => `$state${i}`).join(", ")})`);
    states.forEach((st, i) => (params[`state${i}`] = st));
  }
  if (filter.hook) {
    parts.push("hook = $hook");
    params.hook = filter.hook;
  }
  if (filter.action) {
    parts.push("action = $action");
    params.action = filter.action;
  }
  if (filter.ids) {
    parts.push("id IN (SELECT value FROM json_each($ids))");
    params.ids = JSON.stringify(filter.ids);
  }
  if (filter.triggerId !== undefined) {
    parts.push("trigger_id = $triggerId");
    params.triggerId = filter.triggerId;
  }
  if (filter.identityId !== undefined) {
    parts.push("identity_id = $identityId");
    params.identityId = filter.identityId;
  }
  if (filter.createdFrom !== undefined) {
    parts.push("created_at >= $createdFrom");
    params.createdFrom = filter.createdFrom;
  }
  if (filter.createdBefore !== undefined) {
    parts.push("created_at < $createdBefore");
    params.createdBefore = filter.createdBefore;
  }
  if (filter.beforeId !== undefined) {
    parts.push("id < $beforeId");
    params.beforeId = filter.beforeId;
  }
  if (filter.updatedBefore !== undefined) {
    parts.push("updated_at < $updatedBefore");
    params.updatedBefore = filter.updatedBefore;
  }
  return { sql: parts.length ? parts.join(" AND ") : "1 = 1", params };
}

/** `id IN (...)` selecting the filtered jobs, oldest first, honouring `limit`. */
export function jobIdsIn(filter: JobFilter, states?: JobState[]): Where {
  const w = jobWhere(filter, states);
  const limit = filter.limit !== undefined ? ` LIMIT ${Math.max(0, Math.trunc(filter.limit))}` : "";
  return { sql: `id IN (SELECT id FROM jobs WHERE ${w.sql} ORDER BY created_at, id${limit})`, params: w.params };
}
