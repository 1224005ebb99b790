// Job ids made without Bun (Deno): uuid v7 in creation order, as Bun.randomUUIDv7 gives on Bun.
import { expect, test } from "bun:test";
import { portableUuidV7 } from "../../src/server/job-id.ts";

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("portable uuid v7: version and variant bits, the current ms in the first 48 bits", () => {
  const before = Date.now();
  const id = portableUuidV7();
  const after = Date.now();
  expect(id).toMatch(V7);
  const ms = parseInt(id.replace(/-/g, "").slice(0, 12), 16);
  expect(ms).toBeGreaterThanOrEqual(before);
  expect(ms).toBeLessThanOrEqual(after);
});

test("portable uuid v7: ids made in a burst (many per ms, past the 4096 of one counter) sort in the order they were made", () => {
  const ids = Array.from({ length: 20_000 }, portableUuidV7);
  expect(new Set(ids).size).toBe(ids.length);
  expect(ids.every((id, i) => i === 0 || ids[i - 1]! < id)).toBe(true);
  expect(ids.every((id) => V7.test(id))).toBe(true);
});
