-- Resumable (tus) uploads: the state of each upload; its bytes are staged in ingest's directory.
-- Times are unix milliseconds (UTC).

CREATE TABLE uploads (
    id            TEXT PRIMARY KEY,             -- also the id of the video it becomes
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    upload_length BIGINT,                       -- total bytes; NULL while deferred
    upload_offset BIGINT NOT NULL DEFAULT 0,    -- bytes received and stored
    metadata      TEXT NOT NULL DEFAULT '',     -- the Upload-Metadata header as received
    state         TEXT NOT NULL,                -- receiving | finished | complete | rejected | expired | terminated
    reason_code   TEXT NOT NULL DEFAULT '',     -- why it was rejected
    reason        TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL               -- while receiving: removed after this
);
CREATE INDEX uploads_user_id ON uploads (user_id);
CREATE INDEX uploads_state_expires ON uploads (state, expires_at);
CREATE INDEX uploads_state_updated ON uploads (state, updated_at);
