// `kratos-hooks sink`: the development catcher alone (src/dev/sink.ts): HTTP and SMTP on loopback,
// one printed line per delivery, GET /_sink/deliveries for the list. Runs until SIGTERM/SIGINT.
import { parseListen } from "../config/resolve.ts";
import { UsageError } from "../errors.ts";
import { startSink, type Addr } from "../dev/sink.ts";
import { defineCommand } from "./command.ts";

function addrs(flag: unknown, fallback: string, name: string): Addr[] {
  const list = (flag as string[] | undefined)?.length ? (flag as string[]) : [fallback];
  return list.map((s) => {
    const a = parseListen(s);
    if (!a) throw new UsageError(`sink: --${name} '${s}' is not host:port`, `e.g. --${name} ${fallback}`);
    return a;
  });
}

export const command = defineCommand({
  name: "sink",
  summary: "Development catcher: accept and print what actions deliver over HTTP and SMTP.",
  usage: "kratos-hooks sink [--http <host:port>]... [--smtp <host:port>]...",
  flags: {
    http: { type: "string", multiple: true, placeholder: "<host:port>", description: "HTTP listen address (default 127.0.0.1:4460); repeatable." },
    smtp: { type: "string", multiple: true, placeholder: "<host:port>", description: "SMTP listen address (default 127.0.0.1:2525); repeatable." },
  },
  details: `Answers every HTTP request 200 {"ok":true} and accepts every mail, like Mailpit: for a first
run and for tests, never for production. Prints one 'sink:' line per delivery (credentials headers
are not recorded); GET /_sink/deliveries on an HTTP address lists them as JSON. 'serve --dev' runs
the same sink in-process where the config's actions deliver.`,
  async run({ flags }) {
    let sink;
    try {
      sink = await startSink({ http: addrs(flags.http, "127.0.0.1:4460", "http"), smtp: addrs(flags.smtp, "127.0.0.1:2525", "smtp") });
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw new UsageError(`sink: cannot listen: ${(err as Error).message}`, "pick other addresses with --http / --smtp");
    }
    const show = (a: Addr[]) => a.map((x) => `${x.host}:${x.port}`).join(", ");
    process.stdout.write(`sink: HTTP on ${show(sink.http)}, SMTP on ${show(sink.smtp)}; development only, Ctrl-C to stop\n`);
    await new Promise<void>((resolve) => {
      process.once("SIGTERM", () => resolve());
      process.once("SIGINT", () => resolve());
    });
    await sink.stop();
    process.stdout.write(`sink: stopped after ${sink.deliveries.length} deliveries\n`);
    return 0;
  },
});
