package feed

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/video"
)

// Ranker chooses the videos of a For You page (Config.Ranker). The recommender implements it;
// until then NewEngagementRanker does.
type Ranker interface {
	// Rank returns the ids of at most req.Limit videos for req.Viewer, best first, or fewer
	// when it has no more. It leaves out the videos req.Exclude names and, for a logged-in
	// viewer, the videos their events show seen (impression or play), the viewer's own videos
	// and the videos of creators the viewer blocked. The feed loads the videos it returns with
	// the same rules as every list (ready, not private, not hidden, not blocked), so a ranker
	// may be a little stale, but it should not waste a page on videos that are not public.
	Rank(ctx context.Context, req RankRequest) ([]string, error)
}

// RankRequest is what a For You page asks of its Ranker.
type RankRequest struct {
	// Viewer is the user id of the logged-in viewer, 0 for a visitor without a token.
	Viewer int64
	// Exclude lists the videos served by the earlier pages of this feed (at most
	// MaxSeen, the most recent), each as the first SeenPrefix characters of its id: enough to
	// tell any two videos apart in practice (50 bits), and short enough that a visitor's cursor
	// carries them.
	Exclude []string
	// Limit is the page size, from 1 to MaxLimit.
	Limit int
}

// Bounds of what a For You cursor remembers (RankRequest.Exclude).
const (
	// MaxSeen is how many served videos a For You cursor remembers: the most recent ones.
	MaxSeen = 500
	// SeenPrefix is how many leading characters of a video id the cursor keeps.
	SeenPrefix = 10
)

// EngagementRanker is the interim For You ranking: ready public videos that are not hidden, by
// time-decayed engagement, the score
//
//	(1 + views + 3·likes + 5·comments + 8·shares) / (hours since publication + 2)^1.5
//
// highest first (then the newest id): a like counts three views, a comment five, a share
// eight, and a video's score falls with the 1.5th power of its age plus two hours: it halves
// in its first 1.2 hours, then ever more slowly (the gravity of a news ranking). It scores the whole catalogue on each page, which is right for a
// catalogue of thousands, not millions; the recommender replaces it.
type EngagementRanker struct {
	db  *db.DB
	now func() time.Time
}

var _ Ranker = (*EngagementRanker)(nil)

// NewEngagementRanker returns the interim ranker over the videos of d.
func NewEngagementRanker(d *db.DB) *EngagementRanker { return &EngagementRanker{db: d, now: time.Now} }

// Rank implements Ranker.
func (e *EngagementRanker) Rank(ctx context.Context, req RankRequest) ([]string, error) {
	args := []any{video.Ready, video.Public, req.Viewer, db.Millis(e.now()), req.Limit}
	var exclude string
	if len(req.Exclude) > 0 {
		exclude = ` AND substr(v.id, 1, ` + strconv.Itoa(SeenPrefix) + `) NOT IN (` + placeholders(len(args)+1, len(req.Exclude)) + `)`
		for _, p := range req.Exclude {
			args = append(args, p)
		}
	}
	rows, err := e.db.SQL().QueryContext(ctx, `SELECT v.id FROM videos v
		WHERE v.status = $1 AND v.visibility = $2 AND v.hidden = 0 AND v.published_at IS NOT NULL AND v.user_id <> $3
		AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $3 AND b.blocked_id = v.user_id)
		AND NOT EXISTS (SELECT 1 FROM events ev WHERE $3 <> 0 AND ev.user_id = $3 AND ev.video_id = v.id
			AND ev.type IN ('impression', 'play'))`+exclude+`
		ORDER BY (1 + v.view_count + 3 * v.like_count + 5 * v.comment_count + 8 * v.share_count)
			/ power(CAST(CASE WHEN $4 > v.published_at THEN $4 - v.published_at ELSE 0 END AS DOUBLE PRECISION) / 3600000 + 2, 1.5) DESC,
			v.id DESC
		LIMIT $5`, args...)
	if err != nil {
		return nil, fmt.Errorf("feed: ranking: %w", err)
	}
	defer rows.Close()
	ids := make([]string, 0, req.Limit)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("feed: ranking: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("feed: ranking: %w", err)
	}
	return ids, nil
}

// seenPrefixes splits the concatenated id prefixes of a For You cursor, false when s is not
// what forYouCursor holds.
func seenPrefixes(s string) ([]string, bool) {
	if s == "" || len(s)%SeenPrefix != 0 || len(s)/SeenPrefix > MaxSeen {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return nil, false
		}
	}
	out := make([]string, 0, len(s)/SeenPrefix)
	for i := 0; i < len(s); i += SeenPrefix {
		out = append(out, s[i:i+SeenPrefix])
	}
	return out, true
}

// joinSeen returns the prefixes of the ids served before (seen) and now (served), the most
// recent MaxSeen, concatenated for a forYouCursor.
func joinSeen(seen, served []string) string {
	all := make([]string, 0, len(seen)+len(served))
	all = append(all, seen...)
	for _, id := range served {
		all = append(all, id[:SeenPrefix])
	}
	if len(all) > MaxSeen {
		all = all[len(all)-MaxSeen:]
	}
	return strings.Join(all, "")
}
