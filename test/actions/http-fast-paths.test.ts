// The http action's per-request shortcuts against what they replaced: url validation through a
// cache of known http(s) origins (vs URL.canParse + protocol on every url), header checks by
// pattern (vs Headers.set throwing), and the action timeout folded into the worker's signal
// (ctx.signalHasTimeout, vs AbortSignal.timeout + AbortSignal.any), and the dot-segment checks
// skipped for text without "." or "%" (vs splitting every url path and value).
import { describe, expect, test } from "bun:test";
import { buildJobPayload, deliver, DeliveryError, DeliveryTimeout } from "../../src/actions/index.ts";
import { headerName, isHttpUrl } from "../../src/actions/http.ts";
import { dotSegmentInUrl, isDotSegment, rfc8187, urlEncoder } from "../../src/template-context.ts";
import { TemplateError, type TemplateRef } from "../../src/template.ts";
import { deliveryContext, httpAction, testSink } from "./helpers.ts";

const seen: Record<string, string>[] = [];
const sink = testSink(async (req) => {
  seen.push(Object.fromEntries(req.headers));
  if (new URL(req.url).pathname === "/slow") await Bun.sleep(3000);
  return new Response("ok");
});
const slowParse = (u: string) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol);

describe("url check with known origins", () => {
  const urls = [
    "http://127.0.0.1:8080/a", "http://127.0.0.1:8080/b%2Fc?x=1", "http://127.0.0.1:8080/ spaces and ünï/", "http://127.0.0.1:8080/\\back",
    "https://crm.example.com/contacts/u1", "https://crm.example.com/contacts/%3F?q=a#f", "https://user:pw@crm.example.com/x",
    "HTTP://EXAMPLE.com/x", "http://[::1]:9/x", "http://[::1/x", "http://ex ample.com/x", "http://example.com:99999/x",
    "http://example.com:80a/x", "http:/example.com/x", "http:example.com/x", "ftp://example.com/x", "file:///etc/passwd",
    "mailto:a@b.c", "/relative/x", "relative", "", "://x/y", "javascript://x/y", "http://", "http:///x", "http://a\\b/c",
    "http://a?x/y", "http://a#x/y", "http://a@b@c/x", "http://%zz/x", "http://%41/x", "http://xn--/x", "http://1.2.3.4.5/x",
    "http://0x7f.1/x", "http://example.com\t/x", " http://example.com/x ", "http://example.com/\u0000", "https://[fe80::1%25eth0]/x",
  ];

  test("agrees with URL.canParse + protocol for a table of urls, cold and warm, in any order", () => {
    for (let round = 0; round < 3; round++) {
      const order = round === 1 ? [...urls].reverse() : urls;
      for (const u of order) expect([u, isHttpUrl(u)]).toEqual([u, slowParse(u)]);
    }
  });

  test("agrees for generated urls that share a known origin", () => {
    let s = 9;
    const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const chars = "/?#@:%\\ .[]ab\t\n\u00e9\u20ac";
    const origins = ["http://127.0.0.1:8080", "https://crm.example.com", "http://[::1]:9", "http://a\\b", "http://x?y"];
    for (let i = 0; i < 2000; i++) {
      const tail = Array.from({ length: Math.floor(r() * 8) }, () => chars[Math.floor(r() * chars.length)]).join("");
      const u = `${origins[i % origins.length]}/${tail}`;
      expect([u, isHttpUrl(u)]).toEqual([u, slowParse(u)]);
    }
  });
});

describe("dot-segment checks without '.' or '%'", () => {
  // What the checks were before the shortcut: every path split, every part tested.
  const slowInUrl = (url: string) => {
    const s = url.indexOf("://");
    if (s < 0) return undefined;
    const rest = url.slice(s + 3);
    const p = rest.search(/[/?#]/);
    if (p < 0 || rest[p] !== "/") return undefined;
    return rest.slice(p).split(/[?#]/, 1)[0]!.split(/[/\\]/).find(isDotSegment);
  };
  const slowValueRefused = (s: string) => isDotSegment(encodeURIComponent(s)) || s.split(/[/\\]/).some(isDotSegment);
  let seed = 5;
  const r = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const chars = ["/", "\\", ".", "%", "2", "e", "E", "%2e", "%2E", "..", "a", "?", "#", "@", ":"];
  const text = () => Array.from({ length: Math.floor(r() * 7) }, () => chars[Math.floor(r() * chars.length)]).join("");

  test("a rendered url's dot segment is found exactly as before, for generated paths", () => {
    for (let i = 0; i < 3000; i++) {
      const u = `http://crm.example.com/${text()}`;
      expect([u, dotSegmentInUrl(u)]).toEqual([u, slowInUrl(u)]);
    }
    // Origins with a ? or # before any "/", none at all, or no "://".
    for (let i = 0; i < 3000; i++) {
      const u = [`http://a${text()}`, `https://x?${text()}/${text()}`, `http://h#/${text()}`, `crm:${text()}`, `http://${text()}/${text()}`][i % 5]!;
      expect([u, dotSegmentInUrl(u)]).toEqual([u, slowInUrl(u)]);
    }
    expect(dotSegmentInUrl("http://crm.example.com/a/%2E%2e/b")).toBe("%2E%2e");
    expect(dotSegmentInUrl("http://crm.example.com/contacts/u1")).toBeUndefined();
  });

  test("a body value in the url's path is refused exactly as before, for generated values", () => {
    const encode = urlEncoder("http://crm.example.com/contacts/{{body.id}}?q={{body.q}}");
    const ref: TemplateRef = { kind: "body", path: ["id"], text: "{{body.id}}" };
    for (let i = 0; i < 3000; i++) {
      const v = text();
      const refused = (() => {
        try {
          encode(v, ref, 0);
          return false;
        } catch (err) {
          expect(err).toBeInstanceOf(TemplateError);
          return true;
        }
      })();
      expect([v, refused]).toEqual([v, slowValueRefused(v)]);
      expect(encode(v, ref, 1)).toBe(encodeURIComponent(v)); // the query value: never refused
    }
  });
});

describe("header checks", () => {
  const cases: [string, string][] = [
    ["X-Ok", "plain"], ["X-Latin1", "caf\u00e9 \u00ff"], ["X-Euro", "\u20ac"], ["X-Nul", "a\u0000b"], ["X-Cr", "a\rb"], ["X-Lf", "a\nb"],
    ["X-Ctl", "a\u0001b"], ["X-Del", "a\u007fb"], ["X-Space", "  padded  "], ["X-Emoji", "\u{1F600}"], ["Bad Name", "v"], ["X:y", "v"],
    ["X-Tok!#$%&'*+-.^_`|~", "v"], ["\u00e9", "v"], ["X-Empty", ""], ["X-Tab", "a\tb"],
  ];

  test("a body value in a header: controls refused, text outside Latin-1 sent RFC 8187-encoded, a bad name refused; nothing sent when refused", async () => {
    for (const [name, value] of cases) {
      const badName = !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name);
      const control = /[\x00-\x08\x0a-\x1f\x7f]/.test(value);
      const action = httpAction({ url: `${sink.base}/h`, headers: { [name]: "{{body.v}}" } });
      // The accepted webhook, as serve stores it: the header is rendered at delivery.
      const start = seen.length;
      const err = await deliver(action, { body: { v: value }, hook: "h" }, deliveryContext()).then(() => undefined, (e) => e as DeliveryError);
      if (control) {
        expect([name, err?.retryable, err?.message]).toEqual([name, false, `header ${name}: {{body.v}} holds a line break or control character, which an HTTP header cannot carry; refused`]);
        expect(seen.length).toBe(start);
      } else if (badName) {
        expect([name, err?.retryable, err?.message]).toEqual([name, false, `header name ${JSON.stringify(name)} is not an HTTP token`]);
        expect(seen.length).toBe(start);
      } else {
        expect(`${name}: ${err?.message ?? "sent"}`).toBe(`${name}: sent`);
        const sent = /[^\x00-\xff]/.test(value) ? rfc8187(value) : value.trim();
        expect([name, seen[start]![name.toLowerCase()]]).toEqual([name, sent]);
      }
    }
  });

  test("header names: the kept lower-case name or undefined agrees with the token pattern and toLowerCase, cold and warm", () => {
    for (let round = 0; round < 2; round++) {
      for (const [name] of [...cases, ["X-DUP", ""], ["x-dup", ""], ["", ""], ["K\u0130", ""]] as [string, string][]) {
        const slow = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name) ? name.toLowerCase() : undefined;
        expect([name, headerName(name)]).toEqual([name, slow]);
      }
    }
  });

  test("a header given twice in different case is sent once, the later one winning; Idempotency-Key is always the job id", async () => {
    const action = httpAction({ url: `${sink.base}/h`, headers: { "x-dup": "first", "X-Dup": "second", "User-Agent": "mine", "Idempotency-Key": "forged" } });
    const start = seen.length;
    await deliver(action, buildJobPayload(action, { body: {}, hook: "h", jobId: "job-9" }), deliveryContext({ jobId: "job-9" }));
    expect(seen[start]!["x-dup"]).toBe("second");
    expect(seen[start]!["user-agent"]).toBe("mine");
    expect(seen[start]!["idempotency-key"]).toBe("job-9");
  });
});

describe("the timeout carried by the caller's signal", () => {
  test("a DeliveryTimeout abort reads as a timeout, retryable", async () => {
    const action = httpAction({ url: `${sink.base}/slow`, timeoutMs: 150 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(new DeliveryTimeout(150)), 150);
    const err = await deliver(action, buildJobPayload(action, { body: {}, hook: "h", jobId: "j" }), deliveryContext({ signal: ac.signal, signalHasTimeout: true })).then(() => undefined, (e: unknown) => e as DeliveryError);
    expect(err!.retryable).toBe(true);
    expect(err!.message).toContain("timed out after 150ms");
  });

  test("any other abort reads as the worker's deadline or shutdown", async () => {
    const action = httpAction({ url: `${sink.base}/slow`, timeoutMs: 150 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const err = await deliver(action, buildJobPayload(action, { body: {}, hook: "h", jobId: "j" }), deliveryContext({ signal: ac.signal, signalHasTimeout: true })).then(() => undefined, (e: unknown) => e as DeliveryError);
    expect(err!.retryable).toBe(true);
    expect(err!.message).toContain("aborted after");
  });
});

describe("a 2xx answer's body", () => {
  // An empty body (Content-Length: 0) is not drained (nothing to read); any other is. Either way the
  // delivery succeeds with the code, and the connection serves the next request.
  const answers = testSink(async (req) => {
    const path = new URL(req.url).pathname;
    await req.text();
    if (path === "/empty") return new Response(null, { status: 200 });
    if (path === "/empty-204") return new Response(null, { status: 204 });
    if (path === "/big") return new Response("x".repeat(256 * 1024), { status: 202 });
    return new Response("ok", { status: 201 });
  });

  test("empty, 204, small and large bodies all deliver with their code, many times over", async () => {
    const codes: number[] = [];
    for (let round = 0; round < 20; round++) {
      for (const [path, code] of [["/empty", 200], ["/empty-204", 204], ["/small", 201], ["/big", 202]] as const) {
        const action = httpAction({ url: `${answers.base}${path}` });
        const r = await deliver(action, buildJobPayload(action, { body: { id: "u1" }, hook: "h", jobId: `j-${round}` }), deliveryContext({ jobId: `j-${round}` }));
        codes.push(r.code!);
        expect(r.code).toBe(code);
      }
    }
    expect(codes.length).toBe(80);
  });
});
