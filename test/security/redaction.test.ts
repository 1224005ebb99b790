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
