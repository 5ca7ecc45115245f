-- The service's schema. Portable between SQLite and PostgreSQL on purpose:
-- TEXT and BIGINT only (times are Unix milliseconds, JSON is TEXT), ids are
-- made by the server (no AUTOINCREMENT/SERIAL), and the queue's invariants
-- are partial unique indexes, which both databases enforce.

CREATE TABLE orgs (
    name       TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- A token is found by its public id; only the SHA-256 of the whole token
-- is kept. Names are unique among an organization's live tokens.
CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    org         TEXT NOT NULL,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT
);
CREATE UNIQUE INDEX tokens_live_name ON tokens (org, name) WHERE revoked_at IS NULL;

CREATE TABLE repos (
    org        TEXT NOT NULL,
    name       TEXT NOT NULL,
    config     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org, name)
);

-- Builds are the queue: a row per build, with a state and a lease.
CREATE TABLE builds (
    id               TEXT PRIMARY KEY,
    org              TEXT NOT NULL,
    repo             TEXT NOT NULL,
    trigger_kind     TEXT NOT NULL,
    state            TEXT NOT NULL,
    config           TEXT NOT NULL,
    locked_config    TEXT,
    warnings         TEXT NOT NULL,
    digests          TEXT NOT NULL,
    pushed           TEXT NOT NULL,
    changes          TEXT NOT NULL,
    error            TEXT,
    attempts         BIGINT NOT NULL,
    worker           TEXT,
    lease_expires_at BIGINT,
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    completed_at     BIGINT
);
CREATE INDEX builds_by_org_time ON builds (org, created_at);
CREATE INDEX builds_by_repo_time ON builds (org, repo, created_at);
CREATE INDEX builds_by_state ON builds (state, created_at);
-- Newer builds of a repo coalesce into the one queued build...
CREATE UNIQUE INDEX builds_one_queued_per_repo ON builds (org, repo) WHERE state = 'queued';
-- ...and a repo never has two running builds.
CREATE UNIQUE INDEX builds_one_running_per_repo ON builds (org, repo) WHERE state = 'running';

-- Build logs in chunks, so that a follower reads only what is new and any
-- server sharing the database can serve them.
CREATE TABLE build_logs (
    build_id TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    text     TEXT NOT NULL,
    PRIMARY KEY (build_id, seq)
);

-- Every mutating call: who, what, when, and how it ended.
CREATE TABLE audit (
    id      TEXT PRIMARY KEY,
    at      BIGINT NOT NULL,
    org     TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail  TEXT
);
CREATE INDEX audit_by_org_time ON audit (org, at);
