package feed

import (
	"context"
	"fmt"
	"math"
	"net/http"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
)

// followingCursor is the position in a Following feed: the last video served, by its
// publication time (unix milliseconds) and id, the feed's order. Pages follow it by keyset, so
// videos published meanwhile, which sort before it, neither repeat nor push anything out.
type followingCursor struct {
	Published int64  `json:"p"`
	ID        string `json:"v"`
}

// valid reports whether c is a position the API could have given.
func (c followingCursor) valid() bool { return c.Published > 0 && videoid.Valid(c.ID) }

// getFollowing answers GET /v1/feed/following: the videos of the creators the viewer follows,
// newest first (by publication time, then id). It merges the viewer's timeline, which fan-out
// jobs pushed the videos of creators at or under Config.CelebrityThreshold into (and each
// follow its creator's latest Config.FollowBackfill videos, backfill), with the
// videos of followed creators above it, pulled now; a creator who crossed the threshold has
// videos in both, shown once. Pulled too are the creators that a fan-out found above the
// threshold (users.feed_pulled), even once they are under it again, since those videos are in
// no timeline. It shows only creators the viewer still follows and has not blocked, and only
// ready public videos that are not hidden. The first page lists, in "live", the live streams
// of the creators the viewer follows (Config.LiveNow), newest first.
func (s *Service) getFollowing(w http.ResponseWriter, r *http.Request) error {
	p, _ := auth.FromContext(r.Context())
	var c followingCursor
	limit, err := pageParams(r, &c)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("cursor") != "" && !c.valid() {
		return errBadCursor
	}
	page, next, err := s.following(r.Context(), p.UserID, c, limit)
	if err != nil {
		return err
	}
	items, err := s.items(r.Context(), p, page)
	if err != nil {
		return err
	}
	out := followingPage{List: List[Item]{Items: items, NextCursor: next}}
	if c.Published == 0 { // the first page
		if out.Live, err = s.liveFollowed(r.Context(), p.UserID); err != nil {
			return err
		}
	}
	apierr.WriteJSON(w, http.StatusOK, out)
	return nil
}

// following returns the ids of a page of user's Following feed after cursor c (the first page
// for the zero c), and the cursor of the next page, "" on the last.
func (s *Service) following(ctx context.Context, user int64, c followingCursor, limit int) (ids []string, next string, err error) {
	if c.Published == 0 { // the first page: before everything
		c = followingCursor{Published: math.MaxInt64}
	}
	// Each branch takes its first limit+1 videos past the cursor, by the feed's order, and the
	// union the first limit+1 of them: one more than the page tells whether another follows.
	// UNION drops the videos of a creator who crossed the threshold that are in both.
	const visible = `v.status = $6 AND v.visibility = $7 AND v.hidden = 0
		AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $1 AND b.blocked_id = v.user_id)`
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT id, published FROM (
			SELECT t.video_id AS id, t.published_at AS published FROM timelines t
			JOIN follows f ON f.follower_id = t.user_id AND f.followee_id = t.creator_id
			JOIN videos v ON v.id = t.video_id
			WHERE t.user_id = $1 AND (t.published_at, t.video_id) < ($2, $3) AND `+visible+`
			ORDER BY t.published_at DESC, t.video_id DESC LIMIT $4) pushed
		UNION
		SELECT id, published FROM (
			SELECT v.id AS id, v.published_at AS published FROM follows f
			JOIN users u ON u.id = f.followee_id
			JOIN videos v ON v.user_id = f.followee_id
			WHERE f.follower_id = $1 AND (u.follower_count > $5 OR u.feed_pulled = 1)
			AND (v.published_at, v.id) < ($2, $3) AND `+visible+`
			ORDER BY v.published_at DESC, v.id DESC LIMIT $4) pulled
		ORDER BY published DESC, id DESC LIMIT $4`,
		user, c.Published, c.ID, limit+1, s.cfg.CelebrityThreshold, video.Ready, video.Public)
	if err != nil {
		return nil, "", fmt.Errorf("feed: following: %w", err)
	}
	defer rows.Close()
	var last followingCursor
	for rows.Next() {
		var pos followingCursor
		if err := rows.Scan(&pos.ID, &pos.Published); err != nil {
			return nil, "", fmt.Errorf("feed: following: %w", err)
		}
		if len(ids) == limit {
			next = encodeCursor(last)
			break
		}
		ids, last = append(ids, pos.ID), pos
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("feed: following: %w", err)
	}
	return ids, next, nil
}
