-- Rebuilds (issue 12). Portable like 0001: TEXT and BIGINT, ids made by
-- the server.

-- Each build of a repo gets the repo's next number when it is queued (a
-- coalesced build keeps its number); a successful build is tagged
-- `build-<number>` for good. Counted in `repos` so that retention, which
-- deletes old builds, never makes a number come round again.
ALTER TABLE repos ADD COLUMN builds_made BIGINT NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN number BIGINT;

-- What the update watcher last saw of each input (a repository index of
-- one architecture, or a source image): the content fingerprint, the HTTP
-- validators for the next conditional GET, and the failure streak that
-- sets its backoff. In the database so that a new leader (PostgreSQL
-- scale-out) carries on where the old one stopped.
CREATE TABLE watch_inputs (
    input         TEXT PRIMARY KEY,
    fingerprint   TEXT,
    etag          TEXT,
    last_modified TEXT,
    failures      BIGINT NOT NULL,
    last_error    TEXT,
    checked_at    BIGINT NOT NULL,
    next_check_at BIGINT NOT NULL
);

-- Webhook deliveries: one row per (build, URL), kept with their outcome
-- so that failed deliveries can be listed; a delivery never blocks a build.
CREATE TABLE notifications (
    id           TEXT PRIMARY KEY,
    build_id     TEXT NOT NULL,
    org          TEXT NOT NULL,
    url          TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    state        TEXT NOT NULL,
    attempts     BIGINT NOT NULL,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX notifications_by_build ON notifications (build_id);
