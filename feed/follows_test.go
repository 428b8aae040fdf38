package feed

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestFollows(t *testing.T) {
	forEachService(t, socialConfig, func(t *testing.T, s *Service, api *client) {
		w := newWorld(t, s, api)
		ann, annT := w.user("ann")
		bob, _ := w.user("bob")
		w.user("cat")

		for _, tc := range []struct {
			name, method, path, token string
			status                    int
			code                      string
			following                 bool
			followers                 float64
		}{
			{"follow", "PUT", "/v1/users/bob/follow", annT, 200, "", true, 1},
			{"follow again", "PUT", "/v1/users/bob/follow", annT, 200, "", true, 1},
			{"handle in capitals", "PUT", "/v1/users/BOB/follow", annT, 200, "", true, 1},
			{"self", "PUT", "/v1/users/ann/follow", annT, 400, "cannot_follow_self", false, 0},
			{"unknown", "PUT", "/v1/users/nobody/follow", annT, 404, "not_found", false, 0},
			{"not a handle", "PUT", "/v1/users/..x/follow", annT, 404, "not_found", false, 0},
			{"no token", "PUT", "/v1/users/bob/follow", "", 401, "unauthenticated", false, 0},
			{"the operator's token", "PUT", "/v1/users/bob/follow", "admin-token-for-tests", 403, "not_a_user", false, 0},
		} {
			r := api.do(tc.method, tc.path, tc.token, "")
			want(t, tc.name, r, tc.status, tc.code)
			if tc.status == 200 && (r.body["following"] != tc.following || r.body["followers"] != tc.followers) {
				t.Errorf("%s: %v, want following %v, followers %v", tc.name, r.body, tc.following, tc.followers)
			}
		}
		if f, g := w.userCounts(bob); f != 1 || g != 0 {
			t.Errorf("bob's counts after repeated follows: %d followers, %d following; want 1, 0", f, g)
		}
		if f, g := w.userCounts(ann); f != 0 || g != 1 {
			t.Errorf("ann's counts after repeated follows: %d followers, %d following; want 0, 1", f, g)
		}
		for range 2 {
			r := api.do("DELETE", "/v1/users/bob/follow", annT, "")
			if r.status != 200 || r.body["following"] != false || r.body["followers"] != 0.0 {
				t.Fatalf("unfollow: %d %v", r.status, r.body)
			}
		}
		if f, _ := w.userCounts(bob); f != 0 {
			t.Errorf("bob's followers after repeated unfollows: %d", f)
		}
		if _, g := w.userCounts(ann); g != 0 {
			t.Errorf("ann's following after repeated unfollows: %d", g)
		}

		// Five followers of bob, a second apart; ann follows cat and dan.
		var handles []any
		for i := range 5 {
			h := fmt.Sprintf("fan%d", i)
			_, tok := w.user(h)
			w.clock.Add(time.Second)
			want(t, h+" follows bob", api.do("PUT", "/v1/users/bob/follow", tok, ""), 200, "")
			handles = append([]any{h}, handles...) // newest first
		}
		want(t, "ann follows fan1", api.do("PUT", "/v1/users/fan1/follow", annT, ""), 200, "")
		for _, limit := range []int{1, 2, 5, 20} {
			got := api.pages(fmt.Sprintf("/v1/users/bob/followers?limit=%d", limit), annT)
			if h := field(got, "handle"); !reflect.DeepEqual(h, handles) {
				t.Errorf("bob's followers by %d: %v, want %v", limit, h, handles)
			}
			for _, it := range got {
				if it["following"] != (it["handle"] == "fan1") || it["avatar_url"] != "" {
					t.Errorf("follower %v: following should be true for fan1 alone, avatar_url empty", it)
				}
			}
		}
		got := api.pages("/v1/users/fan3/following?limit=1", "")
		if h := field(got, "handle"); !reflect.DeepEqual(h, []any{"bob"}) {
			t.Errorf("fan3 follows %v, want [bob]", h)
		}
		want(t, "followers of nobody", api.do("GET", "/v1/users/nobody/followers", "", ""), 404, "not_found")
		want(t, "a tampered cursor", api.do("GET", "/v1/users/bob/followers?cursor=eyJ0IjoxfQx", "", ""), 400, "bad_cursor")
		want(t, "a negative cursor", api.do("GET", "/v1/users/bob/followers?cursor="+encodeCursor(followCursor{At: -1}), "", ""), 400, "bad_cursor")
		want(t, "a bad limit", api.do("GET", "/v1/users/bob/following?limit=0", "", ""), 400, "bad_limit")
	})
}

func TestOppositeFollowsAtOnce(t *testing.T) {
	forEachService(t, socialConfig, func(t *testing.T, s *Service, api *client) {
		w := newWorld(t, s, api)
		a, aT := w.user("ann")
		b, bT := w.user("bob")
		errs := make(chan error, 40)
		for i := range 20 {
			for _, req := range [][2]string{{"/v1/users/bob/follow", aT}, {"/v1/users/ann/follow", bT}} {
				method := "PUT"
				if i%2 == 1 {
					method = "DELETE"
				}
				go func() {
					r, err := api.send(method, req[0], req[1], "")
					if err == nil && r.status != 200 {
						err = fmt.Errorf("%s %s: %d %v", method, req[0], r.status, r.body)
					}
					errs <- err
				}()
			}
		}
		for range 40 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		for _, id := range []int64{a, b} {
			f, g := w.userCounts(id)
			if rf, rg := w.count(`SELECT COUNT(*) FROM follows WHERE followee_id = $1`, id),
				w.count(`SELECT COUNT(*) FROM follows WHERE follower_id = $1`, id); f != rf || g != rg {
				t.Errorf("user %d: counts %d/%d, rows %d/%d", id, f, g, rf, rg)
			}
		}
	})
}
