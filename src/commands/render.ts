// `kratos-hooks render <hook>`: the JSON Kratos would send for a hook, evaluated by the real
// jsonnet CLI exactly as Kratos evaluates it (ctx as a top-level argument, CONTRACT §3.1).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve, sep } from "node:path";
import process from "node:process";
import { defineCommand, configFlag, configPath } from "./command.ts";
import { UsageError } from "../errors.ts";
import { loadConfig } from "../config/load.ts";
import { emitBody } from "../kratos/jsonnet.ts";
import { exampleCtx } from "../kratos/ctx.ts";
import { evalBody, findJsonnet } from "../jsonnet-cli.ts";

export const command = defineCommand({
  name: "render",
  summary: "Print the body Kratos would send for a hook, evaluated by the jsonnet CLI.",
  usage: "kratos-hooks render <hook> --config <hooks.yaml> [--ctx <ctx.json>]",
  flags: {
    config: configFlag("to read"),
    ctx: { type: "string", placeholder: "<file.json>", description: "The ctx Kratos passes (docs/kratos.md#ctx-per-hook-point); default: a realistic example for the hook's point." },
  },
  details: `Runs: jsonnet --tla-code-file ctx=<ctx.json> <hook>.jsonnet (Debian's jsonnet or go-jsonnet on PATH, or $KRATOS_HOOKS_JSONNET).
When the body cancels the call (error "cancel", from skip_if), prints a note and exits 0.`,
  run({ flags, positionals }) {
    const [name, ...extra] = positionals;
    if (!name || extra.length > 0) throw new UsageError("render takes exactly one hook name", "kratos-hooks render <hook> --config <hooks.yaml>");
    const config = loadConfig(configPath(flags));
    const hook = config.hooks.find((h) => h.name === name);
    if (!hook) throw new UsageError(`no hook named '${name}'`, `hooks: ${config.hooks.map((h) => h.name).join(", ") || "none"}`);
    const jsonnet = findJsonnet();
    const cwd = process.cwd();
    const body = emitBody({ config, hook, rel: (p) => relative(cwd, p).split(sep).join("/") });
    const ctxText = flags.ctx !== undefined ? readCtx(flags.ctx as string) : `${JSON.stringify(exampleCtx(hook.point, hook.mode !== "notify", config.kratos.version, hook.methods[0] ? { method: hook.methods[0] } : {}), null, 2)}\n`;
    const dir = mkdtempSync(join(tmpdir(), "kratos-hooks-render-"));
    try {
      const bodyFile = join(dir, `${hook.name}.jsonnet`);
      const ctxFile = join(dir, "ctx.json");
      writeFileSync(bodyFile, body);
      writeFileSync(ctxFile, ctxText);
      const r = evalBody(bodyFile, ctxFile, jsonnet);
      if (r.kind === "cancel") {
        process.stdout.write('skipped: the body cancels the call (error "cancel")\n');
        return 0;
      }
      if (r.kind === "error") {
        process.stderr.write(`render: jsonnet failed for hook ${hook.name}; Kratos would fail the flow (docs/kratos.md#body-errors)\n${r.message}\n`);
        return 1;
      }
      process.stdout.write(r.json.endsWith("\n") ? r.json : `${r.json}\n`);
      return 0;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
});

function readCtx(file: string): string {
  let text: string;
  try {
    text = readFileSync(resolve(file), "utf8");
  } catch {
    throw new UsageError(`cannot read --ctx file ${file}`);
  }
  try {
    JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--ctx file ${file} is not JSON: ${(err as Error).message}`);
  }
  return text;
}
