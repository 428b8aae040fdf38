-- Fair scheduling between groups of jobs (for transcodes, their creators): Claim serves the
-- group with the fewest jobs running, then the one served least recently.

ALTER TABLE jobs ADD COLUMN job_group TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN claimed_at BIGINT NOT NULL DEFAULT 0; -- the latest claim, unix ms
CREATE INDEX jobs_group_state ON jobs (kind, job_group, state);
CREATE INDEX jobs_group_claimed ON jobs (kind, job_group, claimed_at);
