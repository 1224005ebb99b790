// `serve --dev`, loaded only with that flag: the sink where the actions deliver, and the samples.
import type { ResolvedConfig } from "../config/types.ts";
import { UsageError } from "../errors.ts";
import type { Listening } from "../server/listen.ts";
import { sendSamples, sinkAddresses } from "./sample.ts";
import { startSink, type Addr, type Sink } from "./sink.ts";

const show = (a: Addr[]) => a.map((x) => `${x.host}:${x.port}`).join(", ");
const say = (line: string) => process.stdout.write(`${line}\n`);

export async function startDevSink(config: ResolvedConfig): Promise<Sink> {
  const at = sinkAddresses(config);
  let sink: Sink;
  try {
    sink = await startSink(at);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(
      `serve --dev: the sink cannot listen where the actions deliver: ${e.code === "EADDRINUSE" ? `an address is already in use (${e.message.replace(/^.*EADDRINUSE:?\s*/, "")})` : e.message}`,
      "stop what listens there (another sink?), or run without --dev",
    );
  }
  say(`dev: sink catching HTTP on ${show(sink.http) || "(no loopback http action)"} and SMTP on ${show(sink.smtp) || "(no loopback email action)"}; development only`);
  return sink;
}

export async function sendDevSamples(config: ResolvedConfig, listening: Listening): Promise<void> {
  const host = listening.hostname === "0.0.0.0" || listening.hostname === "::" ? "127.0.0.1" : listening.hostname.includes(":") ? `[${listening.hostname}]` : listening.hostname;
  for (const r of await sendSamples(config, `http://${host}:${listening.port}`, process.env)) {
    say(r.skipped ? `dev: no sample webhook for ${r.hook}: ${r.skipped}` : `dev: sample webhook for ${r.hook} (${config.hooks.find((h) => h.name === r.hook)!.point}) → ${r.path}: ${r.status}`);
  }
}
