-- The generation of a video's published presentation (internal/layout): every transcode
-- attempt packages under a directory of its own, and master.m3u8 names the current one.
-- '' for a video not yet published, or published before generations.

ALTER TABLE videos ADD COLUMN generation TEXT NOT NULL DEFAULT '';
