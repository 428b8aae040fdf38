package feed

import (
	"strings"
	"testing"

	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
)

func TestProfiles(t *testing.T) {
	forEachService(t, Config{}, func(t *testing.T, s *Service, api *client) {
		annToken, ann := api.signUp("ann")
		bobToken, bob := api.signUp("bob")
		put := func(status video.Status, vis video.Visibility, extra string) {
			putVideo(t, s.db, videoid.New(), ann, status, vis, extra)
		}
		put(video.Ready, video.Public, "published_at = 1")
		put(video.Ready, video.Public, "published_at = 2, hidden = 1")
		put(video.Ready, video.Unlisted, "published_at = 3")
		put(video.Ready, video.Private, "published_at = 4")
		put(video.Processing, video.Public, "")
		if _, err := s.db.Exec(t.Context(), `INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, 1)`, bob, ann); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.Exec(t.Context(), `UPDATE users SET follower_count = 1 WHERE id = $1`, ann); err != nil {
			t.Fatal(err)
		}

		for _, tc := range []struct {
			name, path, token string
			status            int
			want              map[string]any
		}{
			{"anonymous", "/v1/users/ann", "", 200, map[string]any{"handle": "ann", "display_name": "", "bio": "",
				"avatar_url": "", "follower_count": 1.0, "following_count": 0.0, "video_count": 1.0, "following": false}},
			{"a follower", "/v1/users/ANN", bobToken, 200, map[string]any{"video_count": 1.0, "following": true}},
			{"the user", "/v1/users/ann", annToken, 200, map[string]any{"video_count": 4.0, "following": false}},
			{"the admin", "/v1/users/ann", "admin-token-for-tests", 200, map[string]any{"video_count": 4.0}},
			{"another", "/v1/users/bob", annToken, 200, map[string]any{"handle": "bob", "video_count": 0.0, "following": false}},
			{"unknown", "/v1/users/nobody", "", 404, map[string]any{}},
			{"not a handle", "/v1/users/a", "", 404, map[string]any{}},
		} {
			r := api.do("GET", tc.path, tc.token, "")
			if r.status != tc.status || (tc.status == 404 && r.errCode() != "not_found") {
				t.Errorf("%s: %d %v, want %d", tc.name, r.status, r.body, tc.status)
				continue
			}
			for k, v := range tc.want {
				if r.body[k] != v {
					t.Errorf("%s: %s = %v, want %v", tc.name, k, r.body[k], v)
				}
			}
			if tc.status == 200 && r.body["created_at"] == "" {
				t.Errorf("%s: no created_at", tc.name)
			}
		}

		for _, tc := range []struct {
			name, body, token string
			status            int
			code              string
			name2, bio        string // the profile after
		}{
			{"both", `{"display_name":"Ann A.","bio":"line one\nline two"}`, annToken, 200, "", "Ann A.", "line one\nline two"},
			{"null and absent keep", `{"display_name":null}`, annToken, 200, "", "Ann A.", "line one\nline two"},
			{"empty body keeps", `{}`, annToken, 200, "", "Ann A.", "line one\nline two"},
			{"50 characters", `{"display_name":"` + strings.Repeat("é", 50) + `"}`, annToken, 200, "", strings.Repeat("é", 50), "line one\nline two"},
			{"clear", `{"display_name":"","bio":""}`, annToken, 200, "", "", ""},
			{"51 characters", `{"display_name":"` + strings.Repeat("é", 51) + `"}`, annToken, 400, "invalid_display_name", "", ""},
			{"control character", `{"display_name":"a\u0007b"}`, annToken, 400, "invalid_display_name", "", ""},
			{"line break in a name", `{"display_name":"a\nb"}`, annToken, 400, "invalid_display_name", "", ""},
			{"301 characters", `{"bio":"` + strings.Repeat("b", 301) + `"}`, annToken, 400, "invalid_bio", "", ""},
			{"tab in a bio", `{"bio":"a\tb"}`, annToken, 400, "invalid_bio", "", ""},
			{"unknown field", `{"handle":"eve"}`, annToken, 400, "invalid_json", "", ""},
			{"twice", `{"bio":"a","bio":"b"}`, annToken, 400, "invalid_json", "", ""},
			{"wrong type", `{"bio":3}`, annToken, 400, "invalid_json", "", ""},
			{"no token", `{"bio":"x"}`, "", 401, "unauthenticated", "", ""},
			{"the admin", `{"bio":"x"}`, "admin-token-for-tests", 403, "not_a_user", "", ""},
		} {
			r := api.do("PATCH", "/v1/me", tc.token, tc.body)
			if r.status != tc.status || r.errCode() != tc.code {
				t.Errorf("%s: %d %v, want %d %q", tc.name, r.status, r.body, tc.status, tc.code)
				continue
			}
			if tc.status == 200 && (r.body["display_name"] != tc.name2 || r.body["bio"] != tc.bio || r.body["handle"] != "ann") {
				t.Errorf("%s: %v, want display name %q, bio %q", tc.name, r.body, tc.name2, tc.bio)
			}
		}
		// The edit is stored, and shown to others.
		api.do("PATCH", "/v1/me", annToken, `{"display_name":"Ann"}`)
		if r := api.do("GET", "/v1/users/ann", "", ""); r.body["display_name"] != "Ann" {
			t.Errorf("after the edit: %v", r.body)
		}
	})
}

// TestVideoShowsCountsAndCreator: GET /v1/videos/{id} carries the counts, the creator as an
// object and the viewer's state.
func TestVideoShowsCountsAndCreator(t *testing.T) {
	forEachService(t, Config{}, func(t *testing.T, s *Service, api *client) {
		annToken, ann := api.signUp("ann")
		bobToken, bob := api.signUp("bob")
		api.do("PATCH", "/v1/me", annToken, `{"display_name":"Ann A."}`)
		id := videoid.New()
		putVideo(t, s.db, id, ann, video.Ready, video.Public,
			"published_at = 1, view_count = 7, like_count = 1, comment_count = 3, share_count = 2")
		if _, err := s.db.Exec(t.Context(), `INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, 1)`, bob, ann); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.Exec(t.Context(), `INSERT INTO likes (video_id, user_id, created_at) VALUES ($1, $2, 1)`, id, bob); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, token      string
			liked, following bool
		}{{"a follower who liked it", bobToken, true, true}, {"anonymous", "", false, false}, {"the creator", annToken, false, false}} {
			r := api.do("GET", "/v1/videos/"+id, tc.token, "")
			c, _ := r.body["creator"].(map[string]any)
			counts, _ := r.body["counts"].(map[string]any)
			if r.status != 200 || c["handle"] != "ann" || c["display_name"] != "Ann A." || c["avatar_url"] != "" ||
				counts["views"] != 7.0 || counts["likes"] != 1.0 || counts["comments"] != 3.0 || counts["shares"] != 2.0 ||
				r.body["liked"] != tc.liked || r.body["following"] != tc.following {
				t.Errorf("%s: %d %v", tc.name, r.status, r.body)
			}
		}
	})
}

// TestAvatarURL checks where avatar URLs point: the API's public URL when it is set, else a
// path relative to the API.
func TestAvatarURL(t *testing.T) {
	for _, tc := range []struct{ public, key, want string }{
		{"", "", ""},
		{"", "avatars/0123.jpg", "/v1/avatars/0123.jpg"},
		{"https://api.example.com", "avatars/0123.jpg", "https://api.example.com/v1/avatars/0123.jpg"},
	} {
		s := &Service{cfg: Config{PublicURL: tc.public}}
		if got := s.avatarURL(tc.key); got != tc.want {
			t.Errorf("avatarURL(%q) with PublicURL %q: %q, want %q", tc.key, tc.public, got, tc.want)
		}
	}
}
