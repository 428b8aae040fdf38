package feed

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
)

// userVideosCursor is the position in a creator's videos: the last one listed.
type userVideosCursor struct {
	Published int64  `json:"p"` // its published_at
	ID        string `json:"i"`
}

// check refuses a cursor that names no video: one with an id that is not a video id, or a
// time without an id (the zero cursor is the first page).
func (c userVideosCursor) check() error {
	if c.ID != "" && !videoid.Valid(c.ID) || c.ID == "" && c.Published != 0 {
		return errBadCursor
	}
	return nil
}

// userVideos answers GET /v1/users/{handle}/videos: the creator's ready videos, newest first
// (by published_at, then id). Others see the public ones not hidden by reports; the creator
// and the admin every one, unlisted and private too. A viewer who blocked the creator sees
// none.
func (s *Service) userVideos(w http.ResponseWriter, r *http.Request) error {
	handle, err := NormalizeHandle(r.PathValue("handle"))
	if err != nil {
		return errNoUser
	}
	var cur userVideosCursor
	limit, err := pageParams(r, &cur)
	if err != nil {
		return err
	}
	if err := cur.check(); err != nil {
		return err
	}
	ctx := r.Context()
	viewer, _ := auth.FromContext(ctx)
	var creator int64
	var blocked bool
	err = s.db.SQL().QueryRowContext(ctx, `SELECT u.id,
		EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $2 AND b.blocked_id = u.id)
		FROM users u WHERE u.handle = $1`, handle, viewer.UserID).Scan(&creator, &blocked)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoUser
	}
	if err != nil {
		return fmt.Errorf("feed: videos of %s: %w", handle, err)
	}
	out := List[Item]{Items: []Item{}}
	if blocked {
		apierr.WriteJSON(w, http.StatusOK, out)
		return nil
	}
	all := 0
	if viewer.Admin || viewer.UserID == creator {
		all = 1
	}
	after := 0
	if cur.ID != "" {
		after = 1
	}
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT id, published_at FROM videos
		WHERE user_id = $1 AND status = $2 AND published_at IS NOT NULL
		AND ($3 = 1 OR (visibility = $4 AND hidden = 0))
		AND ($5 = 0 OR published_at < $6 OR (published_at = $6 AND id < $7))
		ORDER BY published_at DESC, id DESC LIMIT $8`,
		creator, video.Ready, all, video.Public, after, cur.Published, cur.ID, limit+1)
	if err != nil {
		return fmt.Errorf("feed: videos of %s: %w", handle, err)
	}
	defer rows.Close()
	var ids []string
	var last userVideosCursor
	for rows.Next() {
		var c userVideosCursor
		if err := rows.Scan(&c.ID, &c.Published); err != nil {
			return fmt.Errorf("feed: videos of %s: %w", handle, err)
		}
		if len(ids) == limit {
			out.NextCursor = encodeCursor(last)
			break
		}
		ids = append(ids, c.ID)
		last = c
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("feed: videos of %s: %w", handle, err)
	}
	if out.Items, err = s.items(ctx, viewer, ids); err != nil {
		return err
	}
	apierr.WriteJSON(w, http.StatusOK, out)
	return nil
}
