// A relay (test/fixtures/tcp-relay.ts) that can make one connection go silent: the first client
// message that contains a marker (e.g. a Trigger-Id travelling as a bound parameter) is swallowed,
// and from then on that connection relays nothing either way and is never closed, as when a NAT
// or conntrack entry is dropped or a host is partitioned: no FIN, no RST, no answer. Other
// connections, open or new, are relayed as usual. stop() closes everything, silent ones included.
import { TcpRelay, type RelayPair } from "../fixtures/tcp-relay.ts";

/** The end of the previous chunk, to match a marker across a chunk boundary. */
type State = { tail: string };

export class SilencingRelay extends TcpRelay<State> {
  #marker: string | undefined;
  /** Connections silenced so far. */
  silenced = 0;

  /** The next client message containing `marker` silences its connection (once). */
  silenceNext(marker: string): void {
    this.#marker = marker;
  }

  protected newState(): State {
    return { tail: "" };
  }
  protected override fromClient(pair: RelayPair<State>, chunk: Uint8Array): boolean {
    const text = Buffer.from(chunk).toString("latin1");
    if (this.#marker !== undefined && (pair.state.tail + text).includes(this.#marker)) {
      this.#marker = undefined;
      pair.held = true;
      this.silenced++;
      return false;
    }
    pair.state.tail = text.slice(-64);
    return true;
  }
}
