// A TCP relay between a store and the real Postgres, so a test can make the database vanish
// (refused connections, every open connection cut) and come back on the same port: a Postgres
// restart without touching the shared server other tests use.
import type { Socket, TCPSocketListener } from "bun";

type Pair = { client: Socket<Side>; upstream?: Socket<Side>; pending: Uint8Array[]; swallowReply?: boolean };
type Side = { pair: Pair };

export class TcpProxy {
  #listener: TCPSocketListener<Side> | undefined;
  readonly #pairs = new Set<Pair>();
  port = 0;
  /**
   * When set, the next client message containing COMMIT is forwarded, and the connection is cut
   * as soon as the server answers it, without relaying the answer: the transaction is committed,
   * and the client cannot know.
   */
  cutAfterNextCommit = false;

  constructor(readonly targetHost: string, readonly targetPort: number) {}

  /** Listens (again) on the same port as before, or a free one the first time. */
  start(): this {
    this.#listener = Bun.listen<Side>({
      hostname: "127.0.0.1",
      port: this.port,
      socket: {
        open: (client) => {
          const pair: Pair = { client, pending: [] };
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
                if (pair.swallowReply) this.#drop(pair);
                else pair.client.write(chunk);
              },
              close: () => this.#drop(pair),
              error: () => this.#drop(pair),
            },
          }).catch(() => this.#drop(pair));
        },
        data: (client, chunk) => {
          const { pair } = client.data;
          if (this.cutAfterNextCommit && Buffer.from(chunk).includes("COMMIT")) {
            this.cutAfterNextCommit = false;
            pair.swallowReply = true;
          }
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

  /** Stops listening and cuts every relayed connection, like a server going down. */
  stop(): void {
    this.#listener?.stop(true);
    this.#listener = undefined;
    for (const pair of [...this.#pairs]) this.#drop(pair);
  }

  #drop(pair: Pair): void {
    if (!this.#pairs.delete(pair)) return;
    pair.client.end();
    pair.upstream?.end();
  }
}
