package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Video states: processing until the pipeline publishes it (ready) or gives up (failed).
const (
	VideoProcessing = "processing"
	VideoReady      = "ready"
	VideoFailed     = "failed"
)

// Video is a published or publishing video.
type Video struct {
	ID          string
	UserID      int64
	Status      string // VideoProcessing, VideoReady or VideoFailed
	Progress    int    // 0-100 while processing
	ErrorCode   string // for a failed video: machine-readable reason
	Error       string // for a failed video: the reason for people
	Caption     string
	Visibility  string // public, unlisted or private
	Filename    string // as the creator's device named it
	SourceSize  int64
	DurationMS  int64
	Width       int
	Height      int
	Renditions  string // JSON array describing the published renditions
	Hashtags    []string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	PublishedAt time.Time // zero until ready
	// PlayableAt is when a processing video became playable (published progressively); zero
	// when it is not.
	PlayableAt time.Time
}

const videoCols = `id, user_id, status, progress, error_code, error, caption, visibility, filename,
	source_size, duration_ms, width, height, renditions, created_at, updated_at, published_at, playable_at`

func scanVideo(row rowScanner) (Video, error) {
	var v Video
	var created, updated int64
	var published, playable sql.NullInt64
	err := row.Scan(&v.ID, &v.UserID, &v.Status, &v.Progress, &v.ErrorCode, &v.Error, &v.Caption, &v.Visibility,
		&v.Filename, &v.SourceSize, &v.DurationMS, &v.Width, &v.Height, &v.Renditions, &created, &updated, &published,
		&playable)
	if errors.Is(err, sql.ErrNoRows) {
		return Video{}, ErrNotFound
	}
	if err != nil {
		return Video{}, err
	}
	v.CreatedAt, v.UpdatedAt = fromMS(created), fromMS(updated)
	if published.Valid {
		v.PublishedAt = fromMS(published.Int64)
	}
	if playable.Valid {
		v.PlayableAt = fromMS(playable.Int64)
	}
	return v, nil
}

// CreateVideo inserts v in state processing with its hashtags. Creating a video whose id
// exists already returns the existing one unchanged, so that a retried hand-over is harmless.
func (d *DB) CreateVideo(ctx context.Context, v Video) (Video, error) {
	now := ms(d.now())
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO videos (id, user_id, status, caption, visibility, filename,
			source_size, created_at, updated_at) VALUES ($1, $2, 'processing', $3, $4, $5, $6, $7, $7)
			ON CONFLICT (id) DO NOTHING`,
			v.ID, v.UserID, v.Caption, v.Visibility, v.Filename, v.SourceSize, now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // already created by an earlier attempt
		}
		for _, tag := range v.Hashtags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO video_hashtags (video_id, tag) VALUES ($1, $2)
				ON CONFLICT DO NOTHING`, v.ID, tag); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Video{}, fmt.Errorf("db: create video %s: %w", v.ID, err)
	}
	return d.VideoByID(ctx, v.ID)
}

// VideoByID returns the video with its hashtags, or ErrNotFound.
func (d *DB) VideoByID(ctx context.Context, id string) (Video, error) {
	v, err := scanVideo(d.sql.QueryRowContext(ctx, `SELECT `+videoCols+` FROM videos WHERE id = $1`, id))
	if err != nil {
		return Video{}, fmt.Errorf("db: video %s: %w", id, err)
	}
	rows, err := d.sql.QueryContext(ctx, `SELECT tag FROM video_hashtags WHERE video_id = $1 ORDER BY tag`, id)
	if err != nil {
		return Video{}, fmt.Errorf("db: video %s hashtags: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var tag string
		if err := rows.Scan(&tag); err != nil {
			return Video{}, err
		}
		v.Hashtags = append(v.Hashtags, tag)
	}
	return v, rows.Err()
}

// SetVideoProgress records the progress of a processing video.
func (d *DB) SetVideoProgress(ctx context.Context, id string, progress int) error {
	_, err := d.exec(ctx, `UPDATE videos SET progress = $2, updated_at = $3 WHERE id = $1 AND status = 'processing'`,
		id, min(max(progress, 0), 100), ms(d.now()))
	if err != nil {
		return fmt.Errorf("db: video %s progress: %w", id, err)
	}
	return nil
}

// SetVideoPlayable records that a processing video has become playable (its presentation was
// published progressively), keeping the first time; with playable false, that it no longer is
// (its publication was withdrawn, to be tried again).
func (d *DB) SetVideoPlayable(ctx context.Context, id string, playable bool) error {
	q := `UPDATE videos SET playable_at = COALESCE(playable_at, $2), updated_at = $2 WHERE id = $1 AND status = 'processing'`
	if !playable {
		q = `UPDATE videos SET playable_at = NULL, updated_at = $2 WHERE id = $1 AND status = 'processing'`
	}
	if _, err := d.exec(ctx, q, id, ms(d.now())); err != nil {
		return fmt.Errorf("db: video %s playable: %w", id, err)
	}
	return nil
}

// Published is what the pipeline learned of a video it published.
type Published struct {
	DurationMS    int64
	Width, Height int
	Renditions    string // JSON array
}

// SetVideoReady marks a video ready with what was published. A video already ready is
// updated again (a re-run of the pipeline publishes the same objects).
func (d *DB) SetVideoReady(ctx context.Context, id string, p Published) error {
	now := ms(d.now())
	res, err := d.exec(ctx, `UPDATE videos SET status = 'ready', progress = 100, error_code = '', error = '',
		duration_ms = $2, width = $3, height = $4, renditions = $5, updated_at = $6,
		published_at = COALESCE(published_at, $6) WHERE id = $1 AND status IN ('processing', 'ready')`,
		id, p.DurationMS, p.Width, p.Height, p.Renditions, now)
	return d.checkVideoUpdate(ctx, res, err, id, "ready")
}

// SetVideoFailed marks a processing video failed with a reason.
func (d *DB) SetVideoFailed(ctx context.Context, id, code, reason string) error {
	res, err := d.exec(ctx, `UPDATE videos SET status = 'failed', error_code = $2, error = $3, updated_at = $4
		WHERE id = $1 AND status = 'processing'`, id, code, reason, ms(d.now()))
	return d.checkVideoUpdate(ctx, res, err, id, "failed")
}

// checkVideoUpdate turns an update of no row into ErrNotFound (no such video) or ErrConflict
// (the video is not in a state that allows the change).
func (d *DB) checkVideoUpdate(ctx context.Context, res sql.Result, err error, id, to string) error {
	if err != nil {
		return fmt.Errorf("db: video %s %s: %w", id, to, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("db: video %s %s: %w", id, to, err)
	} else if n == 0 {
		if _, err := d.VideoByID(ctx, id); err != nil {
			return err
		}
		return fmt.Errorf("db: video %s %s: %w", id, to, ErrConflict)
	}
	return nil
}
