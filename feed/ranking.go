package feed

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
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
// in its first 1.2 hours, then ever more slowly (the gravity of a news ranking).
//
// Scoring the catalogue takes a scan of every public video, too slow for each page: the ranker
// keeps the catalogue's best EngagementOptions.Top videos, scored at most Refresh ago, and
// serves each viewer from them, leaving out what is not for the viewer with two small queries
// (their blocks; their events among the candidates). A viewer who has seen them all gets the
// rest of the catalogue from the full scan.
type EngagementRanker struct {
	db   *db.DB
	opts EngagementOptions
	now  func() time.Time

	refreshing sync.Mutex // held by the one caller that scores the catalogue
	mu         sync.Mutex
	top        []candidate // best first
	scoredAt   time.Time
}

// EngagementOptions tunes an EngagementRanker. The zero value is ready to use.
type EngagementOptions struct {
	// Top is how many of the best videos the ranker keeps in memory. Default 2,000.
	Top int
	// Refresh is how long it serves them before scoring the catalogue again; meanwhile new
	// videos and new counts do not change the order (but videos made private, hidden or
	// deleted leave the pages at once). Default 10s; negative scores anew on every page.
	Refresh time.Duration
}

// candidate is a video of the ranker's list.
type candidate struct {
	id      string
	creator int64
}

var _ Ranker = (*EngagementRanker)(nil)

// NewEngagementRanker returns the interim ranker over the videos of d.
func NewEngagementRanker(d *db.DB, opts EngagementOptions) *EngagementRanker {
	setDefault(&opts.Top, 2000)
	if opts.Refresh == 0 {
		opts.Refresh = 10 * time.Second
	}
	return &EngagementRanker{db: d, opts: opts, now: time.Now}
}

// Rank implements Ranker.
func (e *EngagementRanker) Rank(ctx context.Context, req RankRequest) ([]string, error) {
	top, err := e.list(ctx)
	if err != nil {
		return nil, err
	}
	skip := make(map[string]bool, len(req.Exclude))
	for _, p := range req.Exclude {
		skip[p] = true
	}
	blocked := map[int64]bool{}
	if req.Viewer != 0 {
		if blocked, err = e.blocked(ctx, req.Viewer); err != nil {
			return nil, err
		}
	}
	ids := make([]string, 0, req.Limit)
	for i := 0; i < len(top) && len(ids) < req.Limit; {
		// The next candidates for the viewer, twice what is missing, less what they have seen.
		var batch []string
		for ; i < len(top) && len(batch) < 2*(req.Limit-len(ids)); i++ {
			c := top[i]
			if !skip[c.id[:SeenPrefix]] && c.creator != req.Viewer && !blocked[c.creator] {
				batch = append(batch, c.id)
			}
		}
		seen, err := e.seen(ctx, req.Viewer, batch)
		if err != nil {
			return nil, err
		}
		for _, id := range batch {
			if !seen[id] && len(ids) < req.Limit {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == req.Limit || len(top) < e.opts.Top {
		return ids, nil // the list holds every public video: no need to look further
	}
	// The viewer has seen the best of the catalogue: score the rest for them.
	exclude := slices.Clone(req.Exclude)
	for _, c := range top {
		exclude = append(exclude, c.id[:SeenPrefix])
	}
	more, err := e.rank(ctx, req.Viewer, exclude, req.Limit-len(ids))
	if err != nil {
		return nil, err
	}
	return append(ids, more...), nil
}

// list returns the catalogue's best Top videos, scored at most Refresh ago. While one caller
// scores the catalogue again, the others go on with the list they have.
func (e *EngagementRanker) list(ctx context.Context) ([]candidate, error) {
	e.mu.Lock()
	top, fresh := e.top, e.scoredAt.Add(e.opts.Refresh).After(e.now())
	e.mu.Unlock()
	if fresh {
		return top, nil
	}
	if top != nil && e.opts.Refresh > 0 {
		if !e.refreshing.TryLock() {
			return top, nil
		}
	} else {
		e.refreshing.Lock()
	}
	defer e.refreshing.Unlock()
	e.mu.Lock()
	top, fresh = e.top, e.scoredAt.Add(e.opts.Refresh).After(e.now())
	e.mu.Unlock()
	if fresh { // another caller scored it meanwhile
		return top, nil
	}
	at := e.now()
	rows, err := e.db.SQL().QueryContext(ctx, `SELECT v.id, v.user_id FROM videos v
		WHERE v.status = $1 AND v.visibility = $2 AND v.hidden = 0 AND v.published_at IS NOT NULL
		ORDER BY `+score+` DESC, v.id DESC LIMIT $4`, video.Ready, video.Public, db.Millis(at), e.opts.Top)
	if err != nil {
		return nil, fmt.Errorf("feed: ranking: %w", err)
	}
	defer rows.Close()
	top = make([]candidate, 0, e.opts.Top)
	for rows.Next() {
		var c candidate
		if err := rows.Scan(&c.id, &c.creator); err != nil {
			return nil, fmt.Errorf("feed: ranking: %w", err)
		}
		top = append(top, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("feed: ranking: %w", err)
	}
	e.mu.Lock()
	e.top, e.scoredAt = top, at
	e.mu.Unlock()
	return top, nil
}

// score is a video's score at time $3 (unix milliseconds), in SQL.
const score = `(1 + v.view_count + 3 * v.like_count + 5 * v.comment_count + 8 * v.share_count)
	/ power(CAST(CASE WHEN $3 > v.published_at THEN $3 - v.published_at ELSE 0 END AS DOUBLE PRECISION) / 3600000 + 2, 1.5)`

// blocked returns the creators that viewer blocked.
func (e *EngagementRanker) blocked(ctx context.Context, viewer int64) (map[int64]bool, error) {
	rows, err := e.db.SQL().QueryContext(ctx, `SELECT blocked_id FROM blocks WHERE blocker_id = $1`, viewer)
	if err != nil {
		return nil, fmt.Errorf("feed: ranking: %w", err)
	}
	defer rows.Close()
	blocked := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("feed: ranking: %w", err)
		}
		blocked[id] = true
	}
	return blocked, rows.Err()
}

// seen returns which of the videos ids viewer's events show seen (impression or play); none
// for a visitor.
func (e *EngagementRanker) seen(ctx context.Context, viewer int64, ids []string) (map[string]bool, error) {
	seen := map[string]bool{}
	if viewer == 0 || len(ids) == 0 {
		return seen, nil
	}
	args := []any{viewer}
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := e.db.SQL().QueryContext(ctx, `SELECT DISTINCT video_id FROM events WHERE user_id = $1
		AND type IN ('impression', 'play') AND video_id IN (`+placeholders(2, len(ids))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("feed: ranking: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("feed: ranking: %w", err)
		}
		seen[id] = true
	}
	return seen, rows.Err()
}

// rank scores the whole catalogue for viewer, leaving out the videos whose id prefixes are in
// exclude, and returns the best limit.
func (e *EngagementRanker) rank(ctx context.Context, viewer int64, exclude []string, limit int) ([]string, error) {
	args := []any{video.Ready, video.Public, db.Millis(e.now()), viewer, limit}
	var notIn string
	if len(exclude) > 0 {
		notIn = ` AND substr(v.id, 1, ` + strconv.Itoa(SeenPrefix) + `) NOT IN (` + placeholders(len(args)+1, len(exclude)) + `)`
		for _, p := range exclude {
			args = append(args, p)
		}
	}
	rows, err := e.db.SQL().QueryContext(ctx, `SELECT v.id FROM videos v
		WHERE v.status = $1 AND v.visibility = $2 AND v.hidden = 0 AND v.published_at IS NOT NULL AND v.user_id <> $4
		AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = $4 AND b.blocked_id = v.user_id)
		AND NOT EXISTS (SELECT 1 FROM events ev WHERE $4 <> 0 AND ev.user_id = $4 AND ev.video_id = v.id
			AND ev.type IN ('impression', 'play'))`+notIn+`
		ORDER BY `+score+` DESC, v.id DESC
		LIMIT $5`, args...)
	if err != nil {
		return nil, fmt.Errorf("feed: ranking: %w", err)
	}
	defer rows.Close()
	ids := make([]string, 0, limit)
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
