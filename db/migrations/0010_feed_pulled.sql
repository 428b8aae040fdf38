-- The Following feed's pulled part: a creator whose videos a fan-out job left out of the
-- timelines, because they had more followers than the celebrity threshold when the video was
-- published. Following feeds pull such creators' videos at read time, also after the creator
-- falls back under the threshold, so that those videos stay in their followers' feeds.

ALTER TABLE users ADD COLUMN feed_pulled INTEGER NOT NULL DEFAULT 0; -- 1: some videos are in no timeline
CREATE INDEX users_feed_pulled ON users (feed_pulled) WHERE feed_pulled = 1;
