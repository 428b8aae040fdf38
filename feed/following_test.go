package feed

import (
	"slices"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/video"
)

// TestFollowingFanout: with a threshold of 2 followers, a creator at it gets pushed, one above
// it pulled, one who crosses it between two videos both, and the Following feed shows each
// video once, only of creators still followed and not blocked, never hidden or private.
func TestFollowingFanout(t *testing.T) {
	forEachFeedWorld(t, Config{CelebrityThreshold: 2}, func(w *feedWorld) {
		viewer, viewerToken := w.user("viewer")
		fan1, fan1Token := w.user("fan1")
		fan2, _ := w.user("fan2")
		small, _ := w.user("small")
		celeb, _ := w.user("celeb")
		crosser, _ := w.user("crosser")
		other, _ := w.user("other")
		w.follow(viewer, small)
		for _, f := range []int64{viewer, fan1, fan2} {
			w.follow(f, celeb)
		}
		w.follow(viewer, crosser)
		w.follow(fan1, crosser)
		w.follow(viewer, other)

		base := time.Now().Add(-time.Hour)
		at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }
		published := func(id string) string { w.waitFanout(id); return id }
		small1 := published(w.publish(small, at(1), ""))
		celeb1 := published(w.publish(celeb, at(2), ""))
		cross1 := published(w.publish(crosser, at(3), "")) // 2 followers: pushed
		w.follow(fan2, crosser)                            // 3 followers: above the threshold
		cross2 := published(w.publish(crosser, at(4), ""))
		madePrivate := published(w.publish(other, at(5), ""))
		w.exec(`UPDATE videos SET visibility = 'private' WHERE id = $1`, madePrivate)
		private := published(w.publish(other, at(6), "visibility = 'private'"))
		celebHidden := published(w.publish(celeb, at(7), "hidden = 1"))
		madeHidden := published(w.publish(small, at(8), ""))
		w.exec(`UPDATE videos SET hidden = 1 WHERE id = $1`, madeHidden)
		processing := w.publish(small, at(9), "status = 'processing'")
		w.waitFanout(processing)

		for _, tc := range []struct {
			name, id string
			want     []int64
		}{
			{"under the threshold", small1, []int64{viewer}},
			{"above the threshold", celeb1, []int64{}},
			{"before crossing", cross1, []int64{viewer, fan1}},
			{"after crossing", cross2, []int64{}},
			{"private after its fan-out", madePrivate, []int64{viewer}},
			{"private", private, []int64{}},
			{"hidden", celebHidden, []int64{}},
			{"hidden after its fan-out", madeHidden, []int64{viewer}},
			{"processing", processing, []int64{}},
		} {
			if got := w.timeline(tc.id); !slices.Equal(got, tc.want) {
				t.Errorf("%s: timelines of %v, want %v", tc.name, got, tc.want)
			}
		}

		want := func(name, token string, ids ...string) {
			t.Helper()
			if got := w.all("/v1/feed/following?limit=2", token); !slices.Equal(got, ids) {
				t.Errorf("%s: %v, want %v", name, got, ids)
			}
		}
		if got := w.all("/v1/feed/following?limit=3", viewerToken); len(got) != 4 {
			t.Errorf("viewer, by 3: %v", got)
		}
		want("viewer", viewerToken, cross2, cross1, celeb1, small1)
		want("fan1", fan1Token, cross2, cross1, celeb1)

		r := w.api.do("GET", "/v1/feed/following?limit=1", viewerToken, "")
		it := r.body["items"].([]any)[0].(map[string]any)
		if c := it["creator"].(map[string]any); c["handle"] != "crosser" || it["following"] != true ||
			it["playback_url"] != "http://edge.test/v/"+cross2+"/master.m3u8" {
			t.Errorf("item: %v", it)
		}

		w.exec(`INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, 1)`, viewer, small)
		want("viewer after blocking small", viewerToken, cross2, cross1, celeb1)
		w.unfollow(viewer, crosser)
		want("viewer after unfollowing crosser", viewerToken, celeb1)
		w.unfollow(fan2, celeb) // celeb falls to the threshold: its unpushed videos stay pulled
		want("fan1 after celeb fell under the threshold", fan1Token, cross2, cross1, celeb1)
		w.unfollow(viewer, celeb)
		want("viewer after unfollowing everyone who posts", viewerToken)

		if r := w.api.do("GET", "/v1/feed/following", "", ""); r.status != 401 {
			t.Errorf("without a token: %d %v", r.status, r.body)
		}
	})
}

// TestFollowingPagination: a reader who has page 1 goes on with its cursor after new videos
// arrive, and gets exactly the rest of the feed as it was: no repeat, no gap.
func TestFollowingPagination(t *testing.T) {
	forEachFeedWorld(t, Config{CelebrityThreshold: 2}, func(w *feedWorld) {
		viewer, token := w.user("viewer")
		pushed, _ := w.user("pushed")
		celeb, _ := w.user("celeb")
		w.follow(viewer, pushed)
		for _, h := range []string{"f1", "f2"} {
			f, _ := w.user(h)
			w.follow(f, celeb)
		}
		w.follow(viewer, celeb)

		base := time.Now().Add(-time.Hour)
		var ids []string
		for i := range 8 {
			creator := pushed
			if i%2 == 1 {
				creator = celeb
			}
			// Pairs published in the same millisecond: the id orders them.
			ids = append(ids, w.publish(creator, base.Add(time.Duration(i/2)*time.Minute), ""))
		}
		for _, id := range ids {
			w.waitFanout(id)
		}
		snapshot := w.all("/v1/feed/following?limit=100", token)
		if len(snapshot) != len(ids) {
			t.Fatalf("snapshot: %d videos, want %d", len(snapshot), len(ids))
		}

		first, next := w.page("/v1/feed/following?limit=3", token)
		var fresh []string
		for _, creator := range []int64{pushed, celeb, pushed} {
			fresh = append(fresh, w.publish(creator, time.Now(), ""))
		}
		for _, id := range fresh {
			w.waitFanout(id)
		}
		got := first
		for next != "" {
			var ids []string
			ids, next = w.page("/v1/feed/following?limit=1&cursor="+next, token)
			got = append(got, ids...)
		}
		if !slices.Equal(got, snapshot) {
			t.Errorf("pages read across new videos: %v, want %v", got, snapshot)
		}
		if now := w.all("/v1/feed/following?limit=4", token); len(now) != len(snapshot)+len(fresh) ||
			!slices.Equal(now[len(fresh):], snapshot) {
			t.Errorf("a fresh read: %v, want the %d new videos, then %v", now, len(fresh), snapshot)
		}
	})
}

// TestFanoutBatches: a fan-out reaches every follower across batches, a creator at the
// threshold (not above it) is pushed, a second run adds nothing, and a deleted video leaves
// the timelines and the feed.
func TestFanoutBatches(t *testing.T) {
	forEachFeedWorld(t, Config{CelebrityThreshold: 5, FanoutBatch: 2}, func(w *feedWorld) {
		creator, _ := w.user("creator")
		var fans []int64
		var tokens []string
		for _, h := range []string{"fan1", "fan2", "fan3", "fan4", "fan5"} {
			f, token := w.user(h)
			w.follow(f, creator)
			fans, tokens = append(fans, f), append(tokens, token)
		}
		id := w.publish(creator, time.Now(), "")
		w.waitFanout(id)
		if got := w.timeline(id); !slices.Equal(got, fans) {
			t.Fatalf("timelines of %v, want %v", got, fans)
		}
		if _, err := w.d.Enqueue(t.Context(), video.FanoutJob, []byte(id), db.EnqueueOptions{Key: "again"}); err != nil {
			t.Fatal(err)
		}
		w.waitFanoutKey("again")
		if got := w.timeline(id); !slices.Equal(got, fans) {
			t.Errorf("after a second fan-out: timelines of %v, want %v", got, fans)
		}
		if got := w.all("/v1/feed/following?limit=5", tokens[4]); !slices.Equal(got, []string{id}) {
			t.Errorf("fan5's feed: %v", got)
		}
		w.exec(`DELETE FROM videos WHERE id = $1`, id)
		if got := w.timeline(id); len(got) != 0 {
			t.Errorf("a deleted video in the timelines of %v", got)
		}
		if got := w.all("/v1/feed/following?limit=5", tokens[4]); len(got) != 0 {
			t.Errorf("fan5's feed after the deletion: %v", got)
		}
	})
}

// TestFollowBackfill: a follow puts the creator's latest public videos into the follower's
// Following feed, in time order among the rest, and an unfollow or a block takes them out; a
// creator above the threshold gets nothing put but is pulled, also once under it again.
func TestFollowBackfill(t *testing.T) {
	cfg := Config{CelebrityThreshold: 2, FollowBackfill: 3, WriteBurst: 10000}
	forEachFeedWorld(t, cfg, func(w *feedWorld) {
		viewer, token := w.user("viewer")
		maker, _ := w.user("maker")
		early, _ := w.user("early")
		w.follow(viewer, early)

		base := time.Now().Add(-time.Hour)
		at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }
		published := func(id string) string { w.waitFanout(id); return id }
		var made []string // maker's public videos, oldest first
		for i := range 5 {
			made = append(made, published(w.publish(maker, at(10*i+10), "")))
		}
		published(w.publish(maker, at(55), "visibility = 'private'"))
		published(w.publish(maker, at(56), "hidden = 1"))
		published(w.publish(maker, at(57), "status = 'processing'"))
		early1 := published(w.publish(early, at(25), ""))
		early2 := published(w.publish(early, at(65), ""))

		feed := func(name string, want ...string) {
			t.Helper()
			if got := w.all("/v1/feed/following?limit=2", token); !slices.Equal(got, want) {
				t.Errorf("%s: %v, want %v", name, got, want)
			}
		}
		setFollow := func(method, handle string) {
			t.Helper()
			if r := w.api.do(method, "/v1/users/"+handle+"/follow", token, ""); r.status != 200 {
				t.Fatalf("%s follow %s: %d %v", method, handle, r.status, r.body)
			}
		}
		inTimeline := func(creator int64) int {
			t.Helper()
			var n int
			if err := w.d.SQL().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM timelines WHERE user_id = $1 AND creator_id = $2`,
				viewer, creator).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}

		feed("before the follow", early2, early1)
		setFollow("PUT", "maker")
		feed("after the follow", early2, made[4], made[3], made[2], early1)
		setFollow("PUT", "maker") // again: nothing changes
		feed("after the follow again", early2, made[4], made[3], made[2], early1)
		fresh := published(w.publish(maker, at(70), ""))
		feed("after a new video", fresh, early2, made[4], made[3], made[2], early1)

		setFollow("DELETE", "maker")
		if n := inTimeline(maker); n != 0 {
			t.Errorf("after the unfollow, %d of maker's videos in the timeline", n)
		}
		feed("after the unfollow", early2, early1)
		setFollow("PUT", "maker")
		feed("after a follow anew", fresh, early2, made[4], made[3], early1)

		if r := w.api.do("PUT", "/v1/users/maker/block", token, ""); r.status != 200 {
			t.Fatalf("block: %d %v", r.status, r.body)
		}
		if n := inTimeline(maker); n != 0 {
			t.Errorf("after the block, %d of maker's videos in the timeline", n)
		}
		if r := w.api.do("DELETE", "/v1/users/maker/block", token, ""); r.status != 200 {
			t.Fatalf("unblock: %d %v", r.status, r.body)
		}
		feed("after a block and its end", early2, early1)

		// A creator with 2 followers: the viewer's follow makes 3, above the threshold.
		celeb, _ := w.user("celeb")
		fan1, _ := w.user("fan1")
		fan2, _ := w.user("fan2")
		w.follow(fan1, celeb)
		w.follow(fan2, celeb)
		celeb1 := published(w.publish(celeb, at(30), ""))
		setFollow("PUT", "celeb")
		if n := inTimeline(celeb); n != 0 {
			t.Errorf("a creator above the threshold: %d of their videos put in the timeline", n)
		}
		feed("following a creator above the threshold", early2, celeb1, early1)
		w.unfollow(fan2, celeb) // back at the threshold: still pulled
		feed("once they are under it again", early2, celeb1, early1)
	})
}
