package feed

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/video"
)

var reportBodies = []struct {
	name, body string
	code       string // "" for a valid one
}{
	{"reason", `{"reason":"spam"}`, ""},
	{"with a note", `{"reason":"other","note":" see 0:03\nand 0:05 "}`, ""},
	{"a long note", `{"reason":"hate","note":"` + strings.Repeat("é", 500) + `"}`, ""},
	{"unknown reason", `{"reason":"boring"}`, "invalid_reason"},
	{"no reason", `{}`, "invalid_reason"},
	{"reason in capitals", `{"reason":"SPAM"}`, "invalid_reason"},
	{"too long a note", `{"reason":"hate","note":"` + strings.Repeat("a", 501) + `"}`, "invalid_note"},
	{"a control character", `{"reason":"hate","note":"a\u0000b"}`, "invalid_note"},
	{"unknown field", `{"reason":"spam","video":"x"}`, "invalid_json"},
	{"twice a key", `{"reason":"spam","reason":"hate"}`, "invalid_json"},
}

func FuzzReportRequest(f *testing.F) {
	for _, tc := range reportBodies {
		f.Add(tc.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var q reportRequest
		if err := apierr.UnmarshalJSON([]byte(body), &q); err != nil || q.check() != nil {
			return
		}
		if !strings.Contains(strings.Join(ReportReasons, ","), q.Reason) || q.Reason == "" || len([]rune(q.Note)) > maxReportNote {
			t.Fatalf("%q accepted as %+v", body, q)
		}
	})
}

func TestReports(t *testing.T) {
	forEachService(t, socialConfig, func(t *testing.T, s *Service, api *client) {
		w := newWorld(t, s, api)
		ann, annT := w.user("ann")
		_, modT := w.user("mod")
		if err := s.accounts.SetAdmin(t.Context(), "mod", true); err != nil {
			t.Fatal(err)
		}
		if err := s.accounts.SetAdmin(t.Context(), "nobody", true); err == nil {
			t.Error("SetAdmin of an unknown handle succeeded")
		}
		reporters := make([]string, 6)
		for i := range reporters {
			_, reporters[i] = w.user(fmt.Sprintf("rep%d", i))
		}
		v, other := w.video(ann, video.Public), w.video(ann, video.Public)
		path := "/v1/videos/" + v + "/reports"

		for _, tc := range reportBodies {
			status := 201
			if tc.code != "" {
				status = 400
			}
			want(t, "report "+tc.name, api.do("POST", "/v1/videos/"+other+"/reports", reporters[len(tc.name)%6], tc.body), status, tc.code)
			if status == 201 {
				w.s.db.Exec(t.Context(), `DELETE FROM reports WHERE video_id = $1`, other)
				w.s.db.Exec(t.Context(), `UPDATE videos SET report_count = 0, hidden = 0 WHERE id = $1`, other)
			}
		}
		want(t, "report without a token", api.do("POST", path, "", `{"reason":"spam"}`), 401, "unauthenticated")

		r := api.do("POST", path, reporters[0], `{"reason":"spam","note":"ads"}`)
		if r.status != 201 || r.body["reason"] != "spam" || r.body["note"] != "ads" || r.body["status"] != "open" || r.body["video_id"] != v {
			t.Fatalf("report: %d %v", r.status, r.body)
		}
		firstID := r.body["id"]
		r = api.do("POST", path, reporters[0], `{"reason":"hate"}`)
		if r.status != 200 || r.body["id"] != firstID || r.body["reason"] != "spam" {
			t.Fatalf("a second report of one user: %d %v; want 200 and the first", r.status, r.body)
		}
		api.do("POST", path, reporters[1], `{"reason":"spam"}`)
		if n := w.count(`SELECT report_count FROM videos WHERE id = $1`, v); n != 2 {
			t.Fatalf("report_count %d, want 2", n)
		}
		want(t, "seen below the threshold", api.do("GET", "/v1/videos/"+v+"/comments", reporters[5], ""), 200, "")
		want(t, "the third report", api.do("POST", path, reporters[2], `{"reason":"nudity"}`), 201, "")
		want(t, "hidden at the threshold", api.do("GET", "/v1/videos/"+v+"/comments", reporters[5], ""), 404, "not_found")
		want(t, "its resource hidden too", api.do("GET", "/v1/videos/"+v, reporters[5], ""), 404, "not_found")
		want(t, "its resource to its owner", api.do("GET", "/v1/videos/"+v, annT, ""), 200, "")
		want(t, "liked when hidden", api.do("PUT", "/v1/videos/"+v+"/like", reporters[5], ""), 404, "not_found")
		want(t, "its owner sees it", api.do("GET", "/v1/videos/"+v+"/comments", annT, ""), 200, "")
		want(t, "an admin sees it", api.do("GET", "/v1/videos/"+v+"/comments", modT, ""), 200, "")

		for _, tc := range []struct {
			name, method, path, token string
			status                    int
			code                      string
		}{
			{"list, no token", "GET", "/v1/admin/reports", "", 401, "unauthenticated"},
			{"list, a user", "GET", "/v1/admin/reports", annT, 403, "forbidden"},
			{"resolve, no token", "POST", "/v1/admin/reports/1/resolve", "", 401, "unauthenticated"},
			{"resolve, a user", "POST", "/v1/admin/reports/1/resolve", annT, 403, "forbidden"},
			{"resolve, an unknown report", "POST", "/v1/admin/reports/999999/resolve", modT, 404, "not_found"},
			{"resolve, not an id", "POST", "/v1/admin/reports/x/resolve", modT, 404, "not_found"},
			{"list, a tampered cursor", "GET", "/v1/admin/reports?cursor=e30x", modT, 400, "bad_cursor"},
		} {
			want(t, tc.name, api.do(tc.method, tc.path, tc.token, `{"action":"keep"}`), tc.status, tc.code)
		}
		want(t, "resolve, a bad action", api.do("POST", fmt.Sprintf("/v1/admin/reports/%v/resolve", firstID), modT, `{"action":"ban"}`), 400, "invalid_action")

		want(t, "report the other video", api.do("POST", "/v1/videos/"+other+"/reports", reporters[3], `{"reason":"hate"}`), 201, "")
		for _, tok := range []string{modT, "admin-token-for-tests"} {
			items := api.pages("/v1/admin/reports?limit=1", tok)
			if len(items) != 2 {
				t.Fatalf("reported videos: %v, want 2", items)
			}
			got := items[0]
			vid, _ := got["video"].(map[string]any)
			if vid["id"] != v || vid["state"] != "hidden" || vid["report_count"] != 3.0 || vid["creator"] != "ann" ||
				!reflect.DeepEqual(got["reasons"], map[string]any{"spam": 2.0, "nudity": 1.0}) || len(got["report_ids"].([]any)) != 3 ||
				got["report_ids"].([]any)[0] != firstID {
				t.Errorf("the first reported video: %v", got)
			}
			if vid, _ := items[1]["video"].(map[string]any); vid["id"] != other || vid["state"] != "shown" {
				t.Errorf("the second reported video: %v", items[1])
			}
		}

		r = api.do("POST", fmt.Sprintf("/v1/admin/reports/%v/resolve", firstID), modT, `{"action":"keep"}`)
		if r.status != 200 || r.body["video_id"] != v || r.body["resolved"] != 3.0 || r.body["state"] != "shown" {
			t.Fatalf("keep: %d %v", r.status, r.body)
		}
		if n := w.count(`SELECT report_count + 10 * hidden FROM videos WHERE id = $1`, v); n != 0 {
			t.Errorf("report_count + 10*hidden after keep: %d, want 0", n)
		}
		want(t, "shown after keep", api.do("GET", "/v1/videos/"+v+"/comments", reporters[5], ""), 200, "")
		r = api.do("POST", path, reporters[0], `{"reason":"spam"}`)
		if r.status != 200 || r.body["status"] != "keep" {
			t.Errorf("reporting again after keep: %d %v; want 200 and the resolved report", r.status, r.body)
		}
		if items := api.pages("/v1/admin/reports?limit=5", modT); len(items) != 1 {
			t.Errorf("reported videos after keep: %v, want the other one", items)
		}

		for _, tok := range reporters[3:6] {
			api.do("POST", path, tok, `{"reason":"violence"}`)
		}
		want(t, "hidden again", api.do("GET", "/v1/videos/"+v+"/comments", reporters[0], ""), 404, "not_found")
		items := api.pages("/v1/admin/reports?limit=5", "admin-token-for-tests")
		var some any
		for _, it := range items {
			if it["video"].(map[string]any)["id"] == v {
				some = it["report_ids"].([]any)[1]
			}
		}
		r = api.do("POST", fmt.Sprintf("/v1/admin/reports/%v/resolve", some), "admin-token-for-tests", `{"action":"remove"}`)
		if r.status != 200 || r.body["resolved"] != 3.0 || r.body["state"] != "removed" {
			t.Fatalf("remove: %d %v", r.status, r.body)
		}
		if n := w.count(`SELECT hidden FROM videos WHERE id = $1`, v); n != removed {
			t.Errorf("hidden after remove: %d, want %d", n, removed)
		}
		want(t, "gone after remove", api.do("GET", "/v1/videos/"+v+"/comments", reporters[0], ""), 404, "not_found")

		// An admin user deletes others' comments; revoked, they are a user again.
		c := api.do("POST", "/v1/videos/"+other+"/comments", annT, `{"body":"mine"}`)
		want(t, "comment", c, 201, "")
		want(t, "a moderator deletes a comment", api.do("DELETE", "/v1/comments/"+c.body["id"].(string), modT, ""), 204, "")
		if err := s.accounts.SetAdmin(t.Context(), "mod", false); err != nil {
			t.Fatal(err)
		}
		want(t, "list, a revoked moderator", api.do("GET", "/v1/admin/reports", modT, ""), 403, "forbidden")
	})
}
