// The redactor every log line, stored error and CLI output goes through (src/secrets.ts): whole
// secrets masked, in a stream cut anywhere as in a whole text, and before any cut.
import { describe, expect, test } from "bun:test";
import { excerpt } from "../../src/actions/types.ts";
import { Redactor } from "../../src/secrets.ts";

const r = new Redactor(["crm-t0ken-7f3a9c2e", "t0ken", "pa\"ss"]);

describe("stream", () => {
  test("a stream cut at any two points is masked exactly as the whole text, so a secret across chunks is masked too", () => {
    const text = `a crm-t0ken-7f3a9c2e b t0ken crm-t0ken-7f3a9c2ecrm-t0ken-7f3a9c2e "pa"ss" end`;
    const whole = r.redact(text);
    expect(whole).toBe(`a *** b *** ****** "***" end`);
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j += 3) {
        const s = r.stream();
        const out = s.push(text.slice(0, i)) + s.push(text.slice(i, j)) + s.push(text.slice(j)) + s.end();
        expect([i, j, out]).toEqual([i, j, whole]);
      }
    }
  });
});

describe("excerpt", () => {
  test("redacts before it cuts: a secret across the cut leaves no piece", () => {
    const text = `${"x".repeat(190)} crm-t0ken-7f3a9c2e tail`;
    const e = excerpt(text, { redactor: r }, 200);
    expect(e).toBe(`${"x".repeat(190)} *** tail`);
    for (let n = 4; n <= 18; n++) expect(e).not.toContain("crm-t0ken-7f3a9c2e".slice(0, n));
  });
});

describe("base64", () => {
  test("a secret inside base64 text is masked at any alignment: SMTP AUTH PLAIN, Basic auth, the secret alone, URL-safe", () => {
    const pw = "smtp-pa55word-2?>";
    const r = new Redactor([pw]);
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    for (const prefix of ["", "a", "ab", "\0mailer\0", "kratos:", "user:"]) {
      const text = `535 5.7.8 rejected ${b64(prefix + pw)} and ${b64(prefix + pw).replace(/\+/g, "-").replace(/\//g, "_")}`;
      const out = r.redact(text);
      // What is left of each encoding no longer decodes to the password, nor to most of it.
      for (const word of out.split(" ").slice(4)) expect([prefix, Buffer.from(word.replace(/\*/g, ""), "base64").toString("latin1")]).not.toEqual([prefix, expect.stringContaining(pw.slice(2, -2))]);
      expect(out).toContain("***");
    }
  });
});

describe("the one scan that finds text holding no secret", () => {
  // redact() first asks one regex, built from every spelling, whether the text holds any; only then
  // does it mask. A spelling the regex would miss (a metacharacter read as syntax) would pass unmasked.
  test("a secret made of regex metacharacters is found and masked in each of its spellings", () => {
    const secrets = ["a.b*c", "(x)+?", "[y]{2}", "p|q^$", "back\\slash", "s/l-a-sh", "d$&e", "\u{1F511}k\uD800ey"];
    const r = new Redactor(secrets);
    for (const s of secrets) {
      const forms = [s, JSON.stringify(s).slice(1, -1)];
      if (!/[\uD800-\uDFFF]/.test(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ""))) forms.push(encodeURIComponent(s));
      for (const spelt of forms) {
        const out = r.redact(`before ${spelt} after`);
        expect([s, spelt, out.includes(spelt)]).toEqual([s, spelt, false]);
        expect(out.startsWith("before ") && out.endsWith(" after") && out.includes("***")).toBe(true);
      }
    }
  });

  test("text a metacharacter would match as a pattern, but not literally, is left as it is", () => {
    const r = new Redactor(["a.b*c", "p|q^$"]);
    for (const text of ["aXbbbc", "aXc", "p", "q", "a job delivered line"]) expect(r.redact(text)).toBe(text);
  });

  test("a secret inside a log line's value (a trigger id) is masked whatever else the line holds", () => {
    const r = new Redactor(["crm-t0ken-7f3a9c2e"]);
    const line = JSON.stringify({ time: "2026-12-05T00:00:00.000Z", level: "info", msg: "job delivered", job_id: "j", trigger_id: "id-crm-t0ken-7f3a9c2e-x", attempt: 1, ms: 4 });
    expect(r.redact(line)).toBe(line.replace("crm-t0ken-7f3a9c2e", "***"));
    expect(r.redact("no secret here")).toBe("no secret here");
  });
});
