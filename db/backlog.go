package db

import (
	"context"
	"fmt"
	"time"
)

// Backlog is the work of one kind of job that waits for a worker: what Claim would give out
// now. Monitoring reads it (reelay_jobs_queued, reelay_jobs_oldest_age_seconds): a backlog
// that grows, or whose oldest job keeps waiting, means too few workers, or none alive.
type Backlog struct {
	// Due counts the jobs claimable now: queued ones whose RunAt has passed, and running ones
	// whose lease expired (their worker died). Jobs waiting for a later RunAt (a retry's
	// backoff) are not due yet and not counted.
	Due int
	// Oldest is when the job that has waited longest became claimable: its RunAt, or the end
	// of its expired lease. Zero when Due is 0.
	Oldest time.Time
}

// Backlog returns the due jobs of kind. It reads the queue's index on (kind, state, run_at)
// in two ranges, the queued jobs due and the running ones, so that its cost grows with the jobs
// that wait or run, not with the jobs done: it runs on every scrape.
func (d *DB) Backlog(ctx context.Context, kind string) (Backlog, error) {
	rows, err := d.sql.QueryContext(ctx, `
		SELECT COUNT(*), COALESCE(MIN(run_at), 0) FROM jobs WHERE kind = $1 AND state = 'queued' AND run_at <= $2
		UNION ALL
		SELECT COUNT(*), COALESCE(MIN(lease_until), 0) FROM jobs WHERE kind = $1 AND state = 'running' AND lease_until <= $2`,
		kind, Millis(d.now()))
	if err != nil {
		return Backlog{}, fmt.Errorf("db: backlog of %s jobs: %w", kind, err)
	}
	defer rows.Close()
	var b Backlog
	for rows.Next() {
		var due, oldest int64
		if err := rows.Scan(&due, &oldest); err != nil {
			return Backlog{}, fmt.Errorf("db: backlog of %s jobs: %w", kind, err)
		}
		if due == 0 {
			continue
		}
		if t := Time(oldest); b.Due == 0 || t.Before(b.Oldest) {
			b.Oldest = t
		}
		b.Due += int(due)
	}
	if err := rows.Err(); err != nil {
		return Backlog{}, fmt.Errorf("db: backlog of %s jobs: %w", kind, err)
	}
	return b, nil
}
