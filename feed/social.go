package feed

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
)

// What the social actions (follows, likes, comments, shares, blocks, reports) share: the
// user or video of the path, who may act, and the locks of a pair of users.

var (
	errNoUser  = apierr.New(http.StatusNotFound, "not_found", "no such user")
	errBlocked = apierr.New(http.StatusForbidden, "blocked", "one of you has blocked the other")
	errNotUser = apierr.New(http.StatusForbidden, "not_a_user", "this needs a user's token, not the operator's")
)

// Values of videos.hidden.
const (
	shown           = 0
	hiddenByReports = 1 // until an admin resolves the reports
	removed         = 2 // by an admin: for good
)

// userOnly wraps h so that it runs only for a user's token: 401 without a token, 403 for the
// operator's admin token, which is nobody to follow, like or comment as.
func userOnly(h apierr.HandlerFunc) apierr.HandlerFunc {
	return auth.Require(func(w http.ResponseWriter, r *http.Request) error {
		if p, _ := auth.FromContext(r.Context()); p.UserID == 0 {
			return errNotUser
		}
		return h(w, r)
	})
}

// pathUser returns the user that the path's {handle} names, or errNoUser.
func (s *Service) pathUser(r *http.Request) (User, error) {
	h, err := NormalizeHandle(r.PathValue("handle"))
	if err != nil {
		return User{}, errNoUser
	}
	u, err := s.accounts.UserByHandle(r.Context(), h)
	if errors.Is(err, db.ErrNotFound) {
		return User{}, errNoUser
	}
	return u, err
}

// visibleVideo returns the owner of video id if viewer may see it, by the rules of items: it
// is ready; public or unlisted, or viewer's own (or viewer is an admin); not hidden by reports
// or moderation, but to its owner and admins; and its creator is not one viewer blocked.
// Otherwise it returns errNoVideo.
func (s *Service) visibleVideo(ctx context.Context, viewer auth.Principal, id string) (owner int64, err error) {
	if !videoid.Valid(id) {
		return 0, errNoVideo
	}
	var status video.Status
	var vis video.Visibility
	var hidden int
	var blocked bool
	err = s.db.SQL().QueryRowContext(ctx, `SELECT v.user_id, v.status, v.visibility, v.hidden,
		EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $2 AND b.blocked_id = v.user_id)
		FROM videos v WHERE v.id = $1`, id, viewer.UserID).Scan(&owner, &status, &vis, &hidden, &blocked)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errNoVideo
	}
	if err != nil {
		return 0, fmt.Errorf("feed: video %s: %w", id, err)
	}
	mine := viewer.Admin || (viewer.UserID != 0 && viewer.UserID == owner)
	if status != video.Ready || blocked || (!mine && (vis == video.Private || hidden != shown)) {
		return 0, errNoVideo
	}
	return owner, nil
}

// lockPair takes the row locks of users a and b, in the order of their ids, so that the
// follows and blocks between two users change one transaction at a time and two opposite
// follows cannot deadlock over the counters. (SQLite's write transactions are one at a time
// already; there the updates change nothing.)
func lockPair(ctx context.Context, tx *sql.Tx, a, b int64) error {
	for _, id := range []int64{min(a, b), max(a, b)} {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET follower_count = follower_count WHERE id = $1`, id); err != nil {
			return fmt.Errorf("feed: lock user %d: %w", id, err)
		}
	}
	return nil
}

// state answers a PUT or DELETE of a toggle (follow, like, block): 200 and the state after it,
// whether or not the request changed it.
func state(w http.ResponseWriter, v any) error {
	apierr.WriteJSON(w, http.StatusOK, v)
	return nil
}
