package feed

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"net/http"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/video"
)

// followState is the answer of PUT and DELETE /v1/users/{handle}/follow.
type followState struct {
	Following bool  `json:"following"`
	Followers int64 `json:"followers"` // the followed user's follower count after the request
}

// putFollow answers PUT /v1/users/{handle}/follow, deleteFollow DELETE. Both are idempotent:
// users.follower_count and following_count change, in the transaction of the follows row,
// only when a row was really added or removed.
func (s *Service) putFollow(w http.ResponseWriter, r *http.Request) error {
	return s.setFollow(w, r, true)
}
func (s *Service) deleteFollow(w http.ResponseWriter, r *http.Request) error {
	return s.setFollow(w, r, false)
}

func (s *Service) setFollow(w http.ResponseWriter, r *http.Request, on bool) error {
	p, _ := auth.FromContext(r.Context())
	if err := s.limitWrite(w, p); err != nil {
		return err
	}
	target, err := s.pathUser(r)
	if err != nil {
		return err
	}
	if target.ID == p.UserID {
		return apierr.New(http.StatusBadRequest, "cannot_follow_self", "you cannot follow yourself")
	}
	ctx := r.Context()
	var out followState
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := lockPair(ctx, tx, p.UserID, target.ID); err != nil {
			return err
		}
		if on {
			added, err := follow(ctx, tx, p.UserID, target.ID, db.Millis(s.accounts.now()))
			if err != nil {
				return err
			}
			if added {
				if err := s.backfill(ctx, tx, p.UserID, target.ID); err != nil {
					return err
				}
			}
		} else if err := unfollow(ctx, tx, p.UserID, target.ID); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT follower_count FROM users WHERE id = $1`, target.ID).Scan(&out.Followers)
	})
	if err != nil {
		return err
	}
	out.Following = on
	return state(w, out)
}

// follow makes follower follow followee, unless it does already, and reports whether it
// did; errBlocked when one of them blocked the other. The caller holds both users' locks
// (lockPair).
func follow(ctx context.Context, tx *sql.Tx, follower, followee, now int64) (bool, error) {
	if b, err := blockedEither(ctx, tx, follower, followee); err != nil || b {
		if b {
			return false, errBlocked
		}
		return false, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, follower, followee, now)
	if err != nil {
		return false, fmt.Errorf("feed: follow %d by %d: %w", followee, follower, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	return true, countFollow(ctx, tx, follower, followee, 1)
}

// backfill puts followee's latest Config.FollowBackfill videos that a fan-out would push into
// the timeline of follower, who has just followed them; the fan-out of a video published
// meanwhile finds it there. A creator whose videos the Following feed pulls at read time gets
// nothing put: one above Config.CelebrityThreshold that no fan-out marked yet is marked pulled
// (users.feed_pulled), as the fan-out of their next video would, so that the follower's feed
// keeps them should they fall under the threshold. The caller holds both users' locks
// (lockPair), in the transaction of the follow.
func (s *Service) backfill(ctx context.Context, tx *sql.Tx, follower, followee int64) error {
	var followers int64
	var pulled int
	if err := tx.QueryRowContext(ctx, `SELECT follower_count, feed_pulled FROM users WHERE id = $1`, followee).
		Scan(&followers, &pulled); err != nil {
		return fmt.Errorf("feed: backfill of %d for %d: %w", followee, follower, err)
	}
	if pulled != 0 {
		return nil
	}
	if followers > int64(s.cfg.CelebrityThreshold) {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET feed_pulled = 1 WHERE id = $1`, followee); err != nil {
			return fmt.Errorf("feed: backfill of %d for %d: %w", followee, follower, err)
		}
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO timelines (user_id, video_id, creator_id, published_at)
		SELECT $1, id, user_id, published_at FROM videos
		WHERE user_id = $2 AND status = $3 AND visibility = $4 AND hidden = 0 AND published_at IS NOT NULL
		ORDER BY published_at DESC, id DESC LIMIT $5
		ON CONFLICT (user_id, video_id) DO NOTHING`,
		follower, followee, video.Ready, video.Public, s.cfg.FollowBackfill); err != nil {
		return fmt.Errorf("feed: backfill of %d for %d: %w", followee, follower, err)
	}
	return nil
}

// unfollow ends follower's follow of followee, if there is one, and takes followee's videos
// out of follower's timeline: pushed or backfilled, the Following feed shows them no more,
// and a follow again backfills the latest anew. The caller holds both users' locks (lockPair).
func unfollow(ctx context.Context, tx *sql.Tx, follower, followee int64) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2`, follower, followee)
	if err != nil {
		return fmt.Errorf("feed: unfollow %d by %d: %w", followee, follower, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM timelines WHERE user_id = $1 AND creator_id = $2`, follower, followee); err != nil {
		return fmt.Errorf("feed: unfollow %d by %d: timeline: %w", followee, follower, err)
	}
	return countFollow(ctx, tx, follower, followee, -1)
}

// countFollow adds delta to the counters of a follow whose row was added or removed.
func countFollow(ctx context.Context, tx *sql.Tx, follower, followee, delta int64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE users SET follower_count = follower_count + $2 WHERE id = $1`, followee, delta); err != nil {
		return fmt.Errorf("feed: follower count of %d: %w", followee, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET following_count = following_count + $2 WHERE id = $1`, follower, delta); err != nil {
		return fmt.Errorf("feed: following count of %d: %w", follower, err)
	}
	return nil
}

// UserItem is a user as lists of users (followers, following) show them.
type UserItem struct {
	Handle      string `json:"handle"`
	DisplayName string `json:"display_name"`
	AvatarURL   string `json:"avatar_url"` // "" when the user has none
	Following   bool   `json:"following"`  // the viewer follows them
}

// followCursor is the position in a list of followers or followees: the last item's follow
// time and user id. Lists run newest follow first.
type followCursor struct {
	At   int64 `json:"t"`
	User int64 `json:"u"`
}

// getFollowers answers GET /v1/users/{handle}/followers, getFollowees GET .../following: newest
// follow first, cursor-paginated. Users whom the viewer blocked are left out.
func (s *Service) getFollowers(w http.ResponseWriter, r *http.Request) error {
	return s.follows(w, r, true)
}
func (s *Service) getFollowees(w http.ResponseWriter, r *http.Request) error {
	return s.follows(w, r, false)
}

func (s *Service) follows(w http.ResponseWriter, r *http.Request, followers bool) error {
	var c followCursor
	limit, err := pageParams(r, &c)
	if err != nil {
		return err
	}
	if c.At < 0 || c.User < 0 {
		return errBadCursor
	}
	if c == (followCursor{}) {
		c.At = math.MaxInt64
	}
	target, err := s.pathUser(r)
	if err != nil {
		return err
	}
	p, _ := auth.FromContext(r.Context())
	listed, of := "f.follower_id", "f.followee_id" // the users listed, and whose list it is
	if !followers {
		listed, of = of, listed
	}
	rows, err := s.db.SQL().QueryContext(r.Context(), `SELECT u.id, u.handle, u.display_name, u.avatar, f.created_at,
		EXISTS (SELECT 1 FROM follows g WHERE g.follower_id = $4 AND g.followee_id = u.id)
		FROM follows f JOIN users u ON u.id = `+listed+`
		WHERE `+of+` = $1 AND (f.created_at < $2 OR (f.created_at = $2 AND u.id < $3))
		AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $4 AND b.blocked_id = u.id)
		ORDER BY f.created_at DESC, u.id DESC LIMIT $5`, target.ID, c.At, c.User, p.UserID, limit+1)
	if err != nil {
		return fmt.Errorf("feed: follows of %d: %w", target.ID, err)
	}
	defer rows.Close()
	out := List[UserItem]{Items: []UserItem{}}
	var last followCursor
	for rows.Next() {
		var it UserItem
		var avatar string
		if err := rows.Scan(&c.User, &it.Handle, &it.DisplayName, &avatar, &c.At, &it.Following); err != nil {
			return fmt.Errorf("feed: follows of %d: %w", target.ID, err)
		}
		if len(out.Items) == limit {
			out.NextCursor = encodeCursor(last)
			break
		}
		it.AvatarURL = s.avatarURL(avatar)
		out.Items = append(out.Items, it)
		last = c
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("feed: follows of %d: %w", target.ID, err)
	}
	apierr.WriteJSON(w, http.StatusOK, out)
	return nil
}
