package feed

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
)

// TestMyVideos: GET /v1/me/videos gives the creator every video of theirs with its status
// (processing with its progress and playability, ready, failed with the reason) and
// visibility, newest upload first across pages, and nobody else's; it is for users only.
func TestMyVideos(t *testing.T) {
	forEachService(t, socialConfig, func(t *testing.T, s *Service, api *client) {
		ann, annToken := newUser(t, s, "ann")
		bob, bobToken := newUser(t, s, "bob")
		put := func(owner int64, status video.Status, vis video.Visibility, created int, extra string) string {
			t.Helper()
			id := videoid.New()
			if extra != "" {
				extra = ", " + extra
			}
			putVideo(t, s.db, id, owner, status, vis, fmt.Sprintf("created_at = %d", created)+extra)
			return id
		}
		ids := map[string]string{
			"ready":      put(ann, video.Ready, video.Public, 10, "progress = 100, published_at = 11, generation = 'g1'"),
			"private":    put(ann, video.Ready, video.Private, 20, "progress = 100, published_at = 21, generation = 'g1'"),
			"hidden":     put(ann, video.Ready, video.Public, 20, "progress = 100, published_at = 22, hidden = 1"),
			"failed":     put(ann, video.Failed, video.Public, 30, "error_code = 'transcode_failed', error = 'no video stream'"),
			"processing": put(ann, video.Processing, video.Unlisted, 40, "progress = 10"),
			"playable":   put(ann, video.Processing, video.Public, 50, "progress = 60, playable_at = 51, generation = 'g2'"),
		}
		put(bob, video.Ready, video.Public, 60, "progress = 100, published_at = 61")
		put(bob, video.Processing, video.Public, 70, "")
		if r := api.do("PUT", "/v1/videos/"+ids["ready"]+"/like", annToken, ""); r.status != 200 {
			t.Fatalf("like: %d %v", r.status, r.body)
		}
		created := map[string]int{"ready": 10, "private": 20, "hidden": 20, "failed": 30, "processing": 40, "playable": 50}
		var order []string // newest first: created_at, then id, both descending
		for name := range ids {
			order = append(order, name)
		}
		slices.SortFunc(order, func(a, b string) int {
			if created[a] != created[b] {
				return created[b] - created[a]
			}
			return strings.Compare(ids[b], ids[a])
		})
		for i, name := range order {
			order[i] = ids[name]
		}

		for _, limit := range []int{1, 2, 5, 100} {
			items := api.pages(fmt.Sprintf("/v1/me/videos?limit=%d", limit), annToken)
			if got := field(items, "id"); !slices.Equal(got, anys(order)) {
				t.Errorf("limit %d: %v, want %v", limit, got, order)
			}
		}
		byID := map[string]map[string]any{}
		for _, it := range api.pages("/v1/me/videos?limit=100", annToken) {
			byID[it["id"].(string)] = it
		}
		for _, tc := range []struct {
			name, status, vis string
			progress          float64
			playable, liked   bool
			playback, poster  bool
			error             string
		}{
			{"ready", "ready", "public", 100, true, true, true, true, ""},
			{"private", "ready", "private", 100, true, false, true, true, ""},
			{"hidden", "ready", "public", 100, true, false, true, true, ""},
			{"failed", "failed", "public", 0, false, false, false, false, "no video stream"},
			{"processing", "processing", "unlisted", 10, false, false, false, false, ""},
			{"playable", "processing", "public", 60, true, false, true, false, ""},
		} {
			it := byID[ids[tc.name]]
			if it == nil {
				t.Errorf("%s: not listed", tc.name)
				continue
			}
			var errMsg string
			if e, ok := it["error"].(map[string]any); ok {
				errMsg, _ = e["message"].(string)
			}
			if it["status"] != tc.status || it["visibility"] != tc.vis || it["progress"] != tc.progress ||
				it["playable"] != tc.playable || it["liked"] != tc.liked || (it["playback_url"] != "") != tc.playback ||
				(it["poster_url"] != "") != tc.poster || errMsg != tc.error || it["creator"].(map[string]any)["handle"] != "ann" {
				t.Errorf("%s: %v", tc.name, it)
			}
			if tags := it["hashtags"].([]any); len(tags) != 1 || tags[0] != "tag" {
				t.Errorf("%s: hashtags %v", tc.name, tags)
			}
		}

		if got := api.pages("/v1/me/videos?limit=100", bobToken); len(got) != 2 {
			t.Errorf("bob's: %v", field(got, "id"))
		}
		_, carolToken := newUser(t, s, "carol")
		if r := api.do("GET", "/v1/me/videos", carolToken, ""); r.status != 200 || len(r.body["items"].([]any)) != 0 || r.body["next_cursor"] != "" {
			t.Errorf("a user without videos: %d %v", r.status, r.body)
		}
		for _, tc := range []struct {
			path, token string
			status      int
			code        string
		}{
			{"/v1/me/videos", "", 401, "unauthenticated"},
			{"/v1/me/videos", "admin-token-for-tests", 403, "not_a_user"},
			{"/v1/me/videos?cursor=bm9wZQ", annToken, 400, "bad_cursor"},
			{"/v1/me/videos?cursor=" + encodeCursor(myVideosCursor{Created: 5, ID: "../x"}), annToken, 400, "bad_cursor"},
			{"/v1/me/videos?cursor=" + encodeCursor(myVideosCursor{Created: 5}), annToken, 400, "bad_cursor"},
			{"/v1/me/videos?limit=0", annToken, 400, "bad_limit"},
		} {
			want(t, tc.path, api.do("GET", tc.path, tc.token, ""), tc.status, tc.code)
		}
	})
}

// anys returns ss as []any, to compare with decoded JSON.
func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
