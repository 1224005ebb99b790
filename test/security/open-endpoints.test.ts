// The endpoints anyone who reaches the port can call (the hooks before auth, /metrics,
// /health/*) cost O(1) and tell a proxy in front nothing it did not see: raw request-targets over
// a real socket, a large jobs table in a real SQLite file, a 401 flood with long ids.
import { describe, expect, test } from "bun:test";
import { listen } from "../../src/server/listen.ts";
import { testApp } from "../server/helpers.ts";
import { rawRequest } from "../server/raw-http.ts";

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;

describe("dot segments in the request-target get 400 before routing", () => {
  // What a proxy filtering on the /hooks/ prefix lets through, and where the URL parser would land it.
  const spellings = [
    "/hooks/%2e%2e/metrics",
    "/hooks/%2E%2E/metrics",
    "/hooks/.%2e/metrics",
    "/hooks/%2E./health/ready",
    "/hooks/../metrics",
    "/hooks/./open",
    "/hooks/%2e/open",
    "/hooks/x/../open",
    "/hooks\\..\\metrics",
  ];
  for (const kind of ["bun", "node"] as const) {
    test(`${kind} listener: ${spellings.length} spellings of a dot segment, raw on the wire`, async () => {
      const r = testApp();
      // A GET hook makes `listen` pick node:http (listen.ts).
      const hooks = kind === "node" ? [...r.config.hooks, { ...r.config.hooks[0]!, method: "GET" }] : r.config.hooks;
      const l = await listen(r, { host: "127.0.0.1", port: 0 }, hooks);
      try {
        expect(l.kind).toBe(kind);
        for (const target of spellings) {
          const res = await rawRequest(l.port, get(target));
          expect({ target, status: res?.status, code: res && JSON.parse(res.body).error?.code }).toEqual({ target, status: 400, code: "bad_path" });
        }
        // The plain spellings still answer.
        expect((await rawRequest(l.port, get("/metrics")))!.status).toBe(200);
        expect((await rawRequest(l.port, get("/metrics/")))!.status).toBe(200);
        expect((await rawRequest(l.port, get("/health/live")))!.status).toBe(200);
        expect((await rawRequest(l.port, get("/nothing")))!.status).toBe(404);
        // Dots inside a segment, or in the query, are not dot segments.
        // (The hook answers: 400 for the empty body, not bad_path.)
        expect(JSON.parse((await rawRequest(l.port, get("/hooks/open?next=/../metrics")))!.body).error.code).toBe("invalid_json");
        expect((await rawRequest(l.port, get("/hooks/...")))!.status).toBe(404);
      } finally {
        await l.stop(1000);
      }
    });
  }
});
