package feed

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
)

// searchIDs returns the ids of the items of one page of a search, and its next cursor.
func searchIDs(t *testing.T, api *client, token, query string) ([]string, string) {
	t.Helper()
	r := api.do("GET", "/v1/search?"+query, token, "")
	if r.status != 200 {
		t.Fatalf("search %s: %d %v", query, r.status, r.body)
	}
	ids := []string{}
	for _, it := range r.body["items"].([]any) {
		ids = append(ids, it.(map[string]any)["id"].(string))
	}
	return ids, r.body["next_cursor"].(string)
}

func TestSearch(t *testing.T) {
	forEachService(t, Config{}, func(t *testing.T, s *Service, api *client) {
		ann, annToken := newUser(t, s, "ann")
		bob, _ := newUser(t, s, "bob")
		carol, carolToken := newUser(t, s, "carol")
		dave, _ := newUser(t, s, "dave")
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := s.db.Exec(t.Context(), q, args...); err != nil {
				t.Fatal(err)
			}
		}
		exec(`INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, 1)`, carol, dave)

		sea := newVideo(t, s, ann, video.Public, "Sunset over the sea #beach", "beach", "travel")
		cat := newVideo(t, s, bob, video.Public, "my cat sleeps", "cats")
		private := newVideo(t, s, ann, video.Private, "a secret sunset")
		unlisted := newVideo(t, s, ann, video.Unlisted, "an unlisted sunset")
		hidden := newVideo(t, s, ann, video.Public, "a hidden sunset")
		exec(`UPDATE videos SET hidden = 1 WHERE id = $1`, hidden)
		processing := videoid.New()
		putVideo(t, s.db, processing, bob, video.Processing, video.Public, "caption = 'a processing sunset'")
		blocked := newVideo(t, s, dave, video.Public, "sunset by dave")
		sunsets := newVideo(t, s, bob, video.Public, "sunset sunset sunset")
		_, _, _ = private, unlisted, processing

		find := func(token, q string) []string {
			t.Helper()
			ids, _ := searchIDs(t, api, token, "q="+url.QueryEscape(q))
			return ids
		}
		same := func(got []string, want ...string) bool {
			return len(got) == len(want) && !slices.ContainsFunc(want, func(id string) bool { return !slices.Contains(got, id) })
		}
		for _, tc := range []struct {
			name, token, q string
			want           []string
			first          string // "" for any order
		}{
			{"caption, ranked", carolToken, "sunset", []string{sunsets, sea}, sunsets},
			{"caption, as the owner of what is private, unlisted or hidden", annToken, "sunset", []string{sunsets, sea, blocked}, sunsets},
			{"caption, case and words", carolToken, "SEA sunset", []string{sea}, ""},
			{"a prefix", carolToken, "suns", []string{sunsets, sea}, ""},
			{"a hashtag", carolToken, "#travel", []string{sea}, ""},
			{"a hashtag's prefix", carolToken, "cat", []string{cat}, ""},
			{"a handle", carolToken, "bob", []string{cat, sunsets}, ""},
			{"a handle with its @", "", "@ann", []string{sea}, ""},
			{"a visitor", "", "sunset", []string{sunsets, sea, blocked}, sunsets},
			{"no match", carolToken, "zebra", nil, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got := find(tc.token, tc.q)
				if !same(got, tc.want...) || (tc.first != "" && got[0] != tc.first) {
					t.Errorf("%q: %v, want %v (first %q)", tc.q, got, tc.want, tc.first)
				}
			})
		}

		// The index follows edits.
		exec(`UPDATE videos SET caption = 'a dog now' WHERE id = $1`, cat)
		exec(`DELETE FROM video_hashtags WHERE video_id = $1 AND tag = 'beach'`, sea)
		exec(`INSERT INTO video_hashtags (video_id, tag) VALUES ($1, 'ocean')`, sea)
		exec(`UPDATE users SET handle = 'robert' WHERE id = $1`, bob)
		exec(`UPDATE videos SET visibility = 'private' WHERE id = $1`, sunsets)
		exec(`DELETE FROM videos WHERE id = $1`, blocked)
		for q, want := range map[string][]string{
			"sleeps": nil, "dog": {cat}, "ocean": {sea}, "beach": {sea}, // #beach is in the caption still
			"robert": {cat}, "bob": nil, "sunset": {sea}, "dave": nil,
		} {
			if got := find(annToken, q); !same(got, want...) {
				t.Errorf("after the edits, %q: %v, want %v", q, got, want)
			}
		}
		exec(`UPDATE videos SET caption = 'no more' WHERE id = $1`, sea)
		if got := find(annToken, "beach"); len(got) != 0 {
			t.Errorf("beach after the caption and the tag went: %v", got)
		}

		// Queries that are syntax to FTS5 or tsquery are words to search.
		for _, q := range []string{`"`, `"dog`, `dog"`, `*`, `dog*`, `*dog`, `NEAR(dog now)`, `dog AND`, `OR`, `NOT dog`,
			`-dog`, `dog:now`, `'`, `''`, `\`, `(`, `)`, `^dog`, `dog:*`, `!`, `&|`, `dog & !now`, `{dog}`, `caption:dog`,
			`日本語`, `émile`, "🎬🎬", "a\x00b", strings.Repeat("dog ", 25), strings.Repeat("x", 100), "ـ", "\u0301"} {
			r := api.do("GET", "/v1/search?q="+url.QueryEscape(q), carolToken, "")
			if r.status != 200 {
				t.Errorf("q=%q: %d %v", q, r.status, r.body)
			}
		}
		if got := find(carolToken, `"dog" -(now)*`); !same(got, cat) {
			t.Errorf("a query with syntax in it: %v, want the words found", got)
		}

		for _, tc := range []struct{ query, code string }{
			{"q=", "invalid_query"},
			{"", "invalid_query"},
			{"q=" + strings.Repeat("x", MaxSearchQuery+1), "invalid_query"},
			{"q=%ff", "invalid_query"},
			{"q=dog&cursor=xyz", "bad_cursor"},
			{"q=dog&cursor=" + encodeCursor(searchCursor{Q: "cat", Type: "videos", Offset: 20}), "bad_cursor"},
			{"q=dog&cursor=" + encodeCursor(searchCursor{Q: "dog", Type: "users", Offset: 20}), "bad_cursor"},
			{"q=dog&type=users&cursor=" + encodeCursor(searchCursor{Q: "dog", Type: "videos", Offset: 20}), "bad_cursor"},
			{"q=dog&cursor=" + encodeCursor(searchCursor{Q: "dog", Type: "videos", Offset: -1}), "bad_cursor"},
			{"q=dog&cursor=" + encodeCursor(searchCursor{Q: "dog", Type: "videos", Offset: maxSearchOffset}), "bad_cursor"},
			{"q=dog&type=comments", "invalid_type"},
			{"q=dog&limit=0", "bad_limit"},
		} {
			if r := api.do("GET", "/v1/search?"+tc.query, "", ""); r.status != 400 || r.errCode() != tc.code {
				t.Errorf("%s: %d %v, want 400 %s", tc.query, r.status, r.body, tc.code)
			}
		}
	})
}

func TestSearchUsers(t *testing.T) {
	forEachService(t, Config{}, func(t *testing.T, s *Service, api *client) {
		ann, annToken := newUser(t, s, "ann_smith")
		newUser(t, s, "annabel")
		bob, _ := newUser(t, s, "bob")
		newUser(t, s, "carol")
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := s.db.Exec(t.Context(), q, args...); err != nil {
				t.Fatal(err)
			}
		}
		exec(`UPDATE users SET display_name = 'Annie Smith' WHERE id = $1`, bob)
		find := func(token, q string) []string {
			t.Helper()
			r := api.do("GET", "/v1/search?type=users&q="+url.QueryEscape(q), token, "")
			if r.status != 200 {
				t.Fatalf("search users %q: %d %v", q, r.status, r.body)
			}
			handles := []string{}
			for _, it := range r.body["items"].([]any) {
				handles = append(handles, it.(map[string]any)["handle"].(string))
			}
			slices.Sort(handles)
			return handles
		}
		for q, want := range map[string]string{
			"ann": "[ann_smith annabel bob]", "smith": "[ann_smith bob]", "annie": "[bob]", "ann_smith": "[ann_smith]",
			"@carol": "[carol]", "dave": "[]", `"*`: "[]",
		} {
			if got := fmt.Sprint(find("", q)); got != want {
				t.Errorf("%q: %s, want %s", q, got, want)
			}
		}
		exec(`INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, 1)`, ann, bob)
		exec(`UPDATE users SET handle = 'carla' WHERE handle = 'carol'`)
		for q, want := range map[string]string{"smith": "[ann_smith]", "carol": "[]", "carla": "[carla]"} {
			if got := fmt.Sprint(find(annToken, q)); got != want {
				t.Errorf("after a block and a new handle, %q: %s, want %s", q, got, want)
			}
		}
	})
}

func TestSearchPages(t *testing.T) {
	forEachService(t, Config{}, func(t *testing.T, s *Service, api *client) {
		ann, _ := newUser(t, s, "ann")
		var want []string
		for range 5 {
			want = append(want, newVideo(t, s, ann, video.Public, "page test"))
		}
		var got []string
		query := "q=page&limit=2"
		for pages := 0; ; pages++ {
			ids, next := searchIDs(t, api, "", query)
			got = append(got, ids...)
			if next == "" {
				if pages != 2 {
					t.Errorf("%d pages, want 3", pages+1)
				}
				break
			}
			query = "q=page&limit=2&cursor=" + next
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("pages hold %v, want %v once each", got, want)
		}
	})
}

func TestMatchQuery(t *testing.T) {
	for _, tc := range []struct{ q, sqlite, postgres string }{
		{"Sunset", `"sunset"*`, `'sunset':*`},
		{`"sun" NEAR(sea)*`, `"sun" "near" "sea"*`, `'sun' & 'near' & 'sea':*`},
		{`#beach @ann's`, `"beach" "ann" "s"*`, `'beach' & 'ann' & 's':*`},
		{`émile 日本`, `"émile" "日本"*`, `'émile' & '日本':*`},
		{`*:&|!()'"\`, ``, ``},
	} {
		terms := searchTerms(tc.q)
		if len(terms) == 0 {
			if tc.sqlite != "" {
				t.Errorf("%q: no terms", tc.q)
			}
			continue
		}
		if got := matchQuery(db.DialectSQLite, terms); got != tc.sqlite {
			t.Errorf("%q on sqlite: %s, want %s", tc.q, got, tc.sqlite)
		}
		if got := matchQuery(db.DialectPostgres, terms); got != tc.postgres {
			t.Errorf("%q on postgres: %s, want %s", tc.q, got, tc.postgres)
		}
	}
}

func FuzzSearchTerms(f *testing.F) {
	for _, q := range []string{"Sunset", `"sun" NEAR(sea)*`, `#beach @ann's`, `émile 日本`, `*:&|!()'"\`, "a\x00b", "\u0301x"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		terms := searchTerms(q)
		if len(terms) > maxSearchTerms {
			t.Fatalf("%d terms", len(terms))
		}
		for _, term := range terms {
			if term == "" || strings.ContainsFunc(term, func(r rune) bool { return strings.ContainsRune(`"'*:&|!()\^-+{}[] `+"\x00", r) }) {
				t.Fatalf("term %q of %q", term, q)
			}
		}
		for _, d := range []string{db.DialectSQLite, db.DialectPostgres} {
			if len(terms) > 0 && matchQuery(d, terms) == "" {
				t.Fatalf("no %s query for %q", d, q)
			}
		}
	})
}
