package feed

import (
	"context"
	"encoding/base64"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/videoid"
)

// newestVideos publishes, by creator, videos an hour apart, and videos that no feed shows; it
// returns the ids newest first.
func newestVideos(w *feedWorld, creator int64) (ranked []string) {
	now := time.Now()
	for i := range 6 {
		ranked = append(ranked, w.publish(creator, now.Add(-time.Duration(i)*time.Hour), ""))
	}
	for _, extra := range []string{"visibility = 'private'", "visibility = 'unlisted'", "hidden = 1", "status = 'processing'"} {
		w.publish(creator, now, extra)
	}
	return ranked
}

// TestForYouVisitor: the default ranker's page, newest first, and a cursor that leaves out
// what its pages served.
func TestForYouVisitor(t *testing.T) {
	forEachFeedWorld(t, Config{}, func(w *feedWorld) {
		creator, _ := w.user("creator")
		ranked := newestVideos(w, creator)
		for _, limit := range []string{"3", "4", "100"} {
			if got := w.all("/v1/feed/foryou?limit="+limit, ""); !slices.Equal(got, ranked) {
				t.Errorf("visitor by %s: %v, want %v", limit, got, ranked)
			}
		}
		first, next := w.page("/v1/feed/foryou?limit=2", "")
		hot := w.publish(creator, time.Now(), "")
		second, _ := w.page("/v1/feed/foryou?limit=2&cursor="+next, "")
		if !slices.Equal(first, ranked[:2]) || !slices.Equal(second, []string{hot, ranked[2]}) {
			t.Errorf("pages %v then %v, want %v then [%s %s]", first, second, ranked[:2], hot, ranked[2])
		}
	})
}

// TestForYouUser: the default ranker leaves out the viewer's own videos and their blocked
// creators'; items say what the viewer liked and follows.
func TestForYouUser(t *testing.T) {
	forEachFeedWorld(t, Config{}, func(w *feedWorld) {
		viewer, token := w.user("viewer")
		blocked, _ := w.user("blocked")
		creator, _ := w.user("creator")
		ranked := newestVideos(w, creator)
		w.publish(viewer, time.Now(), "")  // their own
		w.publish(blocked, time.Now(), "") // a creator they blocked
		w.exec(`INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, 1)`, viewer, blocked)
		w.follow(viewer, creator)
		w.exec(`INSERT INTO likes (video_id, user_id, created_at) VALUES ($1, $2, 1)`, ranked[0], viewer)
		if got := w.all("/v1/feed/foryou?limit=2", token); !slices.Equal(got, ranked) {
			t.Errorf("viewer: %v, want %v", got, ranked)
		}
		r := w.api.do("GET", "/v1/feed/foryou?limit=1", token, "")
		if it := r.body["items"].([]any)[0].(map[string]any); it["id"] != ranked[0] || it["liked"] != true ||
			it["following"] != true || it["creator"].(map[string]any)["handle"] != "creator" || it["explain"] != nil {
			t.Errorf("item: %v", it)
		}
		if got := w.all("/v1/feed/foryou?limit=5", ""); len(got) != len(ranked)+2 {
			t.Errorf("visitor: %d videos, want %d: the viewer's blocks count only for the viewer", len(got), len(ranked)+2)
		}
	})
}

// explainer is a hand-written Explainer: it explains each video as its position.
type explainer struct{ rankerFunc }

func (e explainer) Explain(_ context.Context, req RankRequest) ([]Ranked, error) {
	var out []Ranked
	for i, id := range e.rankerFunc(req) {
		out = append(out, Ranked{ID: id, Explanation: Explanation{Source: "test", Score: float64(-i), Reasons: []string{"position " + strconv.Itoa(i)}}})
	}
	return out, nil
}

// forYouParamCases are For You parameters, for the table test and the fuzz target: the
// status for a visitor, a user and an admin, and the visitor id a visitor's request carries.
var forYouParamCases = []struct {
	name, query          string
	visitor, user, admin int
	visitorID            string
}{
	{"none", "", 200, 200, 200, ""},
	{"explain", "explain=1", 403, 403, 200, ""},
	{"explain true", "explain=true", 403, 403, 200, ""},
	{"explain off", "explain=0", 200, 200, 200, ""},
	{"explain false", "explain=false", 200, 200, 200, ""},
	{"explain bad", "explain=yes", 400, 400, 400, ""},
	{"visitor", "visitor=visitor-0001", 200, 200, 200, "visitor-0001"},
	{"visitor short", "visitor=v1", 400, 400, 400, ""},
	{"visitor bad", "visitor=" + url.QueryEscape("x' OR 1=1 --"), 400, 400, 400, ""},
	{"visitor long", "visitor=" + strings.Repeat("v", 65), 400, 400, 400, ""},
}

// TestForYouParams: explain is for admins, and shows each item's reasons; a visitor id
// reaches the ranker.
func TestForYouParams(t *testing.T) {
	var mu sync.Mutex
	var ids []string
	var asked []RankRequest
	rank := rankerFunc(func(req RankRequest) []string {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, req)
		return ids
	})
	for _, r := range []struct {
		name   string
		ranker Ranker
	}{{"explainer", explainer{rank}}, {"ranker", rank}} {
		t.Run(r.name, func(t *testing.T) {
			forEachFeedWorld(t, Config{Ranker: r.ranker}, func(w *feedWorld) {
				_, token := w.user("viewer")
				creator, _ := w.user("creator")
				mu.Lock()
				ids = []string{w.publish(creator, time.Now(), ""), w.publish(creator, time.Now(), "")}
				mu.Unlock()
				for _, tc := range forYouParamCases {
					for _, who := range []struct {
						token  string
						status int
					}{{"", tc.visitor}, {token, tc.user}, {"admin-token-for-tests", tc.admin}} {
						mu.Lock()
						asked = nil
						mu.Unlock()
						resp := w.api.do("GET", "/v1/feed/foryou?"+tc.query, who.token, "")
						if resp.status != who.status {
							t.Errorf("%s as %q: %d %v, want %d", tc.name, who.token, resp.status, resp.body, who.status)
							continue
						}
						if resp.status != 200 {
							continue
						}
						items := resp.body["items"].([]any)
						explained := who.token == "admin-token-for-tests" && strings.Contains(tc.query, "explain=") && who.status == 200 &&
							!strings.HasSuffix(tc.query, "0") && !strings.HasSuffix(tc.query, "false")
						for i, it := range items {
							ex, ok := it.(map[string]any)["explain"].(map[string]any)
							switch {
							case ok != explained:
								t.Errorf("%s as %q: item %d explain %v, want it %v", tc.name, who.token, i, ex, explained)
							case ok && r.name == "explainer" && (ex["source"] != "test" || ex["reasons"].([]any)[0] != "position "+strconv.Itoa(i)):
								t.Errorf("%s: item %d explain %v", tc.name, i, ex)
							}
						}
						mu.Lock()
						if who.token == "" && (len(asked) != 1 || asked[0].Visitor != tc.visitorID) {
							t.Errorf("%s: asked %+v, want visitor %q", tc.name, asked, tc.visitorID)
						}
						if who.token == token && len(asked) == 1 && asked[0].Visitor != "" {
							t.Errorf("%s: a user's request carries visitor %q", tc.name, asked[0].Visitor)
						}
						mu.Unlock()
					}
				}
			})
		})
	}
}

// FuzzForYouParams: whatever the query, forYouParams refuses it or returns a visitor id the
// events would take, and explain only for an admin.
func FuzzForYouParams(f *testing.F) {
	for _, tc := range forYouParamCases {
		f.Add(tc.query, false)
		f.Add(tc.query, true)
	}
	f.Fuzz(func(t *testing.T, query string, admin bool) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		explain, visitor, err := forYouParams(q, auth.Principal{Admin: admin})
		if err != nil {
			return
		}
		if explain && !admin {
			t.Fatalf("%q: explain for a non-admin", query)
		}
		if visitor != "" && (!visitorRE.MatchString(visitor) || visitor != q.Get("visitor")) {
			t.Fatalf("%q: visitor %q", query, visitor)
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
		if len(asked) != 2 || asked[0].Viewer != viewer || asked[0].Visitor != "" || asked[1].Visitor != "" || asked[0].Limit != 2 || len(asked[0].Exclude) != 0 ||
			asked[1].Viewer != 0 || !slices.Equal(asked[1].Exclude, []string{a[:SeenPrefix], private[:SeenPrefix]}) {
			t.Errorf("requests: %+v", asked)
		}
	})
}
