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

// Backlog returns the due jobs of kind. It reads with the predicate and the index that Claim
// uses, so it costs what an idle worker's poll costs.
func (d *DB) Backlog(ctx context.Context, kind string) (Backlog, error) {
	var due, oldest int64
	err := d.sql.QueryRowContext(ctx, `SELECT COUNT(*),
		COALESCE(MIN(CASE WHEN state = 'queued' THEN run_at ELSE lease_until END), 0) `+dueJobs,
		kind, Millis(d.now())).Scan(&due, &oldest)
	if err != nil {
		return Backlog{}, fmt.Errorf("db: backlog of %s jobs: %w", kind, err)
	}
	b := Backlog{Due: int(due)}
	if due > 0 {
		b.Oldest = Time(oldest)
	}
	return b, nil
}
