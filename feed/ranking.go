package feed

import (
	"context"
	"fmt"
	"strings"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/video"
)

// Ranker chooses the videos of a For You page (Config.Ranker). The recommender implements it.
type Ranker interface {
	// Rank returns the ids of at most req.Limit videos for req.Viewer, best first, or fewer
	// when it has no more. It leaves out the videos req.Exclude names and, for a logged-in
	// viewer, the viewer's own videos and the videos of creators the viewer blocked; a
	// ranker that learns from the events also leaves out what they show the viewer (or
	// req.Visitor) saw. The feed loads the videos it returns with
	// the same rules as every list (ready, not private, not hidden, not blocked), so a ranker
	// may be a little stale, but it should not waste a page on videos that are not public.
	Rank(ctx context.Context, req RankRequest) ([]string, error)
}

// Explainer is a Ranker that can say why it chose each video: GET /v1/feed/foryou?explain=1,
// for admins. The feed asks Explain instead of Rank then; a Ranker that is not an Explainer
// answers such pages without explanations.
type Explainer interface {
	Ranker
	// Explain is Rank with the reasons of each choice.
	Explain(ctx context.Context, req RankRequest) ([]Ranked, error)
}

// Ranked is a video an Explainer chose, and why.
type Ranked struct {
	ID string
	Explanation
}

// Explanation is why a ranker chose a video, as a For You item shows it with explain=1.
type Explanation struct {
	// Source is the candidate source that proposed it (the recommender's: following,
	// covisit, similar, popular, fresh).
	Source string `json:"source"`
	// Score is its score: higher ranks first, before the rules that space out creators.
	Score float64 `json:"score"`
	// Reasons are the ranker's words for what counted.
	Reasons []string `json:"reasons"`
}

// RankRequest is what a For You page asks of its Ranker.
type RankRequest struct {
	// Viewer is the user id of the logged-in viewer, 0 for a visitor without a token.
	Viewer int64
	// Visitor is the visitor's id (the one its events carry) when Viewer is 0 and the
	// request named one (?visitor=), so that a visitor's page can follow their events too;
	// "" otherwise.
	Visitor string
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

// NewestRanker is the ranking of a Service given no Ranker: the newest public videos, less
// the ones req.Exclude names, the viewer's own and their blocked creators'; it does not look
// at the events. It is a stand-in that needs nothing but the database (tests, tools); reelay
// ranks with the recommender.
type NewestRanker struct{ db *db.DB }

var _ Ranker = NewestRanker{}

// Rank implements Ranker, with one query of the newest videos.
func (n NewestRanker) Rank(ctx context.Context, req RankRequest) ([]string, error) {
	skip := make(map[string]bool, len(req.Exclude))
	for _, p := range req.Exclude {
		skip[p] = true
	}
	rows, err := n.db.SQL().QueryContext(ctx, `SELECT v.id FROM videos v
		WHERE v.status = $1 AND v.visibility = $2 AND v.hidden = 0 AND v.published_at IS NOT NULL AND v.user_id <> $3
		AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $3 AND b.blocked_id = v.user_id)
		ORDER BY v.published_at DESC, v.id DESC LIMIT $4`, video.Ready, video.Public, req.Viewer, req.Limit+len(skip))
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
		if len(ids) < req.Limit && !skip[id[:min(len(id), SeenPrefix)]] {
			ids = append(ids, id)
		}
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
