// SQLite schema. Times are epoch-ms INTEGERs (the Store interface passes `now` in, so tests control
// time). The payload is JSON text, stored verbatim so key order survives.
import type { SqliteDb } from "../sqlite/driver.ts";
import { keyHash } from "../sqlite/dedupe-log.ts";
import { checkMigrations, type Migration } from "./migration.ts";

/** A SQLite migration may finish in code what SQL cannot do (hashing, here), in the same transaction. */
export type SqliteMigration = Migration & { after?: (db: SqliteDb) => void };

export const SQLITE_MIGRATIONS: SqliteMigration[] = checkMigrations<SqliteMigration>([
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
  {
    version: 2,
    name: "dedupe: append-only log with a bulk-built key index",
    // src/outbox/sqlite/dedupe-log.ts says why. v1 records move over (hashed in `after`).
    sql: `
CREATE TABLE dedupe_log (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  hook         TEXT    NOT NULL,
  key          TEXT    NOT NULL,
  key_hash     INTEGER NOT NULL,
  status       INTEGER NOT NULL,
  body         TEXT,
  content_type TEXT,
  expires_at   INTEGER NOT NULL,
  created_at   INTEGER NOT NULL
);
CREATE TABLE dedupe_index (
  key_hash INTEGER NOT NULL,
  seq      INTEGER NOT NULL,
  PRIMARY KEY (key_hash, seq)
) WITHOUT ROWID;
CREATE TABLE dedupe_indexed (id INTEGER PRIMARY KEY CHECK (id = 1), through INTEGER NOT NULL);
INSERT INTO dedupe_indexed (id, through) VALUES (1, 0);
`,
    after: (db) => {
      const insert = db.query("INSERT INTO dedupe_log (hook, key, key_hash, status, body, content_type, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
      const old = db.query("SELECT hook, key, status, body, content_type, expires_at, created_at FROM dedupe ORDER BY created_at").values() as [string, string, number, string | null, string | null, number, number][];
      for (const [hook, key, ...rest] of old) insert.run(hook, key, keyHash(hook, key), ...rest);
      db.run("INSERT INTO dedupe_index (key_hash, seq) SELECT key_hash, seq FROM dedupe_log ORDER BY key_hash, seq");
      db.run("UPDATE dedupe_indexed SET through = (SELECT coalesce(max(seq), 0) FROM dedupe_log) WHERE id = 1");
      db.run("DROP TABLE dedupe");
    },
  },
  {
    version: 3,
    name: "jobs: no (state, created_at) index on the delivery path",
    // That index changed with every claim and completion (a delete and an insert each): ~10 % of
    // the drain rate (bench/results/drain.md). Counts by state now come from the partial indexes
    // (read-jobs.ts); dead jobs get their own, which only a death or a retry touches.
    sql: `
DROP INDEX jobs_state_created;
CREATE INDEX jobs_dead ON jobs (created_at) WHERE state = 'dead';
`,
  },
  {
    version: 4,
    name: "jobs: attempt history, search columns, retention index",
    // Plain SQL, no `after`: every SQLite driver runs it as is.
    // job_attempts rows are written by the same statement batch that records an outcome
    // (complete-jobs.ts, finish-job.ts). trigger_id / identity_id are searched by `outbox list`
    // and the admin page, which scan the jobs retention keeps, on a connection of their own. They
    // have no index here: an index on a random key makes every acceptance dirty two more random
    // pages, and the commits of the ack path carried them: 17 → 50-77 µs of store-thread CPU per
    // acceptance (bench/accept-cpu.ts, bench/results/ack.md). jobs_done lets retention find old
    // done jobs without reading every job (expire-jobs.ts); it changes once per job, at completion.
    // The attempt that delivered a job is kept in the job's own row (delivered_*), which the
    // completion rewrites anyway: a job_attempts row per delivery cost ~3 µs of store-thread CPU
    // each (b-tree insert; bench/complete-cpu.ts 20.4 → 17.4 µs per job, bench/results/drain.md). read-jobs.ts shows it as the last attempt;
    // retryJobs moves it to job_attempts before the job runs again.
    sql: `
ALTER TABLE jobs ADD COLUMN trigger_id TEXT;
ALTER TABLE jobs ADD COLUMN delivered_at INTEGER;
ALTER TABLE jobs ADD COLUMN delivered_ms INTEGER;
ALTER TABLE jobs ADD COLUMN delivered_code INTEGER;
ALTER TABLE jobs ADD COLUMN identity_id TEXT;
ALTER TABLE jobs ADD COLUMN traceparent TEXT;
CREATE INDEX jobs_done     ON jobs (updated_at)  WHERE state = 'done';
-- A done job no longer shows the error of an earlier failed attempt (completions now clear it).
UPDATE jobs SET last_error = NULL WHERE state = 'done' AND last_error IS NOT NULL;
CREATE TABLE job_attempts (
  job_id      TEXT    NOT NULL,
  n           INTEGER NOT NULL,
  started_at  INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  outcome     TEXT    NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
  code        INTEGER,
  detail      TEXT,
  PRIMARY KEY (job_id, n)
) WITHOUT ROWID;
`,
  },
]);
