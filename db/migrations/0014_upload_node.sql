-- The API node whose staging directory holds an upload's bytes (ingest.Config.NodeURL): the
-- other nodes pass the upload's requests to it, and only it hands the upload over. '' on a
-- single node.

ALTER TABLE uploads ADD COLUMN node TEXT NOT NULL DEFAULT '';
