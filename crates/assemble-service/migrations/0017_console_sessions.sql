-- Web console sign-ins (issue 17). A session is found by the SHA-256 of its
-- cookie, never the cookie itself; it acts as the token it was opened with,
-- so revoking or expiring that token ends the session too.
CREATE TABLE console_sessions (
    secret_hash TEXT PRIMARY KEY,
    token_id    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX console_sessions_token ON console_sessions (token_id);
