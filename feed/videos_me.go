package feed

import (
	"fmt"
	"math"
	"net/http"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/videoid"
)

// myVideosCursor is the position in the current user's videos: the last one listed.
type myVideosCursor struct {
	Created int64  `json:"c"` // its created_at
	ID      string `json:"i"`
}

// check refuses a cursor that names no video: one with an id that is not a video id, or a
// time without an id (the zero cursor is the first page).
func (c myVideosCursor) check() error {
	if c.ID != "" && !videoid.Valid(c.ID) || c.ID == "" && c.Created != 0 {
		return errBadCursor
	}
	return nil
}

// myVideos answers GET /v1/me/videos: every video of the current user, whatever its status
// (processing with its progress, ready, failed with the reason) and visibility, newest upload
// first (by created_at, then id), as GET /v1/videos/{id} shows each. It is the creator's own
// page: uploads still being sent are not videos yet, and are not listed.
func (s *Service) myVideos(w http.ResponseWriter, r *http.Request) error {
	p, _ := auth.FromContext(r.Context()) // a user's: see userOnly
	var cur myVideosCursor
	limit, err := pageParams(r, &cur)
	if err != nil {
		return err
	}
	if err := cur.check(); err != nil {
		return err
	}
	if cur.ID == "" {
		cur.Created = math.MaxInt64
	}
	ctx := r.Context()
	entries, err := s.catalog.ByCreator(ctx, p.UserID, cur.Created, cur.ID, limit+1)
	if err != nil {
		return err
	}
	out := List[Video]{Items: make([]Video, 0, min(len(entries), limit))}
	if len(entries) > limit {
		last := entries[limit-1]
		out.NextCursor = encodeCursor(myVideosCursor{Created: last.CreatedAt.UnixMilli(), ID: last.ID})
		entries = entries[:limit]
	}
	if len(entries) == 0 {
		apierr.WriteJSON(w, http.StatusOK, out)
		return nil
	}
	args := []any{p.UserID}
	for _, e := range entries {
		args = append(args, e.ID)
	}
	liked := map[string]bool{}
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT video_id FROM likes WHERE user_id = $1
		AND video_id IN (`+placeholders(2, len(entries))+`)`, args...)
	if err != nil {
		return fmt.Errorf("feed: likes of %d's videos: %w", p.UserID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("feed: likes of %d's videos: %w", p.UserID, err)
		}
		liked[id] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("feed: likes of %d's videos: %w", p.UserID, err)
	}
	for _, e := range entries {
		v := s.videoJSON(e)
		v.Liked = liked[e.ID] // and Following stays false: nobody follows themself
		out.Items = append(out.Items, v)
	}
	apierr.WriteJSON(w, http.StatusOK, out)
	return nil
}
