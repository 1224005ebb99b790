// JobFilter → SQL fragments (Bun.SQL composes nested sql`` fragments with their parameters).
// Lists bind as one text[] parameter (sql.array), so statement text does not grow with the list.
import type { SQL } from "bun";
import type { JobFilter, JobState } from "../store.ts";

export function jobWhere(sql: SQL, filter: JobFilter, states?: JobState[]) {
  return sql`TRUE
    ${filter.state ? sql`AND state = ${filter.state}` : sql``}
    ${states ? sql`AND state = ANY(${sql.array(states, "TEXT")})` : sql``}
    ${filter.hook ? sql`AND hook = ${filter.hook}` : sql``}
    ${filter.action ? sql`AND action = ${filter.action}` : sql``}
    ${filter.ids ? sql`AND id = ANY(${sql.array(filter.ids, "TEXT")})` : sql``}
    ${filter.triggerId !== undefined ? sql`AND trigger_id = ${filter.triggerId}` : sql``}
    ${filter.identityId !== undefined ? sql`AND identity_id = ${filter.identityId}` : sql``}
    ${filter.createdFrom !== undefined ? sql`AND created_at >= ${filter.createdFrom}` : sql``}
    ${filter.createdBefore !== undefined ? sql`AND created_at < ${filter.createdBefore}` : sql``}
    ${filter.beforeId !== undefined ? sql`AND id < ${filter.beforeId}` : sql``}
    ${filter.updatedBefore !== undefined ? sql`AND updated_at < ${filter.updatedBefore}` : sql``}`;
}

export function limitClause(sql: SQL, filter: JobFilter) {
  return filter.limit !== undefined ? sql`LIMIT ${Math.max(0, Math.trunc(filter.limit))}` : sql``;
}

/** `id IN (...)` selecting the filtered jobs, oldest first, honouring `limit`. */
export function jobIdsIn(sql: SQL, filter: JobFilter, states?: JobState[]) {
  return sql`id IN (SELECT id FROM jobs WHERE ${jobWhere(sql, filter, states)} ORDER BY created_at, id ${limitClause(sql, filter)})`;
}
