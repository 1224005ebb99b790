// Postgres schema. Tables are created unqualified: every connection's search_path is the store's
// schema (see postgres/connection.ts). Times are epoch-ms BIGINTs, not timestamptz, so both
// dialects speak the same integers and no Date crosses Bun.SQL's binding (see postgres/rows.ts).
// The payload is `json`, not `jsonb`: it is validated but kept verbatim (jsonb reorders keys).
import { checkMigrations, type Migration } from "./migration.ts";

export const POSTGRES_MIGRATIONS: Migration[] = checkMigrations([
  {
    version: 1,
    name: "outbox: dedupe records and jobs",
    sql: `
CREATE TABLE dedupe (
  hook         text    NOT NULL,
  key          text    NOT NULL,
  status       integer NOT NULL,
  body         text,
  content_type text,
  expires_at   bigint  NOT NULL,
  created_at   bigint  NOT NULL,
  PRIMARY KEY (hook, key)
);
CREATE INDEX dedupe_expires_at ON dedupe (expires_at);

CREATE TABLE jobs (
  id           text    PRIMARY KEY,
  hook         text    NOT NULL,
  action       text    NOT NULL,
  payload      json    NOT NULL,
  state        text    NOT NULL CHECK (state IN ('pending', 'running', 'done', 'dead')),
  attempts     integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL,
  run_at       bigint  NOT NULL,
  last_error   text,
  created_at   bigint  NOT NULL,
  updated_at   bigint  NOT NULL,
  locked_by    text,
  locked_until bigint
);
-- claimDueJobs reads pending jobs by run_at and expired leases by locked_until.
CREATE INDEX jobs_due   ON jobs (run_at)       WHERE state = 'pending';
CREATE INDEX jobs_lease ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_state_created ON jobs (state, created_at);
`,
  },
  {
    version: 2,
    name: "jobs: attempt history, search columns, retention index",
    // See the SQLite migration 4 for why each piece exists.
    sql: `
ALTER TABLE jobs ADD COLUMN trigger_id text;
ALTER TABLE jobs ADD COLUMN identity_id text;
ALTER TABLE jobs ADD COLUMN traceparent text;
CREATE INDEX jobs_trigger  ON jobs (trigger_id)  WHERE trigger_id IS NOT NULL;
CREATE INDEX jobs_identity ON jobs (identity_id) WHERE identity_id IS NOT NULL;
CREATE INDEX jobs_done     ON jobs (updated_at)  WHERE state = 'done';
CREATE INDEX jobs_dead     ON jobs (updated_at)  WHERE state = 'dead';
UPDATE jobs SET last_error = NULL WHERE state = 'done' AND last_error IS NOT NULL;
CREATE TABLE job_attempts (
  job_id      text    NOT NULL,
  n           integer NOT NULL,
  started_at  bigint  NOT NULL,
  duration_ms integer NOT NULL,
  outcome     text    NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
  code        integer,
  detail      text,
  PRIMARY KEY (job_id, n)
);
`,
  },
  {
    version: 3,
    name: "rate limits shared by every worker: one token bucket per limit",
    // claimDueJobsWithin locks, refills and charges a bucket in the claim's transaction. Each claim
    // writes the rate it was configured with: the refill in ON CONFLICT can read the proposed
    // row's columns (EXCLUDED), not the statement's other inputs.
    sql: `
CREATE TABLE rate_limits (
  key     text             PRIMARY KEY,
  rate    double precision NOT NULL,
  tokens  double precision NOT NULL,
  at      bigint           NOT NULL
);
`,
  },
]);
