// A TCP relay to Postgres that can make one connection go silent: the first client message that
// contains a marker (e.g. a Trigger-Id travelling as a bound parameter) is swallowed, and from then
// on that connection relays nothing either way and is never closed, as when a NAT or conntrack
// entry is dropped or a host is partitioned: no FIN, no RST, no answer. Other connections, open
// or new, are relayed as usual. (test/store/tcp-proxy.ts cuts connections; this one hangs them.)
import type { Socket, TCPSocketListener } from "bun";

type Pair = { client: Socket<Side>; upstream?: Socket<Side>; pending: Uint8Array[]; silent: boolean; tail: string };
type Side = { pair: Pair };

export class SilencingRelay {
  #listener: TCPSocketListener<Side> | undefined;
  readonly #pairs = new Set<Pair>();
  #marker: string | undefined;
  port = 0;
  /** Connections silenced so far. */
  silenced = 0;

  constructor(readonly targetHost: string, readonly targetPort: number) {}

  /** The next client message containing `marker` silences its connection (once). */
  silenceNext(marker: string): void {
    this.#marker = marker;
  }

  start(): this {
    this.#listener = Bun.listen<Side>({
      hostname: "127.0.0.1",
      port: this.port,
      socket: {
        open: (client) => {
          const pair: Pair = { client, pending: [], silent: false, tail: "" };
          client.data = { pair };
          this.#pairs.add(pair);
          void Bun.connect<Side>({
            hostname: this.targetHost,
            port: this.targetPort,
            data: { pair },
            socket: {
              open: (up) => {
                pair.upstream = up;
                for (const chunk of pair.pending.splice(0)) up.write(chunk);
              },
              data: (_up, chunk) => {
                if (!pair.silent) pair.client.write(chunk);
              },
              close: () => this.#drop(pair),
              error: () => this.#drop(pair),
            },
          }).catch(() => this.#drop(pair));
        },
        data: (client, chunk) => {
          const { pair } = client.data;
          if (pair.silent) return;
          const text = Buffer.from(chunk).toString("latin1");
          // Match across a chunk boundary too: keep the end of the previous chunk.
          if (this.#marker !== undefined && (pair.tail + text).includes(this.#marker)) {
            this.#marker = undefined;
            pair.silent = true;
            this.silenced++;
            return;
          }
          pair.tail = text.slice(-64);
          if (pair.upstream) pair.upstream.write(chunk);
          else pair.pending.push(new Uint8Array(chunk));
        },
        close: (client) => this.#drop(client.data.pair),
        error: (client) => this.#drop(client.data.pair),
      },
    });
    this.port = this.#listener.port;
    return this;
  }

  /** Stops listening and closes every connection, the silent ones included. */
  stop(): void {
    this.#listener?.stop(true);
    this.#listener = undefined;
    for (const pair of [...this.#pairs]) {
      pair.silent = false;
      this.#drop(pair);
    }
  }

  #drop(pair: Pair): void {
    // A silent connection stays open on both sides until stop(): that is the point.
    if (pair.silent) return;
    if (!this.#pairs.delete(pair)) return;
    pair.client.end();
    pair.upstream?.end();
  }
}
