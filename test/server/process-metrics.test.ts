// /metrics carries the standard process_* series and kratos_hooks_build_info, read at scrape time.
import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { testApp } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "kh-procmetrics-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function scrape(app: ReturnType<typeof testApp>["app"]): Promise<Record<string, number>> {
  const text = await (await app.handle(new Request("http://x/metrics"))).text();
  const values: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^(process_[a-z_]+) (\S+)$/.exec(line);
    if (m) values[m[1]!] = Number(m[2]);
  }
  values.build = text.includes(`kratos_hooks_build_info{version="${pkg.version}",runtime="bun",runtime_version="${Bun.version}"} 1`) ? 1 : 0;
  return values;
}

describe("process metrics", () => {
  test("CPU seconds, resident memory, open and max fds, start time, and build info", async () => {
    const { app, advance } = testApp();
    const before = await scrape(app);
    expect(before.build).toBe(1);
    expect(before.process_resident_memory_bytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(before.process_start_time_seconds).toBeGreaterThan(Date.now() / 1000 - 3600);
    expect(before.process_start_time_seconds).toBeLessThanOrEqual(Date.now() / 1000);
    expect(before.process_max_fds).toBeGreaterThan(0);

    // Open descriptors are counted as they are, and CPU time grows with work.
    writeFileSync(join(dir, "f"), "x");
    const fds = Array.from({ length: 8 }, () => openSync(join(dir, "f"), "r"));
    const end = performance.now() + 50;
    let spin = 0;
    while (performance.now() < end) spin++;
    // Within the second the same sample is served again; after it, a new one.
    expect(await scrape(app)).toEqual(before);
    advance(1000);
    const during = await scrape(app);
    for (const fd of fds) closeSync(fd);
    expect(during.process_open_fds! - before.process_open_fds!).toBeGreaterThanOrEqual(8);
    expect(during.process_cpu_seconds_total!).toBeGreaterThan(before.process_cpu_seconds_total!);
    expect(spin).toBeGreaterThan(0);
  });
});
