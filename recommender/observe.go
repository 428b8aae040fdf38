package recommender

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/reelay/reelay/feed"
)

// user is what the events taught about one user or visitor.
type user struct {
	lastAt    time.Time // the time of their last event
	creators  map[int64]*interest
	tags      map[string]*interest
	blocked   []int64             // creators they said they are not interested in, the most recent maxInterests
	seen      map[uint64]struct{} // the seen videos, by idHash
	seenOrder []uint64            // seen, a ring of at most MaxSeen from seenNext, oldest first
	seenNext  int
	recent    []*item // watched videos, oldest first, at most recentWatched
	session   []*item // this session's watched videos, oldest first, at most sessionLen
	sessionAt time.Time
	views     []*view // the viewings in progress, the most recent last
}

// interest is a decaying affinity: its value v as of at.
type interest struct {
	v  float64
	at time.Time
}

// view is one user's viewing of one video, made of several events.
type view struct {
	it                     *item
	watchMS                int64
	ended, positive, liked bool
}

// How much each signal moves a user's interest in a video's creator (the hashtags move by
// half of it).
const (
	interestWatch         = 1.0
	interestLike          = 2.0
	interestShare         = 3.0
	interestFollow        = 3.0
	interestFastSkip      = -1.0
	interestShort         = -0.5 // a skip before shortRatio of the video
	interestNotInterested = -5.0
	positiveRatio         = 0.5 // a watch ratio that counts as watched
	shortRatio            = 0.25
	maxViews              = 8
)

// userKey is how the model names the user of an event or a query: "" for a visitor without
// an id, whose events teach about the videos only.
func userKey(id int64, visitor string) string {
	switch {
	case id != 0:
		return strconv.FormatInt(id, 10)
	case visitor != "":
		return "v:" + visitor
	}
	return ""
}

// Observe learns from events, in id order; each event's time is its At.
func (m *Model) Observe(events []feed.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range events {
		m.observe(&events[i])
	}
	for it := range m.moved {
		it.heavy = heaviest(it.neighbours, neighboursAsked)
		delete(m.moved, it)
	}
	m.evictUsers()
}

func (m *Model) observe(ev *feed.Event) {
	it := m.videos[ev.Video]
	if it == nil && len(m.videos)-m.pickable < maxPending {
		it = &item{Video: Video{ID: ev.Video}, hash: idHash(ev.Video)}
		m.videos[ev.Video] = it
	}
	var u *user
	if key := userKey(ev.UserID, ev.Visitor); key != "" {
		if u = m.users[key]; u == nil {
			u = &user{creators: map[int64]*interest{}, tags: map[string]*interest{}, seen: map[uint64]struct{}{}}
			m.users[key] = u
		}
		if ev.At.After(u.lastAt) {
			u.lastAt = ev.At
		}
	}
	t := ev.At
	m.listsDirty = true
	if it == nil { // too many unknown videos: only the user's seen set learns
		if u != nil {
			m.see(u, ev.Video)
		}
		return
	}
	var v *view
	if u != nil {
		v = u.view(it)
	} else {
		v = &view{it: it} // a visitor without an id: each event on its own
	}
	ratio := watchRatio(ev.WatchMS, it.DurationMS)
	if u != nil {
		m.see(u, it.ID) // whatever the event, they saw it
	}
	switch ev.Type {
	case feed.EventImpression:
		it.impressions++
	case feed.EventPlay:
		it.addPopularity(1, t, m.opts.PopularityHalfLife)
	case feed.EventProgress:
		v.watchMS = max(v.watchMS, ev.WatchMS)
		if ratio >= positiveRatio {
			m.watched(u, v, t)
		}
	case feed.EventComplete:
		v.watchMS = max(v.watchMS, it.DurationMS)
		m.end(v, 1, true, false)
		m.watched(u, v, t)
	case feed.EventSkip:
		v.watchMS = max(v.watchMS, ev.WatchMS)
		m.end(v, watchRatio(v.watchMS, it.DurationMS), false, true)
		switch {
		case v.watchMS < m.opts.FastSkip.Milliseconds() && !v.positive && u != nil:
			m.interest(u, it, interestFastSkip, t)
		case watchRatio(v.watchMS, it.DurationMS) < shortRatio && !v.positive && u != nil:
			m.interest(u, it, interestShort, t)
		case watchRatio(v.watchMS, it.DurationMS) >= positiveRatio:
			m.watched(u, v, t)
		}
	case feed.EventLike, feed.EventShare:
		w, pop := interestLike, 3.0
		if ev.Type == feed.EventShare {
			w, pop = interestShare, 5
			it.shares++
		} else if !v.liked {
			v.liked = true
			it.likes++
		}
		it.addPopularity(pop, t, m.opts.PopularityHalfLife)
		if u != nil {
			m.interest(u, it, w, t)
		}
		m.watched(u, v, t)
	case feed.EventFollow:
		if u != nil {
			m.interest(u, it, interestFollow, t)
		}
	case feed.EventNotInterested:
		m.end(v, watchRatio(v.watchMS, it.DurationMS), false, true)
		if u != nil {
			m.interest(u, it, interestNotInterested, t)
			if it.Creator != 0 && !slices.Contains(u.blocked, it.Creator) {
				u.blocked = append(u.blocked, it.Creator)
				if len(u.blocked) > maxInterests {
					u.blocked = u.blocked[1:]
				}
			}
		}
	}
}

// watchRatio is the share of a video watched, at most 1; 0 when its duration is unknown.
func watchRatio(watchMS, durationMS int64) float64 {
	if durationMS <= 0 {
		return 0
	}
	return min(float64(watchMS)/float64(durationMS), 1)
}

// end counts the end of a viewing, once.
func (m *Model) end(v *view, ratio float64, complete, skip bool) {
	if v.ended {
		return
	}
	v.ended = true
	it := v.it
	it.views++
	it.watched += ratio
	if complete {
		it.completes++
	}
	if skip {
		it.skips++
	}
}

// watched counts a viewing as watched, once: an interest in the video's creator and
// hashtags, a recently watched video, and a co-visit with the others of the session.
func (m *Model) watched(u *user, v *view, t time.Time) {
	if v.positive || u == nil {
		return
	}
	v.positive = true
	it := v.it
	m.interest(u, it, interestWatch, t)
	u.recent = appendCapped(u.recent, it, recentWatched)
	if t.Sub(u.sessionAt) > m.opts.SessionGap {
		u.session = u.session[:0]
	}
	for i, s := range u.session {
		if s != it {
			w := 1 / float64(len(u.session)-i) // the closer in the session, the more
			m.covisit(s, it, w)
			m.covisit(it, s, w)
		}
	}
	u.session = appendCapped(u.session, it, sessionLen)
	u.sessionAt = t
}

// covisit adds w to b's weight among a's neighbours, keeping the heaviest MaxNeighbours.
func (m *Model) covisit(a, b *item, w float64) {
	if a.neighbours == nil {
		a.neighbours = map[*item]float64{}
	}
	a.neighbours[b] += w
	m.moved[a] = true
	if len(a.neighbours) <= m.opts.MaxNeighbours {
		return
	}
	var light *item
	for n, nw := range a.neighbours {
		if n == b {
			continue
		}
		if light == nil || nw < a.neighbours[light] || nw == a.neighbours[light] && n.ID < light.ID {
			light = n
		}
	}
	delete(a.neighbours, light)
}

// interest moves u's interest in the creator of it by w, and in its hashtags by w/2.
func (m *Model) interest(u *user, it *item, w float64, t time.Time) {
	hl := m.opts.InterestHalfLife
	if it.Creator != 0 {
		addInterest(u.creators, it.Creator, w, t, hl)
	}
	for _, tag := range it.Tags {
		addInterest(u.tags, tag, w/2, t, hl)
	}
}

func addInterest[K cmp.Ordered](in map[K]*interest, k K, w float64, t time.Time, halfLife time.Duration) {
	x := in[k]
	if x == nil {
		x = &interest{at: t}
		in[k] = x
	}
	if t.After(x.at) {
		x.v = decay(x.v, x.at, t, halfLife)
		x.at = t
	}
	x.v += w
	if len(in) <= maxInterests {
		return
	}
	// Forget the weakest other one.
	var weak K
	found := false
	for key, y := range in {
		if key == k {
			continue
		}
		a := math.Abs(decay(y.v, y.at, t, halfLife))
		if !found || a < math.Abs(decay(in[weak].v, in[weak].at, t, halfLife)) || a == math.Abs(decay(in[weak].v, in[weak].at, t, halfLife)) && key < weak {
			weak, found = key, true
		}
	}
	delete(in, weak)
}

// see adds id to u's seen videos, forgetting the oldest past MaxSeen.
func (m *Model) see(u *user, id string) {
	h := idHash(id)
	if _, ok := u.seen[h]; ok {
		return
	}
	u.seen[h] = struct{}{}
	if len(u.seenOrder) < m.opts.MaxSeen {
		u.seenOrder = append(u.seenOrder, h)
		return
	}
	delete(u.seen, u.seenOrder[u.seenNext])
	u.seenOrder[u.seenNext] = h
	u.seenNext = (u.seenNext + 1) % len(u.seenOrder)
}

// idHash is the 64-bit FNV-1a hash of a video id: a seen set of hashes takes a third of the
// memory of one of ids, and two ids of one user's last MaxSeen collide with a chance of
// about 1 in 10^13.
func idHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

// view returns u's viewing of it, a new one when it is not among the recent ones.
func (u *user) view(it *item) *view {
	for i := len(u.views) - 1; i >= 0; i-- {
		if u.views[i].it == it {
			return u.views[i]
		}
	}
	v := &view{it: it}
	u.views = appendCapped(u.views, v, maxViews)
	return v
}

func appendCapped[T comparable](list []T, x T, n int) []T {
	if i := slices.Index(list, x); i >= 0 {
		list = slices.Delete(list, i, i+1)
	}
	list = append(list, x)
	if len(list) > n {
		list = slices.Delete(list, 0, len(list)-n)
	}
	return list
}

// evictUsers forgets the tenth of the users idle the longest once there are more than
// MaxUsers.
func (m *Model) evictUsers() {
	if len(m.users) <= m.opts.MaxUsers {
		return
	}
	type idle struct {
		key string
		at  time.Time
	}
	all := make([]idle, 0, len(m.users))
	for k, u := range m.users {
		all = append(all, idle{k, u.lastAt})
	}
	slices.SortFunc(all, func(a, b idle) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	for _, x := range all[:len(all)-m.opts.MaxUsers*9/10] {
		delete(m.users, x.key)
	}
}
