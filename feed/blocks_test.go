package feed

import (
	"reflect"
	"testing"

	"github.com/reelay/reelay/internal/video"
)

func TestBlocks(t *testing.T) {
	forEachService(t, socialConfig, func(t *testing.T, s *Service, api *client) {
		w := newWorld(t, s, api)
		ann, annT := w.user("ann")
		bob, bobT := w.user("bob")
		cat, catT := w.user("cat")
		ofBob, ofCat := w.video(bob, video.Public), w.video(cat, video.Public)
		for _, f := range [][2]string{{"bob", annT}, {"ann", bobT}, {"cat", annT}, {"cat", bobT}} {
			want(t, "follow", api.do("PUT", "/v1/users/"+f[0]+"/follow", f[1], ""), 200, "")
		}
		comment := func(token string) string {
			r := api.do("POST", "/v1/videos/"+ofCat+"/comments", token, `{"body":"hi"}`)
			want(t, "comment", r, 201, "")
			return r.body["id"].(string)
		}
		annSays, bobSays, catSays := comment(annT), comment(bobT), comment(catT)

		want(t, "self-block", api.do("PUT", "/v1/users/ann/block", annT, ""), 400, "cannot_block_self")
		want(t, "unknown", api.do("PUT", "/v1/users/nobody/block", annT, ""), 404, "not_found")
		want(t, "no token", api.do("PUT", "/v1/users/bob/block", "", ""), 401, "unauthenticated")
		for range 2 {
			if r := api.do("PUT", "/v1/users/bob/block", annT, ""); r.status != 200 || r.body["blocked"] != true {
				t.Fatalf("ann blocks bob: %d %v", r.status, r.body)
			}
		}
		if n := w.count(`SELECT COUNT(*) FROM follows WHERE follower_id IN ($1, $2) AND followee_id IN ($1, $2)`, ann, bob); n != 0 {
			t.Errorf("%d follows left between ann and bob", n)
		}
		for id, counts := range map[int64][2]int64{ann: {0, 1}, bob: {0, 1}, cat: {2, 0}} {
			if f, g := w.userCounts(id); f != counts[0] || g != counts[1] {
				t.Errorf("user %d: %d followers, %d following; want %v", id, f, g, counts)
			}
		}
		if b, err := s.blocked(t.Context(), ann, bob); !b || err != nil {
			t.Errorf("blocked(ann, bob) = %v, %v", b, err)
		}
		if b, err := s.blocked(t.Context(), bob, ann); b || err != nil {
			t.Errorf("blocked(bob, ann) = %v, %v; a block is one way", b, err)
		}
		want(t, "ann follows bob", api.do("PUT", "/v1/users/bob/follow", annT, ""), 403, "blocked")
		want(t, "bob follows ann", api.do("PUT", "/v1/users/ann/follow", bobT, ""), 403, "blocked")
		want(t, "ann likes bob's video", api.do("PUT", "/v1/videos/"+ofBob+"/like", annT, ""), 404, "not_found")
		want(t, "ann reads comments of bob's video", api.do("GET", "/v1/videos/"+ofBob+"/comments", annT, ""), 404, "not_found")
		want(t, "ann gets bob's video", api.do("GET", "/v1/videos/"+ofBob, annT, ""), 404, "not_found")
		want(t, "bob gets his own video", api.do("GET", "/v1/videos/"+ofBob, bobT, ""), 200, "")
		want(t, "bob likes his own video", api.do("PUT", "/v1/videos/"+ofBob+"/like", bobT, ""), 200, "")

		for _, tc := range []struct {
			viewer string
			want   []any
		}{
			{annT, []any{catSays, annSays}}, // not the blocked user's
			{bobT, []any{catSays, bobSays}}, // not the blocker's
			{catT, []any{catSays, bobSays, annSays}},
			{"", []any{catSays, bobSays, annSays}},
		} {
			if got := field(api.pages("/v1/videos/"+ofCat+"/comments?limit=1", tc.viewer), "id"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("comments: %v, want %v", got, tc.want)
			}
		}
		if got := field(api.pages("/v1/users/cat/followers?limit=5", annT), "handle"); !reflect.DeepEqual(got, []any{"ann"}) {
			t.Errorf("cat's followers as ann sees them: %v, want [ann] (bob blocked)", got)
		}

		for range 2 {
			if r := api.do("DELETE", "/v1/users/bob/block", annT, ""); r.status != 200 || r.body["blocked"] != false {
				t.Fatalf("ann unblocks bob: %d %v", r.status, r.body)
			}
		}
		want(t, "ann follows bob after the unblock", api.do("PUT", "/v1/users/bob/follow", annT, ""), 200, "")
		want(t, "ann likes bob's video after the unblock", api.do("PUT", "/v1/videos/"+ofBob+"/like", annT, ""), 200, "")
	})
}
