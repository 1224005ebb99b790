// The one error the outbox store raises on purpose. Everything else it throws is a programming
// error (bad SQL, a constraint we did not expect) and should crash loudly in tests.

/**
 * The database cannot be reached or cannot take a write right now: Postgres refused, dropped or
 * timed out the connection, or SQLite stayed busy/locked past busy_timeout or hit an I/O error.
 * The server answers 503 (Kratos retries 5xx, CONTRACT §4.2) and workers back off; the store
 * reconnects by itself on a later call, so callers never need to reopen it.
 *
 * `commitUnknown` is true when the connection was lost after COMMIT was sent: the transaction may
 * or may not have been applied. Retrying an accept is still safe (dedupe replays the first answer).
 */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
  constructor(
    message: string,
    readonly commitUnknown = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
