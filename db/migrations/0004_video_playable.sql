-- When a processing video first became playable: the transcoder publishes it progressively,
-- long before it is ready. NULL while it is not (or no longer) playable. Unix milliseconds.

ALTER TABLE videos ADD COLUMN playable_at BIGINT;
