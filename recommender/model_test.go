package recommender

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reelay/reelay/feed"
)

// t0 is the time of the tests' worlds.
var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// world is a model, its videos and a clock, for the tests.
type world struct {
	t     *testing.T
	m     *Model
	now   time.Time
	ids   int
	byID  map[string]Video
	evID  int64
	added []feed.Event // every event observed, in order
}

func newWorld(t *testing.T, opts Options) *world {
	return &world{t: t, m: New(opts), now: t0, byID: map[string]Video{}}
}

// video adds a video of creator's, published age ago, 15 s long.
func (w *world) video(creator int64, age time.Duration, tags ...string) string {
	w.ids++
	id := fmt.Sprintf("v%09d-%d", w.ids, creator) // unique in its first prefixLen characters
	v := Video{ID: id, Creator: creator, Tags: tags, DurationMS: 15_000, Published: w.now.Add(-age)}
	w.byID[id] = v
	w.m.Upsert(v)
	return id
}

// event observes one event of user's at the world's time, a millisecond after the last.
func (w *world) event(user int64, video string, typ feed.EventType, watchMS int64) {
	w.now = w.now.Add(time.Millisecond)
	w.evID++
	ev := feed.Event{ID: w.evID, UserID: user, Video: video, Type: typ, WatchMS: watchMS, At: w.now, CreatedAt: w.now}
	if user < 0 {
		ev.UserID, ev.Visitor = 0, fmt.Sprintf("visitor-%d", -user)
	}
	w.added = append(w.added, ev)
	w.m.Observe([]feed.Event{ev})
}

// watch has user watch video to the end.
func (w *world) watch(user int64, video string) {
	w.event(user, video, feed.EventImpression, 0)
	w.event(user, video, feed.EventPlay, 0)
	w.event(user, video, feed.EventComplete, 15_000)
}

// page asks for a page of q (its Now the world's, its Limit 10 unless set).
func (w *world) page(q Query) []Pick {
	if q.Limit == 0 {
		q.Limit = 10
	}
	q.Now = w.now
	return w.m.Recommend(q)
}

func ids(picks []Pick) []string {
	out := make([]string, len(picks))
	for i, p := range picks {
		out[i] = p.Video
	}
	return out
}

func sourceOf(picks []Pick, id string) string {
	for _, p := range picks {
		if p.Video == id {
			return p.Source
		}
	}
	return ""
}

// TestRecommendSources: each candidate source proposes what it should, credited to it.
func TestRecommendSources(t *testing.T) {
	for _, tc := range []struct {
		name, source string
		// setup builds the world and returns the query and the video the source must propose.
		setup func(w *world) (Query, string)
	}{
		{"following", SourceFollowing, func(w *world) (Query, string) {
			v := w.video(7, 48*time.Hour)
			for c := range int64(20) {
				p := w.video(100+c, 48*time.Hour)
				w.watch(-1-c, p) // popular videos of others
			}
			return Query{User: 1, Follows: []int64{7}}, v
		}},
		{"covisit", SourceCovisit, func(w *world) (Query, string) {
			a, b := w.video(7, 48*time.Hour), w.video(8, 48*time.Hour)
			for c := range int64(30) {
				w.video(100+c, 48*time.Hour, "other")
			}
			for u := int64(10); u < 15; u++ {
				w.watch(u, a)
				w.watch(u, b)
			}
			w.watch(1, a)
			return Query{User: 1}, b
		}},
		{"similar by hashtag", SourceSimilar, func(w *world) (Query, string) {
			liked := w.video(7, 48*time.Hour, "cats")
			for c := range int64(30) {
				w.watch(-1-c, w.video(100+c, 48*time.Hour, "dogs")) // popular, about something else
			}
			same := w.video(8, 48*time.Hour, "cats")
			w.event(1, liked, feed.EventLike, 0)
			return Query{User: 1, Limit: 100}, same
		}},
		{"popular", SourcePopular, func(w *world) (Query, string) {
			var hot string
			for c := range int64(30) {
				v := w.video(100+c, 48*time.Hour)
				if c == 17 {
					hot = v
					for u := range int64(10) {
						w.watch(-1-u, v)
						w.event(-1-u, v, feed.EventLike, 0)
					}
				}
			}
			return Query{User: 1}, hot
		}},
		{"fresh", SourceFresh, func(w *world) (Query, string) {
			for c := range int64(30) {
				w.watch(-1-c, w.video(100+c, 48*time.Hour))
			}
			return Query{User: 1}, w.video(7, time.Minute)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, Options{})
			q, want := tc.setup(w)
			picks := w.page(q)
			if got := sourceOf(picks, want); got != tc.source {
				t.Errorf("%s: source %q, want %q in %+v", want, got, tc.source, picks)
			}
			if tc.name == "popular" && picks[0].Video != want {
				t.Errorf("first %s, want the popular %s", picks[0].Video, want)
			}
		})
	}
}

// TestRecommendDiversity: whatever the scores, no creator twice in a row and at most 2 of
// any 10, across pages too.
func TestRecommendDiversity(t *testing.T) {
	w := newWorld(t, Options{})
	for c := range int64(8) {
		for range 25 {
			v := w.video(c+1, 48*time.Hour, fmt.Sprintf("tag%d", c%2))
			if c < 2 { // two creators much better than the rest
				for u := range int64(4) {
					w.watch(-1-u, v)
				}
			}
		}
	}
	w.watch(1, w.byID[ids(w.page(Query{User: 1}))[0]].ID) // a user with interests
	for _, user := range []int64{1, 0} {
		var served []string
		for range 6 {
			page := w.page(Query{User: user, Exclude: served})
			if len(page) == 0 {
				break
			}
			served = append(served, ids(page)...)
		}
		if len(served) < 40 {
			t.Fatalf("user %d: %d videos served in 6 pages", user, len(served))
		}
		adjacent := 0
		for i, id := range served {
			c := w.byID[id].Creator
			if i > 0 && w.byID[served[i-1]].Creator == c {
				adjacent++
			}
			n := 0
			for _, o := range served[max(0, i-9) : i+1] {
				if w.byID[o].Creator == c {
					n++
				}
			}
			if n > 2 {
				t.Errorf("user %d: creator %d has %d of the 10 videos up to %d", user, c, n, i)
			}
		}
		if adjacent != 0 {
			t.Errorf("user %d: %d same-creator adjacencies", user, adjacent)
		}
	}
}

// TestRecommendFewCreators: when the candidates cannot keep the rules of diversity (one
// creator, or two), the page is full all the same, spaced out as far as they allow.
func TestRecommendFewCreators(t *testing.T) {
	for _, creators := range []int64{1, 2} {
		w := newWorld(t, Options{})
		for c := range creators {
			for range 12 {
				w.video(c+1, 48*time.Hour)
			}
		}
		page := ids(w.page(Query{Limit: 12}))
		if len(page) != 12 {
			t.Errorf("%d creators: a page of %d, want 12", creators, len(page))
		}
		for i := 1; i < len(page) && creators > 1; i++ {
			if w.byID[page[i]].Creator == w.byID[page[i-1]].Creator {
				t.Errorf("%d creators: the same creator at %d and %d: %v", creators, i-1, i, page)
			}
		}
	}
}

// TestRecommendFilters: never what was seen or excluded, a blocked creator's, the user's own,
// or a video that is not pickable.
func TestRecommendFilters(t *testing.T) {
	w := newWorld(t, Options{})
	var all []string
	for c := range int64(12) {
		all = append(all, w.video(c+1, 48*time.Hour), w.video(c+1, 47*time.Hour))
	}
	seen, byPrefix, byID, removed := all[0], all[2], all[4], all[6]
	w.event(1, seen, feed.EventImpression, 0)
	w.m.Remove(removed)
	w.event(2, "vpending00-9", feed.EventPlay, 0) // known from events only
	q := Query{User: 1, Exclude: []string{byPrefix[:prefixLen], byID}, Blocked: []int64{5}, Limit: 100}
	got := ids(w.page(q))
	for _, id := range got {
		v := w.byID[id]
		switch {
		case id == seen, id == byPrefix, id == byID, id == removed, id == "vpending00-9":
			t.Errorf("%s picked", id)
		case v.Creator == 1:
			t.Errorf("%s: the user's own picked", id)
		case v.Creator == 5:
			t.Errorf("%s: a blocked creator's picked", id)
		}
	}
	// Less the 4 above, the own and the blocked (the seen one was own).
	if want := len(all) - 4 - 2 - 2 + 1; len(got) != want {
		t.Errorf("%d picked, want %d: %v", len(got), want, got)
	}
	// A visitor's seen videos count for that visitor only.
	w.event(-9, all[10], feed.EventPlay, 0)
	if got := ids(w.page(Query{Visitor: "visitor-9", Limit: 100})); slices.Contains(got, all[10]) {
		t.Errorf("the visitor's seen %s picked", all[10])
	}
	if got := ids(w.page(Query{Visitor: "visitor-8", Limit: 100})); !slices.Contains(got, all[10]) {
		t.Errorf("another visitor does not get %s", all[10])
	}
}

// TestNotInterestedCreator: not_interested on a video leaves out its creator's videos for
// that user, and for that user only.
func TestNotInterestedCreator(t *testing.T) {
	w := newWorld(t, Options{})
	var bad []string
	for c := range int64(6) {
		for range 3 {
			v := w.video(c+1, 48*time.Hour)
			if c == 2 {
				bad = append(bad, v)
				w.watch(-1, v) // popular: first in every page before
			}
		}
	}
	if got := ids(w.page(Query{User: 9})); !slices.Contains(got, bad[1]) {
		t.Fatalf("before: %v without %s", got, bad[1])
	}
	w.event(9, bad[0], feed.EventNotInterested, 0)
	got := ids(w.page(Query{User: 9, Limit: 100}))
	for _, id := range got {
		if w.byID[id].Creator == 3 {
			t.Errorf("after not_interested: %s of the creator picked", id)
		}
	}
	if len(got) == 0 {
		t.Error("after not_interested: an empty page")
	}
	if got := ids(w.page(Query{User: 10})); !slices.Contains(got, bad[1]) {
		t.Errorf("another user: %v without %s", got, bad[1])
	}
}

// TestThompsonReachesNewVideos: visitors who see the pages get every new video shown, each
// many times, while the old popular ones fill the rest; a new video that viewers complete
// and like rises above one they skip.
func TestThompsonReachesNewVideos(t *testing.T) {
	w := newWorld(t, Options{Seed: 1})
	for c := range int64(50) {
		for range 4 {
			v := w.video(c+1, 48*time.Hour)
			for u := range int64(3) {
				w.watch(-1000-u, v)
			}
		}
	}
	var fresh []string
	for c := range int64(20) {
		fresh = append(fresh, w.video(100+c, 0))
	}
	good, bad := fresh[0], fresh[1]
	impressions := map[string]int{}
	for r := range int64(600) {
		visitor := -1 - r
		for _, p := range w.page(Query{Visitor: fmt.Sprintf("visitor-%d", -visitor)}) {
			w.event(visitor, p.Video, feed.EventImpression, 0)
			impressions[p.Video]++
			switch p.Video {
			case good:
				w.event(visitor, good, feed.EventPlay, 0)
				w.event(visitor, good, feed.EventComplete, 15_000)
				w.event(visitor, good, feed.EventLike, 0)
			case bad:
				w.event(visitor, bad, feed.EventPlay, 0)
				w.event(visitor, bad, feed.EventSkip, 500)
			}
		}
		w.now = w.now.Add(time.Second) // 600 pages in 10 minutes
	}
	for _, id := range fresh {
		if impressions[id] < 50 {
			t.Errorf("new video %s: %d impressions in 10 minutes, want at least 50", id, impressions[id])
		}
	}
	page := ids(w.page(Query{Visitor: "newcomer-1"}))
	if i := slices.Index(page, good); i < 0 || i > 2 {
		t.Errorf("the good new video at %d of %v, want among the first 3", i, page)
	}
	if slices.Index(page, bad) >= 0 && slices.Index(page, bad) < slices.Index(page, good) {
		t.Errorf("the skipped new video ranks above the good one: %v", page)
	}
}

// TestRecommendReplay: a model given the same videos and events in the same batches or
// another answers alike: the state is a function of the events, as the rebuild needs.
func TestRecommendReplay(t *testing.T) {
	w := newWorld(t, Options{Seed: 3})
	for c := range int64(10) {
		for range 5 {
			w.video(c+1, 48*time.Hour, fmt.Sprintf("t%d", c%3))
		}
	}
	for u := range int64(20) {
		page := w.page(Query{User: u + 100})
		for i, p := range page {
			switch i % 3 {
			case 0:
				w.watch(u+100, p.Video)
			case 1:
				w.event(u+100, p.Video, feed.EventSkip, 300)
			default:
				w.event(u+100, p.Video, feed.EventLike, 0)
			}
		}
	}
	again := New(Options{Seed: 3})
	for _, v := range w.byID {
		again.Upsert(v)
	}
	for i := 0; i < len(w.added); i += 7 {
		again.Observe(w.added[i:min(i+7, len(w.added))])
	}
	w.m.calls.Store(0)
	for u := range int64(22) {
		q := Query{User: u + 100, Limit: 20, Now: w.now.Add(time.Minute), Explain: true}
		a, b := w.m.Recommend(q), again.Recommend(q)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("user %d: live %v, replayed %v", u+100, a, b)
		}
	}
}

// TestModelBounds: however many users, events and videos, the model keeps at most MaxUsers
// users, MaxSeen seen videos each, maxInterests interests each, and MaxNeighbours co-visited
// videos per video.
func TestModelBounds(t *testing.T) {
	w := newWorld(t, Options{MaxUsers: 50, MaxSeen: 20, MaxNeighbours: 5})
	var vids []string
	for c := range int64(300) {
		vids = append(vids, w.video(c+1, 48*time.Hour, fmt.Sprint("tag", c)))
	}
	for u := range int64(200) {
		for i := range 40 {
			w.watch(u+1, vids[(int(u)*7+i)%len(vids)])
		}
	}
	w.m.mu.RLock()
	defer w.m.mu.RUnlock()
	if n := len(w.m.users); n > 50 {
		t.Errorf("%d users kept, want at most 50", n)
	}
	if w.m.users["200"] == nil {
		t.Error("the last user was forgotten")
	}
	for k, u := range w.m.users {
		if len(u.seen) > 20 || len(u.seenOrder) > 20 {
			t.Errorf("user %s: %d seen", k, len(u.seen))
		}
		if len(u.creators) > maxInterests || len(u.tags) > maxInterests || len(u.recent) > recentWatched || len(u.session) > sessionLen {
			t.Errorf("user %s: %d creators, %d tags, %d recent, %d in the session", k, len(u.creators), len(u.tags), len(u.recent), len(u.session))
		}
	}
	for id, it := range w.m.videos {
		if len(it.neighbours) > 5 {
			t.Errorf("video %s: %d neighbours", id, len(it.neighbours))
		}
	}
	// A removed video leaves its neighbours' lists.
	var gone string
	for id, it := range w.m.videos {
		if len(it.neighbours) > 0 && (gone == "" || id < gone) {
			gone = id
		}
	}
	w.m.mu.RUnlock()
	w.m.Remove(gone)
	w.m.mu.RLock()
	for id, it := range w.m.videos {
		for n := range it.neighbours {
			if n.ID == gone {
				t.Errorf("video %s still holds the removed %s among its neighbours", id, gone)
			}
		}
		for _, n := range it.heavy {
			if n.it.ID == gone {
				t.Errorf("video %s still holds the removed %s among its heaviest neighbours", id, gone)
			}
		}
	}
	// The seen set forgets the oldest: the user's first videos are candidates again.
	u := w.m.users["200"]
	if _, ok := u.seen[idHash(vids[(199*7)%len(vids)])]; ok {
		t.Error("the oldest seen video is still remembered")
	}
	if _, ok := u.seen[idHash(vids[(199*7+39)%len(vids)])]; !ok {
		t.Error("the newest seen video is forgotten")
	}
}

// TestModelConcurrent: pages, events, upserts and removals at once (for the race detector),
// and every page full and free of removed videos throughout.
func TestModelConcurrent(t *testing.T) {
	w := newWorld(t, Options{})
	var vids []string
	for c := range int64(40) {
		for range 5 {
			vids = append(vids, w.video(c+1, time.Duration(c)*time.Hour))
		}
	}
	w.m.Remove(vids[0])
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
				page := w.m.Recommend(Query{User: int64(g + 1), Limit: 10, Now: now})
				if len(page) != 10 {
					t.Errorf("a page of %d", len(page))
					return
				}
				for _, p := range page {
					if p.Video == vids[0] {
						t.Errorf("removed %s picked", p.Video)
						return
					}
				}
				w.m.Observe([]feed.Event{{UserID: int64(g + 1), Video: page[0].Video, Type: feed.EventComplete, At: now},
					{UserID: int64(g + 10), Video: page[1].Video, Type: feed.EventLike, At: now}})
			}
		})
	}
	for i := range 200 {
		v := w.byID[vids[1+i%len(vids[1:])]]
		v.Tags = []string{fmt.Sprint("t", i)}
		w.m.Upsert(v)
	}
	close(stop)
	wg.Wait()
}

// TestWeights scores one candidate under several weights: Options.Weights, then SetWeights's,
// which takes effect on the model's next score.
func TestWeights(t *testing.T) {
	m := New(Options{Weights: &Weights{Batch: 2}})
	now := time.Unix(1e9, 0)
	it := &item{Video: Video{ID: "aaaaaaaaaaaaaaaaaaaaaaaaaa", Creator: 1, Published: now.Add(-48 * time.Hour)}, impressions: 1000}
	f := &filter{follows: map[int64]bool{}}
	score := func(u *user) float64 {
		c := &candidate{it: it, batch: 0.5}
		m.score(c, u, f, now, nil)
		return c.score
	}
	if got := m.Weights(); got != (Weights{Batch: 2}) {
		t.Fatalf("Weights() = %+v, want Options.Weights", got)
	}
	if got := score(nil); got != 1 {
		t.Errorf("batch 2 × 0.5: score %v, want 1", got)
	}
	m.SetWeights(Weights{Batch: 2, Quality: 1, Follow: 0.5})
	f.follows[1] = true
	if got, want := score(nil), 1+it.predict(nil).value()+0.5; math.Abs(got-want) > 1e-9 {
		t.Errorf("after SetWeights: score %v, want %v", got, want)
	}
}
