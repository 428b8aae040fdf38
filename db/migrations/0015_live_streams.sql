-- The live streams (live.Directory): one row per WHIP session once it is answered, written by
-- the node that takes it, read by every feed node (a stream is live while its node beats and
-- it has not ended) and, after a crash, by that node again to hand the session's recording to
-- the pipeline. Times are unix milliseconds (UTC).

CREATE TABLE live_streams (
    id           TEXT PRIMARY KEY,             -- the stream's id, also its recording's video id
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    playback_url TEXT NOT NULL,                -- its multivariant playlist
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,              -- the node's last sign of life for it
    ended_at     BIGINT NOT NULL DEFAULT 0,    -- 0 while it is on
    recording    TEXT NOT NULL DEFAULT '',     -- its recording's file on its node; '' for none
    handed_at    BIGINT NOT NULL DEFAULT 0     -- when the recording was handed over (or dropped)
);
CREATE INDEX live_streams_on ON live_streams (ended_at, heartbeat_at);
CREATE INDEX live_streams_unhanded ON live_streams (handed_at) WHERE handed_at = 0;
