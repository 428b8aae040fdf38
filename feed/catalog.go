package feed

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

// Catalog is the feed's read side of the videos that the pipeline creates and publishes (the
// videos and video_hashtags tables).
type Catalog struct {
	d *db.DB
}

// NewCatalog returns the catalogue stored in d.
func NewCatalog(d *db.DB) *Catalog { return &Catalog{d: d} }

// Entry is a video as the catalogue holds it.
type Entry struct {
	ID            string
	UserID        int64
	Creator       string // the creator's handle
	CreatorName   string // the creator's display name
	CreatorAvatar string // the store key of the creator's avatar, "" for none
	Status        video.Status
	Progress      int    // 0-100 while processing
	ErrorCode     string // for a failed video: machine-readable reason
	Error         string // for a failed video: the reason for people
	Caption       string
	Hashtags      []string
	Visibility    video.Visibility
	Filename      string // as the creator's device named it
	SourceSize    int64
	DurationMS    int64
	Width, Height int
	Renditions    []video.Rendition
	Generation    string // of the published presentation (internal/layout); "" before it is ready
	CreatedAt     time.Time
	UpdatedAt     time.Time
	PublishedAt   time.Time // zero until ready
	PlayableAt    time.Time // when a processing video became playable; zero when it is not
	Counts        Counts
	Hidden        bool // hidden from feeds by reports
}

// entryColumns are the columns scanEntry reads, of videos joined with users.
const entryColumns = `videos.id, videos.user_id, users.handle, users.display_name, users.avatar, videos.status,
	videos.progress, videos.error_code, videos.error, videos.caption, videos.visibility, videos.filename,
	videos.source_size, videos.duration_ms, videos.width, videos.height, videos.renditions, videos.created_at,
	videos.updated_at, videos.published_at, videos.playable_at, videos.generation, videos.view_count,
	videos.like_count, videos.comment_count, videos.share_count, videos.hidden`

// scanEntry reads a row of entryColumns, the hashtags aside.
func scanEntry(row interface{ Scan(...any) error }) (Entry, error) {
	var e Entry
	var created, updated int64
	var published, playable sql.NullInt64
	var renditions string
	var hidden int
	err := row.Scan(&e.ID, &e.UserID, &e.Creator, &e.CreatorName, &e.CreatorAvatar, &e.Status, &e.Progress, &e.ErrorCode,
		&e.Error, &e.Caption, &e.Visibility, &e.Filename, &e.SourceSize, &e.DurationMS, &e.Width, &e.Height, &renditions,
		&created, &updated, &published, &playable, &e.Generation, &e.Counts.Views, &e.Counts.Likes, &e.Counts.Comments,
		&e.Counts.Shares, &hidden)
	if err != nil {
		return Entry{}, err
	}
	e.CreatedAt, e.UpdatedAt = db.Time(created), db.Time(updated)
	e.Hidden = hidden != 0
	e.PublishedAt, e.PlayableAt = db.Time(published.Int64), db.Time(playable.Int64)
	if err := json.Unmarshal([]byte(renditions), &e.Renditions); err != nil {
		return Entry{}, fmt.Errorf("renditions: %w", err)
	}
	return e, nil
}

// Video returns video id with its creator's handle and its hashtags, or db.ErrNotFound.
func (c *Catalog) Video(ctx context.Context, id string) (Entry, error) {
	e, err := scanEntry(c.d.SQL().QueryRowContext(ctx, `SELECT `+entryColumns+`
		FROM videos JOIN users ON users.id = videos.user_id WHERE videos.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, fmt.Errorf("feed: video %s: %w", id, db.ErrNotFound)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("feed: video %s: %w", id, err)
	}
	rows, err := c.d.SQL().QueryContext(ctx, `SELECT tag FROM video_hashtags WHERE video_id = $1 ORDER BY tag`, id)
	if err != nil {
		return Entry{}, fmt.Errorf("feed: video %s hashtags: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var tag string
		if err := rows.Scan(&tag); err != nil {
			return Entry{}, fmt.Errorf("feed: video %s hashtags: %w", id, err)
		}
		e.Hashtags = append(e.Hashtags, tag)
	}
	return e, rows.Err()
}

// ByCreator returns up to limit of user's videos in every status, newest first (by created_at,
// then id), from those created before (created, id): the first page for created =
// math.MaxInt64. Each comes with its hashtags.
func (c *Catalog) ByCreator(ctx context.Context, user, created int64, id string, limit int) ([]Entry, error) {
	rows, err := c.d.SQL().QueryContext(ctx, `SELECT `+entryColumns+`
		FROM videos JOIN users ON users.id = videos.user_id
		WHERE videos.user_id = $1 AND (videos.created_at < $2 OR (videos.created_at = $2 AND videos.id < $3))
		ORDER BY videos.created_at DESC, videos.id DESC LIMIT $4`, user, created, id, limit)
	if err != nil {
		return nil, fmt.Errorf("feed: videos of %d: %w", user, err)
	}
	defer rows.Close()
	var out []Entry
	at := map[string]int{} // index in out by id
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("feed: videos of %d: %w", user, err)
		}
		at[e.ID] = len(out)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("feed: videos of %d: %w", user, err)
	}
	if len(out) == 0 {
		return out, nil
	}
	args := make([]any, len(out))
	for i, e := range out {
		args[i] = e.ID
	}
	tags, err := c.d.SQL().QueryContext(ctx, `SELECT video_id, tag FROM video_hashtags
		WHERE video_id IN (`+placeholders(1, len(args))+`) ORDER BY tag`, args...)
	if err != nil {
		return nil, fmt.Errorf("feed: hashtags of the videos of %d: %w", user, err)
	}
	defer tags.Close()
	for tags.Next() {
		var id, tag string
		if err := tags.Scan(&id, &tag); err != nil {
			return nil, fmt.Errorf("feed: hashtags of the videos of %d: %w", user, err)
		}
		e := &out[at[id]]
		e.Hashtags = append(e.Hashtags, tag)
	}
	return out, tags.Err()
}
