// SQLite schema. Times are epoch-ms INTEGERs (the Store interface passes `now` in, so tests control
// time). The payload is JSON text, stored verbatim so key order survives.
import { checkMigrations, type Migration } from "./migration.ts";

export const SQLITE_MIGRATIONS: Migration[] = checkMigrations([
  {
    version: 1,
    name: "outbox: dedupe records and jobs",
    sql: `
CREATE TABLE dedupe (
  hook         TEXT    NOT NULL,
  key          TEXT    NOT NULL,
  status       INTEGER NOT NULL,
  body         TEXT,
  content_type TEXT,
  expires_at   INTEGER NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (hook, key)
) WITHOUT ROWID;
CREATE INDEX dedupe_expires_at ON dedupe (expires_at);

CREATE TABLE jobs (
  id           TEXT    PRIMARY KEY,
  hook         TEXT    NOT NULL,
  action       TEXT    NOT NULL,
  payload      TEXT    NOT NULL,
  state        TEXT    NOT NULL CHECK (state IN ('pending', 'running', 'done', 'dead')),
  attempts     INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  run_at       INTEGER NOT NULL,
  last_error   TEXT,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  locked_by    TEXT,
  locked_until INTEGER
);
-- claimDueJobs reads pending jobs by run_at and expired leases by locked_until.
CREATE INDEX jobs_due   ON jobs (run_at)       WHERE state = 'pending';
CREATE INDEX jobs_lease ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_state_created ON jobs (state, created_at);
`,
  },
]);
