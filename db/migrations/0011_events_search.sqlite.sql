-- The checkpoints of the events' subscribers, and search's full-text index of the videos
-- (SQLite: FTS5; the PostgreSQL variant of this version is 0011_events_search.postgres.sql).

-- Each subscriber of the events (feed.Events) has handled every event up to last_id; it
-- moves in the transaction of what the subscriber did with them.
CREATE TABLE event_subscribers (
    name       TEXT PRIMARY KEY,
    last_id    BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);

-- One document per video: its caption, hashtags and creator's handle, whatever its status
-- and visibility (search filters those by joining videos). A video's document has a stable
-- rowid of its own (doc), since the rowid of videos, whose key is text, may change on VACUUM.
CREATE TABLE search_docs (
    doc      INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id TEXT NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE video_search USING fts5 (caption, hashtags, handle);

INSERT INTO search_docs (video_id) SELECT id FROM videos ORDER BY created_at, id;
INSERT INTO video_search (rowid, caption, hashtags, handle)
    SELECT d.doc, v.caption, COALESCE((SELECT group_concat(tag, ' ') FROM video_hashtags h WHERE h.video_id = v.id), ''), u.handle
    FROM search_docs d JOIN videos v ON v.id = d.video_id JOIN users u ON u.id = v.user_id;

-- The triggers keep the documents current: each change deletes a video's document and
-- writes it again from the tables.
CREATE TRIGGER video_search_insert AFTER INSERT ON videos BEGIN
    INSERT INTO search_docs (video_id) VALUES (new.id);
    INSERT INTO video_search (rowid, caption, hashtags, handle)
        SELECT d.doc, new.caption, '', u.handle FROM search_docs d, users u WHERE d.video_id = new.id AND u.id = new.user_id;
END;

CREATE TRIGGER video_search_update AFTER UPDATE OF caption, user_id ON videos BEGIN
    DELETE FROM video_search WHERE rowid = (SELECT doc FROM search_docs WHERE video_id = new.id);
    INSERT INTO video_search (rowid, caption, hashtags, handle)
        SELECT d.doc, new.caption, COALESCE((SELECT group_concat(tag, ' ') FROM video_hashtags h WHERE h.video_id = new.id), ''), u.handle
        FROM search_docs d, users u WHERE d.video_id = new.id AND u.id = new.user_id;
END;

CREATE TRIGGER video_search_delete AFTER DELETE ON videos BEGIN
    DELETE FROM video_search WHERE rowid = (SELECT doc FROM search_docs WHERE video_id = old.id);
    DELETE FROM search_docs WHERE video_id = old.id;
END;

CREATE TRIGGER video_search_tag_insert AFTER INSERT ON video_hashtags BEGIN
    DELETE FROM video_search WHERE rowid = (SELECT doc FROM search_docs WHERE video_id = new.video_id);
    INSERT INTO video_search (rowid, caption, hashtags, handle)
        SELECT d.doc, v.caption, COALESCE((SELECT group_concat(tag, ' ') FROM video_hashtags h WHERE h.video_id = v.id), ''), u.handle
        FROM search_docs d JOIN videos v ON v.id = d.video_id JOIN users u ON u.id = v.user_id WHERE d.video_id = new.video_id;
END;

CREATE TRIGGER video_search_tag_delete AFTER DELETE ON video_hashtags BEGIN
    DELETE FROM video_search WHERE rowid = (SELECT doc FROM search_docs WHERE video_id = old.video_id);
    INSERT INTO video_search (rowid, caption, hashtags, handle)
        SELECT d.doc, v.caption, COALESCE((SELECT group_concat(tag, ' ') FROM video_hashtags h WHERE h.video_id = v.id), ''), u.handle
        FROM search_docs d JOIN videos v ON v.id = d.video_id JOIN users u ON u.id = v.user_id WHERE d.video_id = old.video_id;
END;

CREATE TRIGGER video_search_handle AFTER UPDATE OF handle ON users BEGIN
    DELETE FROM video_search WHERE rowid IN (SELECT d.doc FROM search_docs d JOIN videos v ON v.id = d.video_id WHERE v.user_id = new.id);
    INSERT INTO video_search (rowid, caption, hashtags, handle)
        SELECT d.doc, v.caption, COALESCE((SELECT group_concat(tag, ' ') FROM video_hashtags h WHERE h.video_id = v.id), ''), new.handle
        FROM search_docs d JOIN videos v ON v.id = d.video_id WHERE v.user_id = new.id;
END;

-- Users by handle and display name; a user's document is its id's rowid.
CREATE VIRTUAL TABLE user_search USING fts5 (handle, display_name);
INSERT INTO user_search (rowid, handle, display_name) SELECT id, handle, display_name FROM users;

CREATE TRIGGER user_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO user_search (rowid, handle, display_name) VALUES (new.id, new.handle, new.display_name);
END;

CREATE TRIGGER user_search_update AFTER UPDATE OF handle, display_name ON users BEGIN
    DELETE FROM user_search WHERE rowid = old.id;
    INSERT INTO user_search (rowid, handle, display_name) VALUES (new.id, new.handle, new.display_name);
END;

CREATE TRIGGER user_search_delete AFTER DELETE ON users BEGIN
    DELETE FROM user_search WHERE rowid = old.id;
END;
