package pipeline

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/video"
)

// videos is the pipeline's side of the videos table: it creates a video when its upload is
// accepted and records where the making of it stands. The feed reads the same rows.
type videos struct {
	d   *db.DB
	now func() time.Time
}

// newVideo is a video as its accepted upload describes it.
type newVideo struct {
	ID         string
	UserID     int64
	Caption    string
	Visibility video.Visibility
	Filename   string
	SourceSize int64
	Duration   time.Duration // as probed; the transcode records the exact one
}

// create inserts v as processing, with the hashtags of its caption. Creating a video whose id
// exists already changes nothing, so that a repeated hand-over is harmless.
func (s *videos) create(ctx context.Context, v newVideo) error {
	now := db.Millis(s.now())
	err := s.d.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO videos (id, user_id, status, caption, visibility, filename,
			source_size, duration_ms, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $9, $8, $8)
			ON CONFLICT (id) DO NOTHING`,
			v.ID, v.UserID, video.Processing, v.Caption, v.Visibility, v.Filename, v.SourceSize, now, v.Duration.Milliseconds())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // already created by an earlier attempt
		}
		for _, tag := range video.Hashtags(v.Caption) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO video_hashtags (video_id, tag) VALUES ($1, $2)
				ON CONFLICT DO NOTHING`, v.ID, tag); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pipeline: create video %s: %w", v.ID, err)
	}
	return nil
}

// state is what a worker needs to know of a video before it makes it.
type state struct {
	Status     video.Status
	Visibility video.Visibility
	Duration   time.Duration // as probed when the video was accepted, until it is ready
}

// state returns video id's status, visibility and duration, or db.ErrNotFound.
func (s *videos) state(ctx context.Context, id string) (state, error) {
	var st state
	var ms int64
	err := s.d.SQL().QueryRowContext(ctx, `SELECT status, visibility, duration_ms FROM videos WHERE id = $1`, id).
		Scan(&st.Status, &st.Visibility, &ms)
	st.Duration = time.Duration(ms) * time.Millisecond
	if errors.Is(err, sql.ErrNoRows) {
		err = db.ErrNotFound
	}
	if err != nil {
		return state{}, fmt.Errorf("pipeline: video %s: %w", id, err)
	}
	return st, nil
}

// setProgress records the progress of a processing video. It never goes back: when a job is
// retried, or taken over from a dead worker, the new attempt starts from 0 and the progress
// the status API shows pauses until the attempt passes it.
func (s *videos) setProgress(ctx context.Context, id string, progress int) error {
	_, err := s.d.Exec(ctx, `UPDATE videos SET progress = $2, updated_at = $3 WHERE id = $1 AND status = $4 AND progress < $2`,
		id, min(max(progress, 0), 100), db.Millis(s.now()), video.Processing)
	if err != nil {
		return fmt.Errorf("pipeline: video %s progress: %w", id, err)
	}
	return nil
}

// setPlayable records that a processing video has become playable (its presentation was
// published progressively), keeping the first time; with playable false, that it no longer is
// (its publication was withdrawn, to be tried again).
func (s *videos) setPlayable(ctx context.Context, id string, playable bool) error {
	q := `UPDATE videos SET playable_at = COALESCE(playable_at, $2), updated_at = $2 WHERE id = $1 AND status = $3`
	if !playable {
		q = `UPDATE videos SET playable_at = NULL, updated_at = $2 WHERE id = $1 AND status = $3`
	}
	if _, err := s.d.Exec(ctx, q, id, db.Millis(s.now()), video.Processing); err != nil {
		return fmt.Errorf("pipeline: video %s playable: %w", id, err)
	}
	return nil
}

// published is what the pipeline learned of a video it published.
type published struct {
	Generation    string
	Duration      time.Duration
	Width, Height int
	Renditions    []video.Rendition
}

// setReady marks a video ready with what was published. A video already ready is updated again
// (a repeated run of the pipeline publishes the same objects).
func (s *videos) setReady(ctx context.Context, id string, p published) error {
	renditions, err := json.Marshal(p.Renditions)
	if err != nil {
		return fmt.Errorf("pipeline: video %s ready: %w", id, err)
	}
	now := db.Millis(s.now())
	res, err := s.d.Exec(ctx, `UPDATE videos SET status = $7, progress = 100, error_code = '', error = '',
		duration_ms = $2, width = $3, height = $4, renditions = $5, updated_at = $6,
		published_at = COALESCE(published_at, $6), generation = $9 WHERE id = $1 AND status IN ($7, $8)`,
		id, p.Duration.Milliseconds(), p.Width, p.Height, string(renditions), now, video.Ready, video.Processing,
		p.Generation)
	return s.checkUpdate(ctx, res, err, id, "ready")
}

// queueFanout queues the feed's fan-out of video id (video.FanoutJob), which pushes it into its
// creator's followers' timelines. It runs right after setReady, not in its transaction (Enqueue
// has its own), and is idempotent: one job per video, whatever the number of calls, so an
// attempt that finds the video ready calls it again in case the one that made it died in
// between.
func (s *videos) queueFanout(ctx context.Context, id string) error {
	if _, err := s.d.Enqueue(ctx, video.FanoutJob, []byte(id), db.EnqueueOptions{Key: id}); err != nil {
		return fmt.Errorf("pipeline: video %s fan-out: %w", id, err)
	}
	return nil
}

// setFailed marks a processing video failed, and no longer playable, with a reason: code for
// machines, reason for people.
func (s *videos) setFailed(ctx context.Context, id, code, reason string) error {
	res, err := s.d.Exec(ctx, `UPDATE videos SET status = $5, error_code = $2, error = $3, updated_at = $4,
		playable_at = NULL WHERE id = $1 AND status = $6`, id, code, reason, db.Millis(s.now()), video.Failed, video.Processing)
	return s.checkUpdate(ctx, res, err, id, "failed")
}

// checkUpdate turns an update of no row into db.ErrNotFound (no such video) or db.ErrConflict
// (the video is not in a state that allows the change).
func (s *videos) checkUpdate(ctx context.Context, res sql.Result, err error, id, to string) error {
	if err != nil {
		return fmt.Errorf("pipeline: video %s %s: %w", id, to, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("pipeline: video %s %s: %w", id, to, err)
	} else if n == 0 {
		if _, err := s.state(ctx, id); err != nil {
			return err
		}
		return fmt.Errorf("pipeline: video %s %s: %w", id, to, db.ErrConflict)
	}
	return nil
}
