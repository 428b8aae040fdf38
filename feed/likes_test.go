package feed

import (
	"fmt"
	"testing"

	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
)

func TestLikesAndShares(t *testing.T) {
	forEachService(t, socialConfig, func(t *testing.T, s *Service, api *client) {
		w := newWorld(t, s, api)
		ann, annT := w.user("ann")
		_, bobT := w.user("bob")
		_, catT := w.user("cat")
		public, unlisted := w.video(ann, video.Public), w.video(ann, video.Unlisted)
		private, hidden, removed := w.video(ann, video.Private), w.video(ann, video.Public), w.video(ann, video.Public)
		processing := videoid.New()
		putVideo(t, s.db, processing, ann, video.Processing, video.Public, "")
		w.s.db.Exec(t.Context(), `UPDATE videos SET hidden = 1 WHERE id = $1`, hidden)
		w.s.db.Exec(t.Context(), `UPDATE videos SET hidden = 2 WHERE id = $1`, removed)
		dan, danT := w.user("dan")
		ofDan := w.video(dan, video.Public)
		want(t, "cat blocks dan", api.do("PUT", "/v1/users/dan/block", catT, ""), 200, "")
		want(t, "dan blocks bob", api.do("PUT", "/v1/users/bob/block", danT, ""), 200, "")

		for _, tc := range []struct {
			name, method, video, token string
			status                     int
			code                       string
			liked                      bool
			likes                      float64
		}{
			{"like", "PUT", public, bobT, 200, "", true, 1},
			{"like again", "PUT", public, bobT, 200, "", true, 1},
			{"another like", "PUT", public, catT, 200, "", true, 2},
			{"unlike", "DELETE", public, bobT, 200, "", false, 1},
			{"unlike again", "DELETE", public, bobT, 200, "", false, 1},
			{"unlisted", "PUT", unlisted, catT, 200, "", true, 1},
			{"own private", "PUT", private, annT, 200, "", true, 1},
			{"own hidden", "PUT", hidden, annT, 200, "", true, 1},
			{"another's private", "PUT", private, catT, 404, "not_found", false, 0},
			{"hidden by reports", "PUT", hidden, catT, 404, "not_found", false, 0},
			{"removed by moderation", "PUT", removed, catT, 404, "not_found", false, 0},
			{"processing", "PUT", processing, annT, 404, "not_found", false, 0},
			{"unknown", "PUT", videoid.New(), catT, 404, "not_found", false, 0},
			{"not an id", "PUT", "NOPE", catT, 404, "not_found", false, 0},
			{"of a creator the viewer blocked", "PUT", ofDan, catT, 404, "not_found", false, 0},
			{"of a creator who blocked the viewer", "PUT", ofDan, bobT, 403, "blocked", false, 0},
			{"no token", "PUT", public, "", 401, "unauthenticated", false, 0},
		} {
			r := api.do(tc.method, "/v1/videos/"+tc.video+"/like", tc.token, "")
			want(t, tc.name, r, tc.status, tc.code)
			if tc.status == 200 && (r.body["liked"] != tc.liked || r.body["likes"] != tc.likes) {
				t.Errorf("%s: %v, want liked %v, likes %v", tc.name, r.body, tc.liked, tc.likes)
			}
		}
		if n := w.count(`SELECT like_count FROM videos WHERE id = $1`, public); n != 1 {
			t.Errorf("like_count %d, want 1", n)
		}

		for i := 1; i <= 3; i++ {
			r := api.do("POST", "/v1/videos/"+public+"/shares", catT, "")
			if r.status != 200 || r.body["shares"] != float64(i) {
				t.Fatalf("share %d: %d %v", i, r.status, r.body)
			}
		}
		want(t, "share without a token", api.do("POST", "/v1/videos/"+public+"/shares", "", ""), 401, "unauthenticated")
		want(t, "share of another's private video", api.do("POST", "/v1/videos/"+private+"/shares", catT, ""), 404, "not_found")
		if n := w.count(`SELECT share_count FROM videos WHERE id = $1`, public); n != 3 {
			t.Errorf("share_count %d, want 3", n)
		}
	})
}

// TestConcurrentLikes: counts exact under 100 concurrent likes and unlikes. Each of 100 users
// likes a video twice at once, then half of them unlike it twice at once.
func TestConcurrentLikes(t *testing.T) {
	forEachService(t, socialConfig, func(t *testing.T, s *Service, api *client) {
		w := newWorld(t, s, api)
		owner, _ := w.user("owner")
		v := w.video(owner, video.Public)
		tokens := make([]string, 100)
		for i := range tokens {
			_, tokens[i] = w.user(fmt.Sprintf("liker%d", i))
		}
		run := func(method string, tokens []string) {
			errs := make(chan error, 2*len(tokens))
			for _, tok := range tokens {
				for range 2 {
					go func() {
						r, err := api.send(method, "/v1/videos/"+v+"/like", tok, "")
						if err == nil && r.status != 200 {
							err = fmt.Errorf("%s like: %d %v", method, r.status, r.body)
						}
						errs <- err
					}()
				}
			}
			for range 2 * len(tokens) {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
		}
		check := func(want int64) {
			t.Helper()
			count := w.count(`SELECT like_count FROM videos WHERE id = $1`, v)
			rows := w.count(`SELECT COUNT(*) FROM likes WHERE video_id = $1`, v)
			if count != want || rows != want {
				t.Fatalf("like_count %d, likes rows %d; want %d", count, rows, want)
			}
		}
		run("PUT", tokens)
		check(100)
		run("DELETE", tokens[:50])
		check(50)
	})
}
