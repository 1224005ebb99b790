// Builders for resolved actions and delivery contexts used by the action and worker tests.
import type { ResolvedEmailAction, ResolvedExecAction, ResolvedHttpAction, ResolvedRetry } from "../../src/config/types.ts";
import type { DeliveryContext } from "../../src/actions/types.ts";
import { afterAll, beforeAll } from "bun:test";

const retry: ResolvedRetry = { attempts: 5, baseMs: 50, capMs: 400 };

export function httpAction(over: Partial<ResolvedHttpAction> = {}): ResolvedHttpAction {
  return { kind: "http", id: "h.http", hook: "h", retry, concurrency: 4, method: "POST", url: "http://127.0.0.1:1/", headers: {}, timeoutMs: 2000, retry4xx: false, ...over };
}

export function emailAction(over: Partial<ResolvedEmailAction> = {}): ResolvedEmailAction {
  return { kind: "email", id: "h.email", hook: "h", retry, concurrency: 4, to: "{{body.email}}", subject: "Welcome", text: "Hi {{body.name}}", ...over };
}

export function execAction(over: Partial<ResolvedExecAction> = {}): ResolvedExecAction {
  return { kind: "exec", id: "h.exec", hook: "h", retry, concurrency: 4, command: ["/bin/true"], timeoutMs: 2000, env: {}, ...over };
}

export function deliveryContext(over: Partial<DeliveryContext> = {}): DeliveryContext {
  return { jobId: "job-1", hook: "h", action: "h.http", attempt: 1, env: {}, signal: new AbortController().signal, ...over };
}

/**
 * A sink on 127.0.0.1 for a test file, started before its tests and stopped after them: every
 * request goes to `handle`. `sink.base` is its origin once the file's tests run.
 */
export function testSink(handle: (req: Request) => Response | Promise<Response>): { base: string } {
  const sink = { base: "" };
  let server: ReturnType<typeof Bun.serve> | undefined;
  beforeAll(() => {
    server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handle });
    sink.base = `http://127.0.0.1:${server.port}`;
  });
  afterAll(() => server?.stop(true));
  return sink;
}
