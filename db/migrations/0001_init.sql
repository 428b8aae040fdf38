-- Users, their bearer tokens, and the job queue.
-- {{ID}} and {{BYTES}} are replaced per dialect; times are unix milliseconds (UTC).

CREATE TABLE users (
    id            {{ID}},
    handle        TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE tokens (
    hash       {{BYTES}} PRIMARY KEY, -- sha256 of the token
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT                 -- NULL: never expires
);
CREATE INDEX tokens_user_id ON tokens (user_id);

CREATE TABLE jobs (
    id           {{ID}},
    kind         TEXT NOT NULL,
    job_key      TEXT,                           -- idempotency key, NULL when none
    payload      {{BYTES}} NOT NULL,
    state        TEXT NOT NULL,                  -- queued | running | done | failed
    attempts     INTEGER NOT NULL DEFAULT 0,     -- claims so far
    max_attempts INTEGER NOT NULL,
    run_at       BIGINT NOT NULL,                -- not claimable before
    lease_until  BIGINT NOT NULL DEFAULT 0,      -- while running: reclaimable after
    worker       TEXT NOT NULL DEFAULT '',
    lease        TEXT NOT NULL DEFAULT '',       -- token of the current claim
    last_error   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (kind, job_key)
);
CREATE INDEX jobs_due ON jobs (kind, state, run_at);
