package pipeline

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/video"
)

// Bounds of Status.
const (
	statusRunning  = 50        // running jobs listed
	statusFailures = 10        // failed videos listed
	statusPlayable = 200       // latest playable videos measured
	statusWindow   = time.Hour // how far back time to playable looks
)

// Status is where the transcode pipeline stands, for the operator dashboard: the queue, what
// runs, what failed, and how long videos take to become playable. It is read from the
// database, so any process with the database tells it, whether or not it runs workers.
type Status struct {
	At time.Time `json:"at"`
	// Queued counts the transcode jobs waiting for a worker now (due, or on a dead worker's
	// expired lease); OldestWaitSeconds is how long the oldest of them has waited.
	Queued            int     `json:"queued"`
	OldestWaitSeconds float64 `json:"oldest_wait_seconds"`
	// Retrying counts the jobs waiting for a retry after a failed attempt (not due yet).
	Retrying int          `json:"retrying"`
	Running  []RunningJob `json:"running"`
	Failures []Failure    `json:"failures"` // the latest failed videos, newest first
	// TimeToPlayable is, over the latest 200 videos that became playable in the last hour, the
	// time from the upload's acceptance to playable (published progressively, or else
	// ready); TimeToReady to ready, over those of them that are.
	TimeToPlayable Durations `json:"time_to_playable"`
	TimeToReady    Durations `json:"time_to_ready"`
}

// RunningJob is a transcode job that a worker holds.
type RunningJob struct {
	Video       string    `json:"video"`
	Caption     string    `json:"caption"`
	Worker      string    `json:"worker"`
	Attempt     int       `json:"attempt"`
	MaxAttempts int       `json:"max_attempts"`
	Started     time.Time `json:"started"`  // the claim
	Progress    int       `json:"progress"` // percent, as the video's status tells it
	Playable    bool      `json:"playable"`
}

// Failure is a video that failed, with its reason.
type Failure struct {
	Video  string    `json:"video"`
	Code   string    `json:"code"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Durations summarizes a set of durations, in seconds; all 0 when Count is 0.
type Durations struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	Max   float64 `json:"max"`
	Last  float64 `json:"last"` // of the latest video
}

// ReadStatus reads the pipeline's Status from d.
func ReadStatus(ctx context.Context, d *db.DB) (Status, error) {
	now := time.Now()
	st := Status{At: now, Running: []RunningJob{}, Failures: []Failure{}}
	b, err := d.Backlog(ctx, JobKind)
	if err != nil {
		return Status{}, err
	}
	st.Queued = b.Due
	if b.Due > 0 {
		st.OldestWaitSeconds = max(0, now.Sub(b.Oldest).Seconds())
	}
	q := d.SQL()
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE kind = $1 AND state = 'queued' AND run_at > $2`,
		JobKind, db.Millis(now)).Scan(&st.Retrying); err != nil {
		return Status{}, fmt.Errorf("pipeline: status: %w", err)
	}

	rows, err := q.QueryContext(ctx, `SELECT COALESCE(j.job_key, ''), COALESCE(v.caption, ''), j.worker, j.attempts, j.max_attempts,
		j.claimed_at, COALESCE(v.progress, 0), v.playable_at IS NOT NULL
		FROM jobs j LEFT JOIN videos v ON v.id = j.job_key
		WHERE j.kind = $1 AND j.state = 'running' AND j.lease_until > $2 ORDER BY j.claimed_at, j.id LIMIT $3`,
		JobKind, db.Millis(now), statusRunning)
	if err != nil {
		return Status{}, fmt.Errorf("pipeline: status: running jobs: %w", err)
	}
	err = scanAll(rows, func(rows *sql.Rows) error {
		var r RunningJob
		var claimed int64
		err := rows.Scan(&r.Video, &r.Caption, &r.Worker, &r.Attempt, &r.MaxAttempts, &claimed, &r.Progress, &r.Playable)
		r.Started = db.Time(claimed)
		st.Running = append(st.Running, r)
		return err
	})
	if err != nil {
		return Status{}, fmt.Errorf("pipeline: status: running jobs: %w", err)
	}

	rows, err = q.QueryContext(ctx, `SELECT id, error_code, error, updated_at FROM videos WHERE status = $1
		ORDER BY updated_at DESC, id LIMIT $2`, video.Failed, statusFailures)
	if err != nil {
		return Status{}, fmt.Errorf("pipeline: status: failures: %w", err)
	}
	err = scanAll(rows, func(rows *sql.Rows) error {
		var f Failure
		var at int64
		err := rows.Scan(&f.Video, &f.Code, &f.Reason, &at)
		f.At = db.Time(at)
		st.Failures = append(st.Failures, f)
		return err
	})
	if err != nil {
		return Status{}, fmt.Errorf("pipeline: status: failures: %w", err)
	}

	// Ready videos, through the index on (status, published_at), became playable when they
	// were published progressively (playable_at), or else when ready (a short one); processing
	// ones that are playable are few.
	rows, err = q.QueryContext(ctx, `SELECT COALESCE(playable_at, published_at), created_at, published_at FROM videos
		WHERE status = $1 AND published_at >= $3
		UNION ALL
		SELECT playable_at, created_at, NULL FROM videos WHERE status = $2 AND playable_at >= $3`,
		video.Ready, video.Processing, db.Millis(now.Add(-statusWindow)))
	if err != nil {
		return Status{}, fmt.Errorf("pipeline: status: time to playable: %w", err)
	}
	type made struct {
		playableAt, created int64
		readyAt             sql.NullInt64
	}
	var ms []made
	err = scanAll(rows, func(rows *sql.Rows) error {
		var m made
		err := rows.Scan(&m.playableAt, &m.created, &m.readyAt)
		ms = append(ms, m)
		return err
	})
	if err != nil {
		return Status{}, fmt.Errorf("pipeline: status: time to playable: %w", err)
	}
	slices.SortFunc(ms, func(a, b made) int { return cmp.Compare(b.playableAt, a.playableAt) }) // latest first
	var playable, ready []float64
	for _, m := range ms[:min(len(ms), statusPlayable)] {
		playable = append(playable, float64(m.playableAt-m.created)/1000)
		if m.readyAt.Valid {
			ready = append(ready, float64(m.readyAt.Int64-m.created)/1000)
		}
	}
	st.TimeToPlayable, st.TimeToReady = summarize(playable), summarize(ready)
	return st, nil
}

// scanAll calls scan for each of rows, and closes them.
func scanAll(rows *sql.Rows, scan func(*sql.Rows) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// summarize returns the Durations of ds, latest first.
func summarize(ds []float64) Durations {
	if len(ds) == 0 {
		return Durations{}
	}
	out := Durations{Count: len(ds), Last: ds[0]}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) float64 { return s[min(len(s)-1, int(q*float64(len(s))))] }
	out.P50, out.P90, out.Max = at(0.5), at(0.9), s[len(s)-1]
	return out
}
