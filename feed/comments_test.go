package feed

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/reelay/reelay/internal/video"
)

var commentBodies = []struct {
	name, body, want string // want "" for a refused body
}{
	{"plain", "nice", "nice"},
	{"trimmed", "  nice \n", "nice"},
	{"newlines", "one\ntwo", "one\ntwo"},
	{"at the limit", strings.Repeat("é", 500), strings.Repeat("é", 500)},
	{"the limit after trimming", " " + strings.Repeat("a", 500) + " ", strings.Repeat("a", 500)},
	{"empty", "", ""},
	{"white space", " \n\t ", ""},
	{"too long", strings.Repeat("a", 501), ""},
	{"a tab", "a\tb", ""},
	{"a carriage return", "a\r\nb", ""},
	{"a bell", "a\x07", ""},
	{"a C1 control", "a\u0085b", ""},
}

func TestCommentBody(t *testing.T) {
	for _, tc := range commentBodies {
		got, err := commentBody(tc.body, 500)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func FuzzCommentBody(f *testing.F) {
	for _, tc := range commentBodies {
		f.Add(tc.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, err := commentBody(body, 500)
		if err != nil {
			return
		}
		if got == "" || got != strings.TrimSpace(got) || len([]rune(got)) > 500 || strings.ContainsAny(got, "\t\r\x00") {
			t.Fatalf("commentBody(%q) = %q", body, got)
		}
	})
}

func TestComments(t *testing.T) {
	forEachService(t, socialConfig, func(t *testing.T, s *Service, api *client) {
		w := newWorld(t, s, api)
		ann, annT := w.user("ann")
		_, bobT := w.user("bob")
		_, catT := w.user("cat")
		v, private := w.video(ann, video.Public), w.video(ann, video.Private)
		body := func(s string) string { b, _ := json.Marshal(map[string]string{"body": s}); return string(b) }

		r := api.do("POST", "/v1/videos/"+v+"/comments", bobT, body("  first!  "))
		author, _ := r.body["author"].(map[string]any)
		if r.status != 201 || r.body["body"] != "first!" || author["handle"] != "bob" || r.body["id"] == "" || r.body["created_at"] == nil {
			t.Fatalf("comment: %d %v", r.status, r.body)
		}
		first := r.body["id"].(string)
		for _, tc := range commentBodies {
			if tc.want == "" {
				want(t, "comment "+tc.name, api.do("POST", "/v1/videos/"+v+"/comments", bobT, body(tc.body)), 400, "invalid_body")
			}
		}
		for _, tc := range []struct {
			name, video, token, body string
			status                   int
			code                     string
		}{
			{"unknown field", v, bobT, `{"body":"x","video":"y"}`, 400, "invalid_json"},
			{"not JSON", v, bobT, `body=x`, 400, "invalid_json"},
			{"another's private video", private, bobT, body("x"), 404, "not_found"},
			{"no token", v, "", body("x"), 401, "unauthenticated"},
		} {
			want(t, tc.name, api.do("POST", "/v1/videos/"+tc.video+"/comments", tc.token, tc.body), tc.status, tc.code)
		}
		var ids []any
		for _, tok := range []string{catT, annT, catT, bobT} {
			w.clock.Add(1000)
			r := api.do("POST", "/v1/videos/"+v+"/comments", tok, body("more"))
			want(t, "comment", r, 201, "")
			ids = append([]any{r.body["id"]}, ids...)
		}
		ids = append(ids, first)
		for _, limit := range []string{"1", "2", "100"} {
			got := api.pages("/v1/videos/"+v+"/comments?limit="+limit, "")
			if g := field(got, "id"); !reflect.DeepEqual(g, ids) {
				t.Errorf("comments by %s: %v, want %v", limit, g, ids)
			}
		}
		want(t, "comments of another's private video", api.do("GET", "/v1/videos/"+private+"/comments", bobT, ""), 404, "not_found")
		want(t, "a tampered cursor", api.do("GET", "/v1/videos/"+v+"/comments?cursor=!!", "", ""), 400, "bad_cursor")
		if n := w.count(`SELECT comment_count FROM videos WHERE id = $1`, v); n != 5 {
			t.Errorf("comment_count %d, want 5", n)
		}

		catsFirst, catsSecond, anns, bobs := ids[3].(string), ids[1].(string), ids[2].(string), ids[0].(string)
		for _, tc := range []struct {
			name, id, token string
			status          int
			code            string
		}{
			{"another's comment on another's video", catsFirst, bobT, 403, "forbidden"},
			{"the video owner's comment, by another", anns, catT, 403, "forbidden"},
			{"no token", catsFirst, "", 401, "unauthenticated"},
			{"by its author", bobs, bobT, 204, ""},
			{"again", bobs, bobT, 404, "not_found"},
			{"by the video's owner", catsFirst, annT, 204, ""},
			{"by the operator", catsSecond, "admin-token-for-tests", 204, ""},
			{"unknown", "999999", annT, 404, "not_found"},
			{"not an id", "x1", annT, 404, "not_found"},
		} {
			want(t, "delete "+tc.name, api.do("DELETE", "/v1/comments/"+tc.id, tc.token, ""), tc.status, tc.code)
		}
		if n := w.count(`SELECT comment_count FROM videos WHERE id = $1`, v); n != 2 {
			t.Errorf("comment_count after 3 deletions %d, want 2", n)
		}
		if got := field(api.pages("/v1/videos/"+v+"/comments?limit=10", ""), "id"); !reflect.DeepEqual(got, []any{anns, first}) {
			t.Errorf("comments after deletions: %v, want %v", got, []any{anns, first})
		}
	})
}
