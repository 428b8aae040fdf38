package feed

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
)

// likeState is the answer of PUT and DELETE /v1/videos/{id}/like.
type likeState struct {
	Liked bool  `json:"liked"`
	Likes int64 `json:"likes"` // the video's like count after the request
}

// putLike answers PUT /v1/videos/{id}/like, deleteLike DELETE, on a video the viewer may see
// (visibleVideo; else 404). Both are idempotent: videos.like_count changes, in the
// transaction of the likes row, only when a row was really added or removed. A user whom the
// creator blocked cannot like (403 blocked).
func (s *Service) putLike(w http.ResponseWriter, r *http.Request) error { return s.setLike(w, r, true) }
func (s *Service) deleteLike(w http.ResponseWriter, r *http.Request) error {
	return s.setLike(w, r, false)
}

func (s *Service) setLike(w http.ResponseWriter, r *http.Request, on bool) error {
	p, _ := auth.FromContext(r.Context())
	if err := s.limitWrite(w, p); err != nil {
		return err
	}
	id := r.PathValue("id")
	ctx := r.Context()
	owner, err := s.visibleVideo(ctx, p, id)
	if err != nil {
		return err
	}
	if on {
		if err := s.notBlockedBy(ctx, owner, p.UserID); err != nil {
			return err
		}
	}
	out := likeState{Liked: on}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		delta := 1
		if on {
			res, err = tx.ExecContext(ctx, `INSERT INTO likes (video_id, user_id, created_at) VALUES ($1, $2, $3)
				ON CONFLICT DO NOTHING`, id, p.UserID, db.Millis(s.accounts.now()))
		} else {
			res, err = tx.ExecContext(ctx, `DELETE FROM likes WHERE video_id = $1 AND user_id = $2`, id, p.UserID)
			delta = -1
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			delta = 0
		}
		return tx.QueryRowContext(ctx, `UPDATE videos SET like_count = like_count + $2 WHERE id = $1 RETURNING like_count`,
			id, delta).Scan(&out.Likes)
	})
	if err != nil {
		return fmt.Errorf("feed: like of %s by %d: %w", id, p.UserID, err)
	}
	return state(w, out)
}

// notBlockedBy returns errBlocked when owner has blocked user: a blocked user neither likes
// nor comments on the blocker's videos.
func (s *Service) notBlockedBy(ctx context.Context, owner, user int64) error {
	if owner == user {
		return nil
	}
	b, err := blockedBy(ctx, s.db.SQL(), owner, user)
	if err == nil && b {
		return errBlocked
	}
	return err
}

// share answers POST /v1/videos/{id}/shares: the video's share count goes up by one, and the
// answer is the new count, {"shares": n}. Every share counts; users' writes are limited.
func (s *Service) share(w http.ResponseWriter, r *http.Request) error {
	p, _ := auth.FromContext(r.Context())
	if err := s.limitWrite(w, p); err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := s.visibleVideo(r.Context(), p, id); err != nil {
		return err
	}
	var shares int64
	err := s.db.Tx(r.Context(), func(tx *sql.Tx) error {
		return tx.QueryRowContext(r.Context(), `UPDATE videos SET share_count = share_count + 1 WHERE id = $1
			RETURNING share_count`, id).Scan(&shares)
	})
	if err != nil {
		return fmt.Errorf("feed: share of %s: %w", id, err)
	}
	apierr.WriteJSON(w, http.StatusOK, map[string]int64{"shares": shares})
	return nil
}
