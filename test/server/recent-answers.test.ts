import { describe, expect, test } from "bun:test";
import { RecentAnswers } from "../../src/server/recent-answers.ts";

const ok = { status: 204, body: null };

describe("RecentAnswers", () => {
  test("answers a key until its dedupe window passes", () => {
    const r = new RecentAnswers(8);
    r.set("a", ok, 1000);
    expect(r.get("a", 999)).toEqual(ok);
    expect(r.get("a", 1000)).toBeUndefined();
    expect(r.get("a", 10)).toBeUndefined(); // an expired entry is dropped
  });

  test("holds at most its capacity, keeps the newest and drops the oldest first", () => {
    const r = new RecentAnswers(100);
    for (let i = 0; i < 10_000; i++) {
      r.set(`k${i}`, { status: 200, body: String(i) }, Infinity);
      expect(r.size).toBeLessThanOrEqual(100);
    }
    expect(r.get("k9999", 0)).toEqual({ status: 200, body: "9999" });
    expect(r.get("k9950", 0)).toEqual({ status: 200, body: "9950" }); // the newest half at least
    expect(r.get("k0", 0)).toBeUndefined();
    expect(r.get("k9000", 0)).toBeUndefined();
  });

  test("a key set again answers with its newest answer and is not counted twice", () => {
    const r = new RecentAnswers(4);
    r.set("a", ok, Infinity);
    r.set("b", ok, Infinity); // a and b move to the previous generation
    r.set("a", { status: 200, body: "2" }, Infinity);
    expect(r.get("a", 0)).toEqual({ status: 200, body: "2" });
    expect(r.size).toBe(2);
  });
});
