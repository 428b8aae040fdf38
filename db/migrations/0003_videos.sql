-- Videos: one row per upload handed to the pipeline, from processing to ready or failed.
-- Times are unix milliseconds (UTC).

CREATE TABLE videos (
    id           TEXT PRIMARY KEY,              -- the upload id
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status       TEXT NOT NULL,                 -- processing | ready | failed
    progress     INTEGER NOT NULL DEFAULT 0,    -- 0-100 while processing
    error_code   TEXT NOT NULL DEFAULT '',
    error        TEXT NOT NULL DEFAULT '',
    caption      TEXT NOT NULL DEFAULT '',
    visibility   TEXT NOT NULL DEFAULT 'public', -- public | unlisted | private
    filename     TEXT NOT NULL DEFAULT '',
    source_size  BIGINT NOT NULL DEFAULT 0,
    duration_ms  BIGINT NOT NULL DEFAULT 0,
    width        INTEGER NOT NULL DEFAULT 0,
    height       INTEGER NOT NULL DEFAULT 0,
    renditions   TEXT NOT NULL DEFAULT '[]',    -- JSON array of the published renditions
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    published_at BIGINT                         -- when it became ready
);
CREATE INDEX videos_user_created ON videos (user_id, created_at);
CREATE INDEX videos_status_published ON videos (status, published_at);

CREATE TABLE video_hashtags (
    video_id TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    tag      TEXT NOT NULL,
    PRIMARY KEY (video_id, tag)
);
CREATE INDEX video_hashtags_tag ON video_hashtags (tag);
