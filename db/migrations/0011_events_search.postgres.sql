-- The checkpoints of the events' subscribers, and search's full-text index of the videos
-- (PostgreSQL: a tsvector per video; the SQLite variant of this version is
-- 0011_events_search.sqlite.sql).

-- Each subscriber of the events (feed.Events) has handled every event up to last_id; it
-- moves in the transaction of what the subscriber did with them.
CREATE TABLE event_subscribers (
    name       TEXT PRIMARY KEY,
    last_id    BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);

-- One document per video: its caption and hashtags (weight A) and its creator's handle (B),
-- whatever its status and visibility (search filters those by joining videos). The 'simple'
-- configuration lowercases without stemming, as SQLite's unicode61 tokenizer does.
CREATE TABLE video_search (
    video_id TEXT PRIMARY KEY REFERENCES videos (id) ON DELETE CASCADE,
    doc      tsvector NOT NULL
);
CREATE INDEX video_search_doc ON video_search USING GIN (doc);

-- video_search_refresh writes the document of video vid again from the tables; nothing for a
-- video that is gone.
CREATE FUNCTION video_search_refresh(vid TEXT) RETURNS void LANGUAGE sql AS $$
    INSERT INTO video_search (video_id, doc)
    SELECT v.id, setweight(to_tsvector('simple', v.caption), 'A')
        || setweight(to_tsvector('simple', COALESCE((SELECT string_agg(h.tag, ' ') FROM video_hashtags h WHERE h.video_id = v.id), '')), 'A')
        || setweight(to_tsvector('simple', u.handle), 'B')
    FROM videos v JOIN users u ON u.id = v.user_id WHERE v.id = vid
    ON CONFLICT (video_id) DO UPDATE SET doc = EXCLUDED.doc
$$;

SELECT video_search_refresh(id) FROM videos;

-- The triggers keep the documents current; a deleted video's goes by the foreign key.
CREATE FUNCTION video_search_video() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM video_search_refresh(NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER video_search_video AFTER INSERT OR UPDATE OF caption, user_id ON videos
    FOR EACH ROW EXECUTE FUNCTION video_search_video();

CREATE FUNCTION video_search_tag() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM video_search_refresh(OLD.video_id);
    ELSE
        PERFORM video_search_refresh(NEW.video_id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER video_search_tag AFTER INSERT OR DELETE ON video_hashtags
    FOR EACH ROW EXECUTE FUNCTION video_search_tag();

CREATE FUNCTION video_search_handle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM video_search_refresh(v.id) FROM videos v WHERE v.user_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER video_search_handle AFTER UPDATE OF handle ON users
    FOR EACH ROW WHEN (OLD.handle IS DISTINCT FROM NEW.handle) EXECUTE FUNCTION video_search_handle();

-- Users by handle and display name: an expression index, which search's query repeats.
CREATE INDEX users_search ON users USING GIN (to_tsvector('simple', handle || ' ' || display_name));
