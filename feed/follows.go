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
			if err := follow(ctx, tx, p.UserID, target.ID, db.Millis(s.accounts.now())); err != nil {
				return err
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

// follow makes follower follow followee, unless it does already; errBlocked when one of them
// blocked the other. The caller holds both users' locks (lockPair).
func follow(ctx context.Context, tx *sql.Tx, follower, followee, now int64) error {
	if b, err := blockedEither(ctx, tx, follower, followee); err != nil || b {
		if b {
			return errBlocked
		}
		return err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, follower, followee, now)
	if err != nil {
		return fmt.Errorf("feed: follow %d by %d: %w", followee, follower, err)
	}
	return countFollow(ctx, tx, res, follower, followee, 1)
}

// unfollow ends follower's follow of followee, if there is one. The caller holds both users'
// locks (lockPair).
func unfollow(ctx context.Context, tx *sql.Tx, follower, followee int64) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2`, follower, followee)
	if err != nil {
		return fmt.Errorf("feed: unfollow %d by %d: %w", followee, follower, err)
	}
	return countFollow(ctx, tx, res, follower, followee, -1)
}

// countFollow adds delta to the counters of a follow when res added or removed its row.
func countFollow(ctx context.Context, tx *sql.Tx, res sql.Result, follower, followee, delta int64) error {
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
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
