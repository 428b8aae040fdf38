package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/reelay/reelay/bench/swipesim/world"
	"github.com/reelay/reelay/recommender"
)

// simConfig shapes the simulated history.
type simConfig struct {
	// Hours is how long users swipe, from the world's Start; new uploads arrive all along.
	Hours float64
	// SessionsPerDay is how often a user of activity 1 opens the app. Default 6.
	SessionsPerDay float64
	// Swipes is the mean number of videos of a session (geometric). Default 20.
	Swipes float64
	// PopularShare is the share of feed slots filled from the most popular videos so far;
	// the rest are drawn uniformly from the catalogue. 0: none.
	PopularShare float64
}

// gap is the time between the end of one view and the start of the next.
const gap = 300 * time.Millisecond

// session is one visit of a user to the feed.
type session struct {
	user  int // index in the world's Users
	start time.Time
}

// simulate lets the world's users swipe through feeds for cfg.Hours. The feed is the same
// logging policy for everyone: each slot a uniformly drawn video of the catalogue at that
// time or, with probability PopularShare, one of the 100 most watched-to-the-end so far, never
// a video the user has seen. Every contender learns from the same logs.
func simulate(w *world.World, cfg simConfig) *Log {
	if cfg.SessionsPerDay <= 0 {
		cfg.SessionsPerDay = 6
	}
	if cfg.Swipes <= 0 {
		cfg.Swipes = 20
	}
	rng := rand.New(rand.NewPCG(uint64(w.Config.Seed), 0x415_7012))
	start := w.Config.Start
	span := time.Duration(cfg.Hours * float64(time.Hour))
	var sessions []session
	for i, u := range w.Users {
		for range poisson(rng, u.Activity*cfg.SessionsPerDay*cfg.Hours/24) {
			sessions = append(sessions, session{i, start.Add(time.Duration(rng.Float64() * float64(span)))})
		}
	}
	slices.SortStableFunc(sessions, func(a, b session) int { return a.start.Compare(b.start) })

	lg := &Log{Oracle: func(user int64, item int) float64 {
		return w.Expected(w.User(user), &w.Videos[item], false)
	}}
	for _, v := range w.Videos {
		lg.Videos = append(lg.Videos, recommender.Video{
			ID: v.ID, Creator: v.CreatorID, Tags: v.Tags, DurationMS: v.DurationMS, Published: v.Published,
		})
	}
	seen := make([]map[int]bool, len(w.Users))
	follows := make([]map[int64]bool, len(w.Users))
	completes := make([]float64, len(w.Videos))
	var top []int
	for n, s := range sessions {
		if n%200 == 0 {
			top = topVideos(completes, w.Published(s.start), 100)
		}
		u := &w.Users[s.user]
		if seen[s.user] == nil {
			seen[s.user], follows[s.user] = map[int]bool{}, map[int64]bool{}
		}
		at := s.start
		swipes := 1 + int(rng.ExpFloat64()*(cfg.Swipes-1))
		for pos := range swipes {
			published := w.Published(at)
			item, ok := pickVideo(rng, published, top, seen[s.user], cfg.PopularShare)
			if !ok {
				break
			}
			v := &w.Videos[item]
			seen[s.user][item] = true
			o := w.Watch(u, v, follows[s.user][v.CreatorID], rng)
			if o.Followed {
				follows[s.user][v.CreatorID] = true
			}
			if o.Ratio >= 0.8 {
				completes[item]++
			}
			lg.Interactions = append(lg.Interactions, Interaction{
				User: u.ID, Item: item, At: at, Position: pos, Ratio: o.Ratio, Positive: o.Ratio >= 0.8,
				Liked: o.Liked, Shared: o.Shared, Followed: o.Followed, NotInterested: o.NotInterested,
			})
			at = at.Add(time.Duration(o.WatchMS)*time.Millisecond + gap)
		}
	}
	sortInteractions(lg.Interactions)
	return lg
}

// pickVideo fills one feed slot among the first published videos.
func pickVideo(rng *rand.Rand, published int, top []int, seen map[int]bool, popular float64) (int, bool) {
	if published == 0 {
		return 0, false
	}
	if rng.Float64() < popular && len(top) > 0 {
		for range 10 {
			if i := top[rng.IntN(len(top))]; !seen[i] {
				return i, true
			}
		}
	}
	for range 20 {
		if i := rng.IntN(published); !seen[i] {
			return i, true
		}
	}
	return 0, false
}

// topVideos returns the k videos of most completes among the first published.
func topVideos(completes []float64, published, k int) []int {
	idx := make([]int, published)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case completes[a] > completes[b]:
			return -1
		case completes[a] < completes[b]:
			return 1
		}
		return 0
	})
	return idx[:min(k, len(idx))]
}

// poisson draws from a Poisson distribution of mean lambda (Knuth's method; lambda is small).
func poisson(rng *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
