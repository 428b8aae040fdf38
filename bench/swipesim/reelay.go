package main

import (
	"slices"
	"time"

	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/recommender"
)

// observeBatch is how many events fitReelay hands Observe at a time.
const observeBatch = 1000

// fitReelay feeds reelay's recommender the catalogue at the split and the history as the
// events a player sends, and ranks with it: Recommend at the split time with the user's
// follows, and their history's items excluded.
//
// Each interaction becomes, at its time At: impression (with the position), play, then at
// At + watch time either complete (a ratio of 1) or skip with watch_ms, then like, share,
// follow and not_interested as the user did them.
func fitReelay(lg *Log, sp split, items int, seed int64) ranker {
	m := recommender.New(recommender.Options{Seed: seed})
	ids := map[string]int{}
	for i, v := range lg.Videos[:items] {
		m.Upsert(v)
		ids[v.ID] = i
	}
	var events []feed.Event
	add := func(in Interaction, typ feed.EventType, watch int64, at time.Time) {
		events = append(events, feed.Event{
			UserID: in.User, Video: lg.Videos[in.Item].ID, Type: typ, WatchMS: watch,
			Position: int64(in.Position), At: at, CreatedAt: at,
		})
	}
	follows := map[int64][]int64{}
	for _, in := range sp.history {
		v := lg.Videos[in.Item]
		watch := int64(in.Ratio * float64(v.DurationMS))
		end := in.At.Add(time.Duration(watch) * time.Millisecond)
		add(in, feed.EventImpression, 0, in.At)
		add(in, feed.EventPlay, 0, in.At)
		if in.Ratio >= 1 {
			add(in, feed.EventComplete, v.DurationMS, end)
		} else {
			add(in, feed.EventSkip, watch, end)
		}
		if in.Liked {
			add(in, feed.EventLike, watch, end)
		}
		if in.Shared {
			add(in, feed.EventShare, watch, end)
		}
		if in.Followed {
			add(in, feed.EventFollow, watch, end)
			if !slices.Contains(follows[in.User], v.Creator) {
				follows[in.User] = append(follows[in.User], v.Creator)
			}
		}
		if in.NotInterested {
			add(in, feed.EventNotInterested, watch, end)
		}
	}
	// A view's end can come after the next user's start: the events go in order of time,
	// numbered in that order, as the events table would hold them.
	slices.SortStableFunc(events, func(a, b feed.Event) int { return a.At.Compare(b.At) })
	for i := range events {
		events[i].ID = int64(i + 1)
	}
	for len(events) > 0 {
		n := min(observeBatch, len(events))
		m.Observe(events[:n])
		events = events[n:]
	}

	return func(user int64, k int, seen map[int]bool) []int {
		exclude := make([]string, 0, len(seen))
		for i := range seen {
			exclude = append(exclude, lg.Videos[i].ID)
		}
		slices.Sort(exclude)
		picks := m.Recommend(recommender.Query{
			User: user, Follows: follows[user], Exclude: exclude, Limit: k, Now: sp.end,
		})
		list := make([]int, 0, len(picks))
		for _, p := range picks {
			if i, ok := ids[p.Video]; ok && !seen[i] {
				list = append(list, i)
			}
		}
		return list
	}
}
