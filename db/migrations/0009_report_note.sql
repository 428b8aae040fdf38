-- A reporter's optional note to the moderators (POST /v1/videos/{id}/reports), at most 500
-- characters. videos.hidden, for the record: 0 shown, 1 hidden by reports until an admin
-- resolves them, 2 removed by moderation (POST /v1/admin/reports/{id}/resolve "remove").
ALTER TABLE reports ADD COLUMN note TEXT NOT NULL DEFAULT '';
