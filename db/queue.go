package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Job states. A job goes queued → running → done; a failed attempt sends it back to queued
// until its attempts are exhausted, and then to failed.
const (
	JobQueued  = "queued"  // waiting to be claimed once RunAt has passed
	JobRunning = "running" // claimed by Worker until LeaseUntil; claimable again after that
	JobDone    = "done"    // completed
	JobFailed  = "failed"  // gave up: attempts exhausted; LastError says why
)

// Job is one unit of work in the queue.
type Job struct {
	ID          int64
	Kind        string // which workers take it, e.g. "transcode"
	Key         string // idempotency key given to Enqueue, "" if none
	Payload     []byte
	State       string // JobQueued, JobRunning, JobDone or JobFailed
	Attempts    int    // claims so far, the current one included
	MaxAttempts int
	RunAt       time.Time // not claimed before this
	LeaseUntil  time.Time // while running: the worker's claim lasts until then
	Group       string    // jobs of one group share the workers fairly with other groups (EnqueueOptions.Group)
	Worker      string    // worker of the latest claim
	Lease       string    // random token of the latest claim; Heartbeat, Complete and Fail check it
	LastError   string    // reason given to the latest Fail
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Orphaned is set by Claim on a job whose last attempt ended without an outcome: its
	// worker died (killed, out of memory) with no attempts left. The claimer must not run it
	// again; it gets the job only to clean up after the dead attempts (what they published, the
	// state they left) and then to Fail it, which fails it for good, or to Complete it if the
	// work turns out done.
	Orphaned bool
	// TraceParent is EnqueueOptions.TraceParent: the W3C traceparent of the span that queued
	// the job, "" if none.
	TraceParent string
}

// EnqueueOptions tunes Enqueue. The zero value is ready to use.
type EnqueueOptions struct {
	// MaxAttempts bounds how often the job is claimed. Default: 5.
	MaxAttempts int
	// RunAt delays the job until then. Default: now.
	RunAt time.Time
	// Key makes Enqueue idempotent: while a job of the same kind with this key exists,
	// whatever its state, Enqueue returns it instead of adding another. Default: none.
	Key string
	// Group puts the job in a group, e.g. the user it works for: Claim serves first the group
	// with the fewest jobs running, then the one served least recently, so that one group's
	// backlog does not hold the others' jobs (see Claim). Default "": the group of jobs without
	// one.
	Group string
	// TraceParent is the W3C traceparent of the span that queues the job (internal/tracing),
	// for the worker's spans to continue that trace. Default "": none.
	TraceParent string
}

const jobCols = `id, kind, COALESCE(job_key, ''), payload, state, attempts, max_attempts, run_at, lease_until,
	job_group, worker, lease, last_error, created_at, updated_at, trace_parent`

func scanJob(row *sql.Row) (Job, error) {
	var j Job
	var runAt, leaseUntil, created, updated int64
	err := row.Scan(&j.ID, &j.Kind, &j.Key, &j.Payload, &j.State, &j.Attempts, &j.MaxAttempts, &runAt, &leaseUntil,
		&j.Group, &j.Worker, &j.Lease, &j.LastError, &created, &updated, &j.TraceParent)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, ErrNotFound
	}
	if err != nil {
		return Job{}, err
	}
	j.RunAt, j.LeaseUntil, j.CreatedAt, j.UpdatedAt = Time(runAt), Time(leaseUntil), Time(created), Time(updated)
	return j, nil
}

// Enqueue adds a job of this kind. With opts.Key set it returns the existing job of the same
// kind and key, if there is one, unchanged. A new job that is due at once wakes the waiters of
// Enqueued(kind).
func (d *DB) Enqueue(ctx context.Context, kind string, payload []byte, opts EnqueueOptions) (Job, error) {
	if kind == "" {
		return Job{}, errors.New("db: enqueue: empty job kind")
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	now := Millis(d.now())
	runAt := now
	if !opts.RunAt.IsZero() {
		runAt = Millis(opts.RunAt)
	}
	var key any // NULL: no key, never conflicts
	if opts.Key != "" {
		key = opts.Key
	}
	if payload == nil {
		payload = []byte{}
	}
	var j Job
	claimable := false // a new job is due now: wake its waiters once it is committed
	err := d.Tx(ctx, func(tx *sql.Tx) (err error) {
		j, err = scanJob(tx.QueryRowContext(ctx, `INSERT INTO jobs
			(kind, job_key, payload, state, max_attempts, run_at, job_group, created_at, updated_at, trace_parent)
			VALUES ($1, $2, $3, 'queued', $4, $5, $7, $6, $6, $8)
			ON CONFLICT (kind, job_key) DO NOTHING RETURNING `+jobCols,
			kind, key, payload, opts.MaxAttempts, runAt, now, opts.Group, opts.TraceParent))
		if err == nil && runAt <= now {
			claimable = true
			return d.announce(ctx, tx, kind)
		}
		if errors.Is(err, ErrNotFound) && opts.Key != "" { // the key exists
			j, err = scanJob(tx.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE kind = $1 AND job_key = $2`,
				kind, opts.Key))
		}
		return err
	})
	if err != nil {
		return Job{}, fmt.Errorf("db: enqueue %s job: %w", kind, err)
	}
	if claimable {
		d.wake(kind)
	}
	return j, nil
}

// dueJobs selects the claimable jobs of kind $1 at time $2.
const dueJobs = `FROM jobs WHERE kind = $1 AND ((state = 'queued' AND run_at <= $2) OR (state = 'running' AND lease_until <= $2))`

// fairestGroup selects the group that Claim serves among those with jobs of kind $1 due at
// time $2: the fewest jobs running (on a live lease), then the oldest latest claim, then the
// oldest due job.
const fairestGroup = `SELECT job_group ` + dueJobs + ` GROUP BY job_group ORDER BY
	(SELECT COUNT(*) FROM jobs r WHERE r.kind = $1 AND r.job_group = jobs.job_group AND r.state = 'running' AND r.lease_until > $2),
	(SELECT COALESCE(MAX(c.claimed_at), 0) FROM jobs c WHERE c.kind = $1 AND c.job_group = jobs.job_group),
	MIN(run_at)
	LIMIT 1`

// Claim gives worker a due job of this kind for lease: a queued job whose RunAt has passed, or
// a running job whose lease has expired (its worker died). Among the groups with a due job
// (EnqueueOptions.Group) it serves the one with the fewest jobs running, then the one whose
// latest claim is oldest, then the one with the oldest due job; within the group, the oldest
// job. A group with a backlog thus gets its turn, not the whole queue. It counts an attempt and
// sets a fresh Lease token. A running job with an expired lease and no attempts left is given
// with Orphaned set and no attempt counted, for the claimer to clean up after and fail (see
// Job.Orphaned); nothing else fails it, so that the cleanup is never skipped. Claim returns
// ErrNoJob when nothing is due.
func (d *DB) Claim(ctx context.Context, kind, worker string, lease time.Duration) (Job, error) {
	if lease < time.Millisecond {
		return Job{}, fmt.Errorf("db: claim %s job: lease %v is shorter than 1ms", kind, lease)
	}
	// Idle workers poll often: answer them with a plain read, without a write transaction, as
	// two ranges of the (kind, state, run_at) index: with dueJobs' OR, SQLite scans every job
	// of the kind, done ones included (46 ms beside 100,000: BenchmarkClaimIdle).
	var due int
	err := d.sql.QueryRowContext(ctx, `SELECT 1 FROM jobs WHERE kind = $1 AND state = 'queued' AND run_at <= $2
		UNION ALL SELECT 1 FROM jobs WHERE kind = $1 AND state = 'running' AND lease_until <= $2 LIMIT 1`, kind, Millis(d.now())).Scan(&due)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, ErrNoJob
	}
	if err != nil {
		return Job{}, fmt.Errorf("db: claim %s job: %w", kind, err)
	}

	lock := "" // SQLite: the transaction already holds the database's write lock
	if d.dialect == DialectPostgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var j Job
	err = d.Tx(ctx, func(tx *sql.Tx) error {
		now := Millis(d.now())
		var id int64
		var state string
		var attempts, maxAttempts int
		var group string
		err := tx.QueryRowContext(ctx, fairestGroup, kind, now).Scan(&group)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoJob
		}
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `SELECT id, state, attempts, max_attempts `+dueJobs+` AND job_group = $3
			ORDER BY run_at, id LIMIT 1`+lock, kind, now, group).Scan(&id, &state, &attempts, &maxAttempts)
		if errors.Is(err, sql.ErrNoRows) {
			// PostgreSQL: another claimer holds the group's due jobs (SKIP LOCKED); take any.
			err = tx.QueryRowContext(ctx, `SELECT id, state, attempts, max_attempts `+dueJobs+`
				ORDER BY run_at, id LIMIT 1`+lock, kind, now).Scan(&id, &state, &attempts, &maxAttempts)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoJob
		}
		if err != nil {
			return err
		}
		count := 1 // an attempt, unless the job is orphaned
		if state == JobRunning && attempts >= maxAttempts {
			count = 0
		}
		j, err = scanJob(tx.QueryRowContext(ctx, `UPDATE jobs SET state = 'running', attempts = attempts + $6,
			worker = $2, lease = $3, lease_until = $4, updated_at = $5, claimed_at = $5 WHERE id = $1 RETURNING `+jobCols,
			id, worker, rand.Text(), now+lease.Milliseconds(), now, count))
		j.Orphaned = count == 0
		return err
	})
	switch {
	case errors.Is(err, ErrNoJob):
		return Job{}, ErrNoJob
	case err != nil:
		return Job{}, fmt.Errorf("db: claim %s job: %w", kind, err)
	case j.Orphaned:
		d.log.Warn("db: job orphaned: its last attempt's lease expired", "job", j.ID, "kind", kind, "worker", worker)
	}
	return j, nil
}

// Heartbeat extends the lease of a claimed job to lease from now. It returns ErrLeaseLost when
// the job has been claimed again or is no longer running.
func (d *DB) Heartbeat(ctx context.Context, job Job, lease time.Duration) error {
	if lease < time.Millisecond {
		return fmt.Errorf("db: heartbeat job %d: lease %v is shorter than 1ms", job.ID, lease)
	}
	now := Millis(d.now())
	return d.updateLeased(ctx, "heartbeat", job, `UPDATE jobs SET lease_until = $3, updated_at = $4
		WHERE id = $1 AND lease = $2 AND state = 'running'`, job.ID, job.Lease, now+lease.Milliseconds(), now)
}

// Complete marks a claimed job done. It returns ErrLeaseLost when the job has been claimed
// again or is no longer running.
func (d *DB) Complete(ctx context.Context, job Job) error {
	return d.updateLeased(ctx, "complete", job, `UPDATE jobs SET state = 'done', updated_at = $3
		WHERE id = $1 AND lease = $2 AND state = 'running'`, job.ID, job.Lease, Millis(d.now()))
}

// Fail records reason against a claimed job. While attempts are left the job is queued again
// after a backoff (Options.RetryBackoff doubled per attempt, capped at Options.RetryBackoffMax);
// otherwise it becomes failed. It returns ErrLeaseLost when the job has been claimed again or
// is no longer running.
func (d *DB) Fail(ctx context.Context, job Job, reason string) error {
	now := d.now()
	return d.updateLeased(ctx, "fail", job, `UPDATE jobs SET
		state = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,
		run_at = CASE WHEN attempts < max_attempts THEN $3 ELSE run_at END,
		last_error = $4, lease_until = 0, updated_at = $5
		WHERE id = $1 AND lease = $2 AND state = 'running'`,
		job.ID, job.Lease, Millis(now.Add(d.backoff(job.Attempts))), reason, Millis(now))
}

// updateLeased runs an update guarded by the job's lease token; no row updated means the
// lease is lost.
func (d *DB) updateLeased(ctx context.Context, op string, job Job, query string, args ...any) error {
	res, err := d.Exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("db: %s job %d: %w", op, job.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("db: %s job %d: %w", op, job.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("db: %s job %d: %w", op, job.ID, ErrLeaseLost)
	}
	return nil
}

// backoff is the wait before the retry that follows attempt number attempts.
func (d *DB) backoff(attempts int) time.Duration {
	b := d.retryBase
	for i := 1; i < attempts && b < d.retryMax; i++ {
		b *= 2
	}
	return min(b, d.retryMax)
}

// JobByID returns the job with this id, or ErrNotFound.
func (d *DB) JobByID(ctx context.Context, id int64) (Job, error) {
	j, err := scanJob(d.sql.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = $1`, id))
	if err != nil {
		return Job{}, fmt.Errorf("db: job %d: %w", id, err)
	}
	return j, nil
}
