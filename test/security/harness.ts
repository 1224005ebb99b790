// The hostile-input suite's path through real parts: hooks.yaml loaded and checked by the real
// loader, jobs accepted into a real SQLite outbox as the receiver stores them (the accepted
// webhook, rendered at delivery), and delivered by Worker.fromConfig with a given environment, so
// the redaction, encoding and env rules are the ones serve runs.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import type { ResolvedConfig } from "../../src/config/types.ts";
import { ConfigErrors } from "../../src/errors.ts";
import type { Job } from "../../src/outbox/store.ts";
import { Worker } from "../../src/outbox/worker.ts";
import { enqueue, tempStore, until } from "../outbox/fixtures.ts";

export const KRATOS = `kratos: { version: v26.2.0 }\nreceiver: { url: http://127.0.0.1:4459 }\n`;

/** A hook at registration.after whose body reads the usual traits, with the given actions (YAML, 4-space indent). */
export function hookYaml(actions: string, serve = ""): string {
  return `${KRATOS}${serve}hooks:
  welcome:
    on: registration.after
    auth: { type: api_key, in: header, name: X-Key, secret_env: KRATOS_HOOKS_SECRET }
    body:
      identity_id: identity.id
      email: { from: identity.traits.email }
      name: { from: identity.traits.name, optional: true }
      path: { from: identity.traits.path, optional: true }
    actions:
${actions}`;
}

const dirs: string[] = [];
export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Loads hooks.yaml text with the real loader: the config, or the first lines of each error. */
export function load(text: string, env: Record<string, string | undefined> = {}): { config?: ResolvedConfig; errors: string[]; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "kh-security-"));
  dirs.push(dir);
  writeFileSync(join(dir, "hooks.yaml"), text);
  try {
    return { config: loadConfig(join(dir, "hooks.yaml"), { env, cwd: dir }), errors: [], dir };
  } catch (err) {
    if (!(err instanceof ConfigErrors)) throw err;
    return { errors: err.errors.map((e) => e.format().replace(`${dir}/`, "")), dir };
  }
}

/** Writes a file beside hooks.yaml (a jsonnet body). */
export function writeBeside(dir: string, name: string, text: string): void {
  writeFileSync(join(dir, name), text);
}

/**
 * Delivers one job per body of `actionId` through a real SQLite outbox and Worker.fromConfig with
 * `env`, and returns the jobs once each is done or dead.
 */
export async function deliverThroughOutbox(config: ResolvedConfig, actionId: string, bodies: unknown[], env: Record<string, string | undefined>): Promise<Job[]> {
  const action = config.hooks.flatMap((h) => h.actions).find((a) => a.id === actionId);
  if (!action) throw new Error(`no action ${actionId}`);
  const t = await tempStore();
  try {
    const ids = await enqueue(t.store, { ...action, retry: { attempts: 1, baseMs: 1, capMs: 1 } }, bodies);
    const worker = Worker.fromConfig(config, t.store, { env, minPollMs: 5 });
    worker.start();
    try {
      await until(async () => {
        const jobs = await Promise.all(ids.map((id) => t.store.getJob(id)));
        return jobs.every((j) => j && (j.state === "done" || j.state === "dead"));
      }, `${ids.length} jobs of ${actionId} to finish`);
    } finally {
      await worker.stop(2000);
    }
    return (await Promise.all(ids.map((id) => t.store.getJob(id)))) as Job[];
  } finally {
    await t.cleanup();
  }
}
