-- The feed and social service: profiles, counts, follows, likes, comments, blocks, reports,
-- the Following feed's pushed timelines, and the events players send. Times are unix
-- milliseconds (UTC). Counters are kept in the same transaction as the rows they count.

ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN bio TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN avatar TEXT NOT NULL DEFAULT '';         -- store key of the square thumbnail; '' for none
ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;        -- 1: a moderator (reports); see `reelay admin`
ALTER TABLE users ADD COLUMN follower_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN following_count BIGINT NOT NULL DEFAULT 0;

ALTER TABLE videos ADD COLUMN view_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN like_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN comment_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN share_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE videos ADD COLUMN report_count BIGINT NOT NULL DEFAULT 0; -- distinct reporters not yet resolved
ALTER TABLE videos ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;      -- 1: hidden from feeds by reports until an admin resolves them
CREATE INDEX videos_user_published ON videos (user_id, published_at);

CREATE TABLE follows (
    follower_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX follows_followee ON follows (followee_id, created_at);
CREATE INDEX follows_follower_created ON follows (follower_id, created_at);

CREATE TABLE likes (
    video_id   TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (video_id, user_id)
);
CREATE INDEX likes_user ON likes (user_id, created_at);

CREATE TABLE comments (
    id         {{ID}},
    video_id   TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX comments_video ON comments (video_id, id);

CREATE TABLE blocks (
    blocker_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);
CREATE INDEX blocks_blocked ON blocks (blocked_id);

CREATE TABLE reports (
    id          {{ID}},
    video_id    TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    resolved_at BIGINT,                           -- NULL while open
    resolution  TEXT NOT NULL DEFAULT '',         -- keep | remove
    UNIQUE (video_id, user_id)
);
CREATE INDEX reports_open ON reports (resolved_at, id);

-- The Following feed's pushed part: one row per follower and video of a creator at or under
-- the celebrity threshold when the video was published (feed's fan-out jobs write them).
CREATE TABLE timelines (
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    video_id     TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    creator_id   BIGINT NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, video_id)
);
CREATE INDEX timelines_user_published ON timelines (user_id, published_at, video_id);

-- What players report (POST /v1/events). Rows are only appended: subscribers (view counts,
-- the recommender) tail the table by id.
CREATE TABLE events (
    id         {{ID}},
    user_id    BIGINT NOT NULL DEFAULT 0,          -- 0 for a visitor without a token
    visitor    TEXT NOT NULL DEFAULT '',           -- a visitor's id, when user_id is 0
    video_id   TEXT NOT NULL,
    type       TEXT NOT NULL,                      -- impression, play, progress, complete, skip, like, share, follow, not_interested
    watch_ms   BIGINT NOT NULL DEFAULT 0,
    position   BIGINT NOT NULL DEFAULT 0,          -- the item's position in the feed page
    at         BIGINT NOT NULL,                    -- when the player says it happened
    created_at BIGINT NOT NULL                     -- when it was received
);
CREATE INDEX events_user_video ON events (user_id, video_id);
