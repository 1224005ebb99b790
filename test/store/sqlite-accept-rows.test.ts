// The form an acceptance batch takes to the SQLite store thread (src/outbox/sqlite/accept-rows.ts):
// flat fields with times as offsets, payloads serialised once, one string message. What goes in
// must come out exactly: every field, every time, every payload text, whatever it holds.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acceptMessage, acceptMessageId, acceptResults, acceptRows, isAcceptMessage, readAcceptMessage } from "../../src/outbox/sqlite/accept-rows.ts";
import { SqliteStore } from "../../src/outbox/sqlite/store.ts";
import { acceptance, newJob } from "./store.suite.ts";

const T0 = 1_750_000_000_000;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("sqlite accept rows", () => {
  test("a message reads back as the rows it was made of: fields, times, payload texts with newlines and any characters", () => {
    const shared = { text: "line\nbreak \"quoted\" \\ ünï😀 \u2028", n: [1, 2.5] };
    const batch = [
      acceptance("k\n1", { jobs: [newJob({ payload: shared }), newJob({ payload: shared })], response: { status: 200, body: "A\n{", contentType: "text/plain" } }),
      acceptance("k2", { now: T0 + 5, expiresAt: T0 + 999, jobs: [newJob({ payload: "A1\n", runAt: T0 + 60_000 })] }),
      acceptance("k3", { jobs: [] }),
    ];
    const rows = acceptRows(batch);
    expect(rows.base).toBe(T0);
    expect(rows.payloads).toEqual([JSON.stringify(shared), JSON.stringify("A1\n")]); // the shared payload once
    const message = acceptMessage(42, rows);
    expect(isAcceptMessage(message)).toBe(true);
    expect(isAcceptMessage(JSON.stringify({ id: 1, op: "ping", args: [] }))).toBe(false);
    expect(acceptMessageId(message)).toBe(42);
    expect(readAcceptMessage(message)).toEqual(rows);
  });

  test("times that are not safe integers travel as they are (base 0), so they stay exact", () => {
    const rows = acceptRows([acceptance("k1", { now: T0 + 0.1, expiresAt: 2 ** 60 })]);
    expect(rows.base).toBe(0);
    expect(rows.fields.slice(5, 7)).toEqual([2 ** 60, T0 + 0.1]);
    expect(acceptRows([acceptance("k1", { jobs: [newJob({ runAt: 1.5 })] })]).base).toBe(0);
  });

  test("every time of every acceptance and job is stored as given, across a batch with several", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kh-accept-rows-"));
    dirs.push(dir);
    const s = new SqliteStore(join(dir, "outbox.db"));
    await s.migrate();
    const batch = [
      acceptance("k1", { now: T0, jobs: [newJob({ runAt: T0 + 30_000 })] }),
      acceptance("k2", { now: T0 - 7, expiresAt: T0 + 1, jobs: [newJob({ runAt: T0 - 7 }), newJob({ runAt: T0 + 1 })] }),
    ];
    expect(await s.acceptBatch(batch)).toEqual([{ duplicate: false }, { duplicate: false }]);
    for (const a of batch) {
      for (const j of a.jobs) expect(await s.getJob(j.id)).toMatchObject({ runAt: j.runAt, createdAt: a.now, updatedAt: a.now });
    }
    // k2's record expires at T0 + 1: a repeat at T0 is a duplicate, one at T0 + 1 is new.
    expect((await s.acceptBatch([acceptance("k2", { now: T0 })]))[0]!.duplicate).toBe(true);
    expect((await s.acceptBatch([acceptance("k2", { now: T0 + 1 })]))[0]!.duplicate).toBe(false);
    await s.close();
  });

  test("the answer lists only duplicates; the others are new", () => {
    expect(acceptResults(3, [])).toEqual([{ duplicate: false }, { duplicate: false }, { duplicate: false }]);
    expect(acceptResults(3, [1, 204, null, null, 2, 200, "{}", "application/json"])).toEqual([
      { duplicate: false },
      { duplicate: true, response: { status: 204, body: null } },
      { duplicate: true, response: { status: 200, body: "{}", contentType: "application/json" } },
    ]);
  });
});
