-- The rendition a play or progress event was played in (the player's current level, such as
-- 720p), when the player says: the next-swipe prefetch warms that rendition of the videos the
-- viewer is about to swipe to. '' when the player did not say.

ALTER TABLE events ADD COLUMN rendition TEXT NOT NULL DEFAULT '';
