// A relay (test/fixtures/tcp-relay.ts) that can make the database vanish (refused connections,
// every open connection cut: stop()) and come back on the same port (start()): a Postgres restart
// without touching the shared server other tests use.
import { TcpRelay, type RelayPair } from "../fixtures/tcp-relay.ts";

type State = { swallowReply: boolean };

export class TcpProxy extends TcpRelay<State> {
  /**
   * When set, the next client message containing COMMIT is forwarded, and the connection is cut
   * as soon as the server answers it, without relaying the answer: the transaction is committed,
   * and the client cannot know.
   */
  cutAfterNextCommit = false;

  protected newState(): State {
    return { swallowReply: false };
  }
  protected override fromClient(pair: RelayPair<State>, chunk: Uint8Array): boolean {
    if (this.cutAfterNextCommit && Buffer.from(chunk).includes("COMMIT")) {
      this.cutAfterNextCommit = false;
      pair.state.swallowReply = true;
    }
    return true;
  }
  protected override fromServer(pair: RelayPair<State>): boolean {
    if (!pair.state.swallowReply) return true;
    this.drop(pair);
    return false;
  }
}
