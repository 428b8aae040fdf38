package main

import (
	"math"
	"slices"
	"time"

	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/recommender"
)

// observeBatch is how many events fitReelay hands Observe at a time.
const observeBatch = 1000

// reelayRanker is reelay's recommender fitted on a history.
type reelayRanker struct {
	m       *recommender.Model
	videos  []recommender.Video
	ids     map[string]int // video id → item
	follows map[int64][]int64
	served  map[int64][]string // each user's history, in the order served
	now     func(user int64) time.Time
	last    []recommender.Pick // the last answer of rank
}

// fitReelay feeds reelay's recommender the catalogue at the split and the history as the
// events a player sends (historyEvents); its rank asks Recommend at the user's split time
// (split.now) with the user's follows, and their history's items excluded.
func fitReelay(lg *Log, sp split, items int, opts recommender.Options) *reelayRanker {
	r := &reelayRanker{
		m: recommender.New(opts), videos: lg.Videos[:items],
		ids: map[string]int{}, follows: map[int64][]int64{}, served: map[int64][]string{}, now: sp.now,
	}
	for i, v := range r.videos {
		r.m.Upsert(v)
		r.ids[v.ID] = i
	}
	events := historyEvents(lg, sp.history, r.follows, r.served)
	for len(events) > 0 {
		n := min(observeBatch, len(events))
		r.m.Observe(events[:n])
		events = events[n:]
	}
	// The batch component as of the split, as a deployment refitting every RefitEvery
	// would hold shortly after it.
	r.m.Refit()
	return r
}

// historyEvents turns a history into the events a player would have sent, in order of time
// and numbered in that order, as the events table would hold them (a view's end can come
// after the next view's start). Each interaction becomes, at its time At: impression (with
// the position), play, then at At + watch time either complete (a ratio of 1) or skip with
// watch_ms, then like, share, follow and not_interested as the user did them. It adds each
// user's followed creators to follows and the videos served to them, in order, to served.
func historyEvents(lg *Log, history []Interaction, follows map[int64][]int64, served map[int64][]string) []feed.Event {
	var events []feed.Event
	add := func(in Interaction, typ feed.EventType, watch int64, at time.Time) {
		events = append(events, feed.Event{
			UserID: in.User, Video: lg.Videos[in.Item].ID, Type: typ, WatchMS: watch,
			Position: int64(in.Position), At: at, CreatedAt: at,
		})
	}
	for _, in := range history {
		v := lg.Videos[in.Item]
		watch := int64(in.Ratio * float64(v.DurationMS))
		end := in.At.Add(time.Duration(watch) * time.Millisecond)
		served[in.User] = append(served[in.User], v.ID)
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
	slices.SortStableFunc(events, func(a, b feed.Event) int { return a.At.Compare(b.At) })
	for i := range events {
		events[i].ID = int64(i + 1)
	}
	return events
}

// rank is reelay's top k for user, without the seen items: the user's history goes as
// Query.Exclude, in the order served (the recommender's diversity rules read its end), and
// the seen items are dropped from the answer.
func (r *reelayRanker) rank(user int64, k int, seen map[int]bool) []int {
	r.last = r.m.Recommend(recommender.Query{
		User: user, Follows: r.follows[user], Exclude: r.served[user], Limit: k, Now: r.now(user),
	})
	list := make([]int, 0, len(r.last))
	for _, p := range r.last {
		if i, ok := r.ids[p.Video]; ok && !seen[i] {
			list = append(list, i)
		}
	}
	return list
}

// ReelayDiagnostics says where reelay's rankings come from, for whoever tunes it.
type ReelayDiagnostics struct {
	// Top10Sources is the share of reelay's first 10 picks from each candidate source.
	Top10Sources map[string]float64 `json:"top10_sources"`
	// Top10Hits counts the held-out positives among the first 10 picks, by source.
	Top10Hits map[string]int `json:"top10_hits"`
	// MeanPicks is the mean length of reelay's lists (asked for 50).
	MeanPicks float64 `json:"mean_picks"`
	// PoolRecall is the share of the held-out positives that reelay proposes at all: in its
	// answer to a Limit of the whole catalogue, over the first PoolUsers users evaluated.
	PoolRecall float64 `json:"pool_recall"`
	PoolUsers  int     `json:"pool_users"`
}

// poolUsers is how many users the pool recall is measured on (a whole-catalogue page is slow).
const poolUsers = 100

// diagnose adds one evaluated user's figures to d: r.last is reelay's answer for them.
func (d *ReelayDiagnostics) diagnose(r *reelayRanker, user int64, seen, pos map[int]bool) {
	d.MeanPicks += float64(len(r.last))
	for _, p := range r.last[:min(10, len(r.last))] {
		d.Top10Sources[p.Source]++
		if pos[r.ids[p.Video]] {
			d.Top10Hits[p.Source]++
		}
	}
	if d.PoolUsers < poolUsers {
		d.PoolUsers++
		hits := 0
		for _, i := range r.rank(user, len(r.videos), seen) {
			if pos[i] {
				hits++
			}
		}
		d.PoolRecall += float64(hits) / float64(len(pos))
	}
}

// finish turns d's sums into means over users.
func (d *ReelayDiagnostics) finish(users int) {
	if users == 0 {
		return
	}
	total := 0.0
	for _, n := range d.Top10Sources {
		total += n
	}
	for s := range d.Top10Sources {
		d.Top10Sources[s] = math.Round(d.Top10Sources[s]/total*1000) / 1000
	}
	d.MeanPicks /= float64(users)
	if d.PoolUsers > 0 {
		d.PoolRecall /= float64(d.PoolUsers)
	}
}
