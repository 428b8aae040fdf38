package feed

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/videoid"
)

// engagementVideos publishes, by creator, videos whose interim scores are in a known order, and
// videos that no feed shows; it returns the ids in the order of their scores.
func engagementVideos(w *feedWorld, creator int64) (ranked []string) {
	now := time.Now()
	hour := now.Add(-time.Hour)
	for _, v := range []struct {
		at    time.Time
		extra string
	}{ // (1 + views + 3·likes + 5·comments + 8·shares) / (hours + 2)^1.5
		{hour, "like_count = 10"},                      // 31 / 5.20 = 5.97
		{hour, "like_count = 3"},                       // 10 / 5.20 = 1.92
		{hour, "share_count = 1"},                      // 9 / 5.20 = 1.73
		{hour, "comment_count = 1"},                    // 6 / 5.20 = 1.15
		{hour, "view_count = 4"},                       // 5 / 5.20 = 0.96
		{now, ""},                                      // 1 / 2.83 = 0.35
		{hour, ""},                                     // 1 / 5.20 = 0.19
		{now.Add(-100 * time.Hour), "like_count = 10"}, // 31 / 1030 = 0.03
	} {
		ranked = append(ranked, w.publish(creator, v.at, v.extra))
	}
	for _, extra := range []string{"visibility = 'private'", "visibility = 'unlisted'", "hidden = 1", "status = 'processing'"} {
		w.publish(creator, hour, "like_count = 100, "+extra)
	}
	return ranked
}

func TestForYouVisitor(t *testing.T) {
	forEachFeedWorld(t, Config{}, func(w *feedWorld) {
		creator, _ := w.user("creator")
		ranked := engagementVideos(w, creator)
		for _, limit := range []string{"3", "4", "100"} {
			if got := w.all("/v1/feed/foryou?limit="+limit, ""); !slices.Equal(got, ranked) {
				t.Errorf("visitor by %s: %v, want %v", limit, got, ranked)
			}
		}
		// A cursor leaves out what its pages served, whatever else happened meanwhile.
		first, next := w.page("/v1/feed/foryou?limit=2", "")
		w.exec(`UPDATE videos SET like_count = 1000 WHERE id = $1`, ranked[1])
		hot := w.publish(creator, time.Now(), "like_count = 50")
		second, _ := w.page("/v1/feed/foryou?limit=2&cursor="+next, "")
		if !slices.Equal(first, ranked[:2]) || !slices.Equal(second, []string{hot, ranked[2]}) {
			t.Errorf("pages %v then %v, want %v then [%s %s]", first, second, ranked[:2], hot, ranked[2])
		}
	})
}

func TestForYouUser(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts EngagementOptions
	}{
		{"from the best videos", EngagementOptions{Refresh: -1}},
		{"past the best videos", EngagementOptions{Refresh: -1, Top: 3}}, // own, blocked, seen: the rest by a full scan
	} {
		t.Run(tc.name, func(t *testing.T) { testForYouUser(t, tc.opts) })
	}
}

func testForYouUser(t *testing.T, opts EngagementOptions) {
	forEachRankedWorld(t, Config{}, opts, func(w *feedWorld) {
		viewer, token := w.user("viewer")
		other, _ := w.user("other")
		blocked, _ := w.user("blocked")
		creator, _ := w.user("creator")
		ranked := engagementVideos(w, creator)
		w.publish(viewer, time.Now(), "like_count = 100")  // their own
		w.publish(blocked, time.Now(), "like_count = 100") // a creator they blocked
		w.exec(`INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, 1)`, viewer, blocked)
		w.follow(viewer, creator)
		w.exec(`INSERT INTO likes (video_id, user_id, created_at) VALUES ($1, $2, 1)`, ranked[2], viewer)
		for _, e := range []struct {
			user  int64
			video string
			typ   string
		}{
			{viewer, ranked[0], "impression"}, // seen
			{viewer, ranked[1], "play"},       // seen
			{viewer, ranked[2], "skip"},       // not a sign of having seen it
			{other, ranked[3], "play"},        // someone else's
			{0, ranked[4], "impression"},      // a visitor's
		} {
			w.exec(`INSERT INTO events (user_id, video_id, type, at, created_at) VALUES ($1, $2, $3, 1, 1)`, e.user, e.video, e.typ)
		}
		if got := w.all("/v1/feed/foryou?limit=2", token); !slices.Equal(got, ranked[2:]) {
			t.Errorf("viewer: %v, want %v", got, ranked[2:])
		}
		r := w.api.do("GET", "/v1/feed/foryou?limit=1", token, "")
		if it := r.body["items"].([]any)[0].(map[string]any); it["id"] != ranked[2] || it["liked"] != true ||
			it["following"] != true || it["creator"].(map[string]any)["handle"] != "creator" {
			t.Errorf("item: %v", it)
		}
		if got := w.all("/v1/feed/foryou?limit=5", ""); len(got) != len(ranked)+2 {
			t.Errorf("visitor: %d videos, want %d: the viewer's seen ones count only for the viewer", len(got), len(ranked)+2)
		}
	})
}

// TestEngagementRankerRefresh: the ranker serves its scores for Refresh, then scores anew.
func TestEngagementRankerRefresh(t *testing.T) {
	forEachFeedWorld(t, Config{}, func(w *feedWorld) {
		creator, _ := w.user("creator")
		old := w.publish(creator, time.Now().Add(-time.Hour), "")
		clock := testenv.NewClock()
		e := NewEngagementRanker(w.d, EngagementOptions{Refresh: time.Minute})
		e.now = clock.Now
		rank := func() []string {
			ids, err := e.Rank(t.Context(), RankRequest{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			return ids
		}
		if got := rank(); !slices.Equal(got, []string{old}) {
			t.Fatalf("first: %v", got)
		}
		hot := w.publish(creator, time.Now(), "like_count = 10")
		if got := rank(); !slices.Equal(got, []string{old}) {
			t.Errorf("within Refresh: %v, want the scores of before", got)
		}
		clock.Add(time.Minute)
		if got := rank(); !slices.Equal(got, []string{hot, old}) {
			t.Errorf("after Refresh: %v, want [%s %s]", got, hot, old)
		}
	})
}

// cursorCases are cursors that the API did not give, for the feeds' table test and fuzz target.
var cursorCases = []struct {
	name, cursor      string
	following, forYou int // the statuses of each feed
}{
	{"not base64", "!!!", 400, 400},
	{"not JSON", b64("{"), 400, 400},
	{"trailing data", b64(`{"s":"aaaaaaaaaa"} {}`), 400, 400},
	{"unknown field", b64(`{"s":"aaaaaaaaaa","x":1}`), 400, 400},
	{"seen: a valid For You cursor", b64(`{"s":"aaaaaaaaaabbbbbbbbbb"}`), 400, 200},
	{"seen: empty", b64(`{"s":""}`), 400, 400},
	{"seen: not whole prefixes", b64(`{"s":"aaaaaaaaaab"}`), 400, 400},
	{"seen: not base32", b64(`{"s":"AAAAAAAAAA"}`), 400, 400},
	{"seen: too many", b64(`{"s":"` + strings.Repeat("a", SeenPrefix*(MaxSeen+1)) + `"}`), 400, 400},
	{"seen: not a string", b64(`{"s":1}`), 400, 400},
	{"position: a valid Following cursor", b64(`{"p":1700000000000,"v":"` + strings.Repeat("a", videoid.Len) + `"}`), 200, 400},
	{"position: no time", b64(`{"p":0,"v":"` + strings.Repeat("a", videoid.Len) + `"}`), 400, 400},
	{"position: negative time", b64(`{"p":-1,"v":"` + strings.Repeat("a", videoid.Len) + `"}`), 400, 400},
	{"position: not an id", b64(`{"p":1700000000000,"v":"x' OR 1=1"}`), 400, 400},
	{"too long", strings.Repeat("a", maxCursor+1), 400, 400},
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestFeedCursors(t *testing.T) {
	forEachFeedWorld(t, Config{}, func(w *feedWorld) {
		_, token := w.user("viewer")
		for _, tc := range cursorCases {
			for _, f := range []struct {
				path   string
				status int
			}{{"/v1/feed/following", tc.following}, {"/v1/feed/foryou", tc.forYou}} {
				r := w.api.do("GET", f.path+"?cursor="+tc.cursor, token, "")
				if r.status != f.status || (f.status == 400 && r.errCode() != "bad_cursor") {
					t.Errorf("%s %s: %d %v, want %d", f.path, tc.name, r.status, r.body, f.status)
				}
			}
		}
		for _, limit := range []string{"0", "101", "x", "-1"} {
			for _, path := range []string{"/v1/feed/following", "/v1/feed/foryou"} {
				if r := w.api.do("GET", path+"?limit="+limit, token, ""); r.status != 400 || r.errCode() != "bad_limit" {
					t.Errorf("%s limit %s: %d %v", path, limit, r.status, r.body)
				}
			}
		}
	})
}

// TestForYouCursorBound: the cursor remembers the most recent MaxSeen videos, and stays under
// maxCursor.
func TestForYouCursorBound(t *testing.T) {
	var served, seen []string
	for range 7 {
		page := make([]string, MaxLimit)
		for i := range page {
			page[i] = videoid.New()
		}
		served = append(served, page...)
		cursor := encodeCursor(forYouCursor{Seen: joinSeen(seen, page)})
		if len(cursor) > maxCursor {
			t.Fatalf("cursor of %d characters, over %d", len(cursor), maxCursor)
		}
		var c forYouCursor
		if err := decodeCursor(cursor, &c); err != nil {
			t.Fatal(err)
		}
		var ok bool
		if seen, ok = seenPrefixes(c.Seen); !ok {
			t.Fatalf("the cursor's seen videos do not parse: %q", c.Seen)
		}
	}
	recent := served[len(served)-MaxSeen:]
	if len(seen) != MaxSeen {
		t.Fatalf("%d seen, want %d", len(seen), MaxSeen)
	}
	for i, id := range recent {
		if seen[i] != id[:SeenPrefix] {
			t.Fatalf("seen[%d] = %s, want the prefix of %s", i, seen[i], id)
		}
	}
}

// FuzzFeedCursors: whatever a client sends as a cursor, a feed either refuses it or reads a
// position it could have given itself.
func FuzzFeedCursors(f *testing.F) {
	for _, tc := range cursorCases {
		f.Add(tc.cursor)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var fc followingCursor
		if decodeCursor(s, &fc) == nil && fc.valid() {
			var again followingCursor
			if err := decodeCursor(encodeCursor(fc), &again); err != nil || again != fc {
				t.Fatalf("following cursor %+v does not round-trip: %+v, %v", fc, again, err)
			}
		}
		var yc forYouCursor
		if decodeCursor(s, &yc) == nil {
			if seen, ok := seenPrefixes(yc.Seen); ok {
				if len(seen) == 0 || len(seen) > MaxSeen || joinSeen(seen, nil) != yc.Seen {
					t.Fatalf("seen %q parsed as %d prefixes", yc.Seen, len(seen))
				}
				for _, p := range seen {
					if len(p) != SeenPrefix {
						t.Fatalf("prefix %q", p)
					}
				}
			}
		}
	})
}

// rankerFunc is a hand-written Ranker.
type rankerFunc func(RankRequest) []string

func (f rankerFunc) Rank(_ context.Context, req RankRequest) ([]string, error) { return f(req), nil }

// TestForYouDistrustsRanker: whatever a Ranker returns, a page holds at most limit videos, each
// once, none that the cursor served, and nothing the viewer may not see.
func TestForYouDistrustsRanker(t *testing.T) {
	var mu sync.Mutex
	var answer []string
	var asked []RankRequest
	cfg := Config{Ranker: rankerFunc(func(req RankRequest) []string {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, req)
		return answer
	})}
	forEachFeedWorld(t, cfg, func(w *feedWorld) {
		viewer, token := w.user("viewer")
		creator, _ := w.user("creator")
		a := w.publish(creator, time.Now(), "")
		b := w.publish(creator, time.Now(), "")
		c := w.publish(creator, time.Now(), "")
		private := w.publish(creator, time.Now(), "visibility = 'private'")
		mu.Lock()
		answer, asked = []string{a, a, "not-an-id", private, b, c}, nil
		mu.Unlock()
		ids, next := w.page("/v1/feed/foryou?limit=2", token)
		if !slices.Equal(ids, []string{a}) || next == "" {
			t.Errorf("first page: %v, %q; want [%s] (private %s left out) and a cursor", ids, next, a, private)
		}
		ids, _ = w.page("/v1/feed/foryou?limit=2&cursor="+next, "")
		if !slices.Equal(ids, []string{b, c}) {
			t.Errorf("second page: %v, want [%s %s]", ids, b, c)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(asked) != 2 || asked[0].Viewer != viewer || asked[0].Limit != 2 || len(asked[0].Exclude) != 0 ||
			asked[1].Viewer != 0 || !slices.Equal(asked[1].Exclude, []string{a[:SeenPrefix], private[:SeenPrefix]}) {
			t.Errorf("requests: %+v", asked)
		}
	})
}
