// Putting the app on a socket: Bun.serve normally, node:http when a hook uses GET (Bun.serve drops
// GET bodies). Stopping lets requests in flight finish their commit and refuses new connections.
import { describe, expect, test } from "bun:test";
import { listen } from "../../src/server/listen.ts";
import { ENV, kratosJson, loadTestConfig, testApp } from "./helpers.ts";
import { goRequest, rawRequest } from "./raw-http.ts";

const ID = "5ff66179-c240-4703-b0d8-494592cefff5";

function slowApp() {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inAccept = new Promise<void>((r) => (entered = r));
  const r = testApp({
    env: ENV,
    accept: async () => {
      entered();
      await gate;
      return { duplicate: false };
    },
  });
  return { r, release, inAccept };
}

for (const kind of ["bun", "node"] as const) {
  describe(`${kind} listener`, () => {
    test("a request in flight at stop gets its answer; new connections are refused", async () => {
      const { r, release, inAccept } = slowApp();
      const config = r.config;
      const hooks = kind === "node" ? [...config.hooks, { ...config.hooks[0]!, method: "GET" }] : config.hooks;
      const l = await listen(r, { host: "127.0.0.1", port: 0 }, hooks);
      expect(l.kind).toBe(kind);
      const inflight = rawRequest(l.port, goRequest("POST", "/hooks/open", l.port, kratosJson({ identity_id: ID }), { "Content-Type": "application/json" }));
      await inAccept;
      r.drain();
      const stopped = l.stop(5000);
      await Bun.sleep(20);
      release();
      expect((await inflight)!.status).toBe(204);
      await stopped;
      await expect(fetch(`http://127.0.0.1:${l.port}/health/live`)).rejects.toThrow();
    });
  });
}

test("node listener: a GET body reaches the pipeline, as Kratos sends it", async () => {
  const r = testApp({ config: loadTestConfig() });
  const l = await listen(r, { host: "127.0.0.1", port: 0 }, [{ ...r.config.hooks[0]!, method: "GET" }]);
  try {
    const res = await rawRequest(l.port, goRequest("GET", "/hooks/open", l.port, kratosJson({ identity_id: ID }), { "Content-Type": "application/json" }));
    expect(res!.status).toBe(204);
    expect(r.mem.accepted).toHaveLength(1);
    const big = await rawRequest(l.port, goRequest("GET", "/hooks/open", l.port, kratosJson({ identity_id: "x".repeat(5000) }), { "Content-Type": "application/json" }));
    expect(big!.status).toBe(413);
    expect(JSON.parse(big!.body).error.code).toBe("body_too_large");
  } finally {
    await l.stop(1000);
  }
});
