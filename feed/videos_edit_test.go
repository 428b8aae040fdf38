package feed

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
	"github.com/reelay/reelay/storage"
)

// putObjects stores keys (under video id's directory, and its source) as the pipeline would.
func putObjects(t *testing.T, store storage.Store, id string, names ...string) {
	t.Helper()
	for _, n := range names {
		key := layout.VideoPrefix(id) + n
		if n == "source" {
			key = layout.SourceKey(id)
		}
		if _, err := store.Put(t.Context(), key, strings.NewReader("x"), 1, storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// objectsOf returns the keys of video id in store.
func objectsOf(t *testing.T, store storage.Store, id string) []string {
	t.Helper()
	var keys []string
	for _, prefix := range []string{layout.VideoPrefix(id), layout.SourceKey(id)} {
		if err := store.List(t.Context(), prefix, func(i storage.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestPatchVideo(t *testing.T) {
	forEachWithStore(t, Config{}, func(t *testing.T, s *Service, api *client, store storage.Store, purged *purges) {
		annToken, ann := api.signUp("ann")
		bobToken, _ := api.signUp("bob")
		pub, priv := videoid.New(), videoid.New()
		putVideo(t, s.db, pub, ann, video.Ready, video.Public, "published_at = 1")
		putVideo(t, s.db, priv, ann, video.Ready, video.Private, "published_at = 1")
		marker := layout.VideoPrefix(pub) + layout.PrivateMarker

		for _, tc := range []struct {
			name, id, token, body string
			status                int
			code                  string
		}{
			{"another's public video", pub, bobToken, `{"caption":"mine"}`, 403, "forbidden"},
			{"another's private video", priv, bobToken, `{"caption":"mine"}`, 404, "not_found"},
			{"no token", pub, "", `{"caption":"mine"}`, 401, "unauthenticated"},
			{"unknown video", videoid.New(), annToken, `{"caption":"x"}`, 404, "not_found"},
			{"not an id", "NOPE", annToken, `{"caption":"x"}`, 404, "not_found"},
			{"caption too long", pub, annToken, `{"caption":"` + strings.Repeat("é", 2201) + `"}`, 400, "invalid_caption"},
			{"control character", pub, annToken, `{"caption":"a\u0000b"}`, 400, "invalid_caption"},
			{"unknown visibility", pub, annToken, `{"visibility":"secret"}`, 400, "invalid_visibility"},
			{"empty visibility", pub, annToken, `{"visibility":""}`, 400, "invalid_visibility"},
			{"unknown field", pub, annToken, `{"status":"ready"}`, 400, "invalid_json"},
			{"not JSON", pub, annToken, `caption`, 400, "invalid_json"},
		} {
			if r := api.do("PATCH", "/v1/videos/"+tc.id, tc.token, tc.body); r.status != tc.status || r.errCode() != tc.code {
				t.Errorf("%s: %d %v, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
			}
		}

		// A caption of 2200 characters with tabs and line breaks; its hashtags replace the old.
		long := "new\t#One\n#two #ONE " + strings.Repeat("x", 2200-19)
		r := api.do("PATCH", "/v1/videos/"+pub, annToken, fmt.Sprintf(`{"caption":%q}`, long))
		if r.status != 200 || r.body["caption"] != long || fmt.Sprint(r.body["hashtags"]) != "[one two]" {
			t.Fatalf("caption: %d %v", r.status, r.body["hashtags"])
		}
		var tags []string
		rows, _ := s.db.SQL().QueryContext(t.Context(), `SELECT tag FROM video_hashtags WHERE video_id = $1 ORDER BY tag`, pub)
		for rows.Next() {
			var tag string
			rows.Scan(&tag)
			tags = append(tags, tag)
		}
		rows.Close()
		if !slices.Equal(tags, []string{"one", "two"}) {
			t.Errorf("video_hashtags: %v", tags)
		}
		if purged.count(pub) != 0 {
			t.Errorf("a caption's edit purged the edges")
		}

		// Private: hidden from others, marked in the store, purged.
		r = api.do("PATCH", "/v1/videos/"+pub, annToken, `{"visibility":"private"}`)
		if r.status != 200 || r.body["visibility"] != "private" || r.body["caption"] != long {
			t.Fatalf("private: %d %v", r.status, r.body)
		}
		if _, err := store.Stat(t.Context(), marker); err != nil {
			t.Errorf("no private marker: %v", err)
		}
		if n := purged.count(pub); n != 1 {
			t.Errorf("purged %d times, want 1", n)
		}
		for _, token := range []string{bobToken, ""} {
			if r := api.do("GET", "/v1/videos/"+pub, token, ""); r.status != 404 {
				t.Errorf("another sees the private video: %d", r.status)
			}
		}
		if r := api.do("GET", "/v1/users/ann/videos", bobToken, ""); len(r.body["items"].([]any)) != 0 {
			t.Errorf("the private video is listed to another: %v", r.body)
		}
		if r := api.do("GET", "/v1/videos/"+pub, annToken, ""); r.status != 200 {
			t.Errorf("its creator no longer sees it: %d", r.status)
		}
		// The same visibility again is applied again (a retry completes what failed midway).
		store.Delete(t.Context(), marker)
		if r := api.do("PATCH", "/v1/videos/"+pub, annToken, `{"visibility":"private"}`); r.status != 200 {
			t.Errorf("private again: %d %v", r.status, r.body)
		}
		if _, err := store.Stat(t.Context(), marker); err != nil {
			t.Errorf("no private marker after private again: %v", err)
		}
		if n := purged.count(pub); n != 2 {
			t.Errorf("purged %d times, want 2", n)
		}

		// Unlisted (by the admin): the mark goes, and the edges are purged again.
		r = api.do("PATCH", "/v1/videos/"+pub, "admin-token-for-tests", `{"visibility":"unlisted"}`)
		if r.status != 200 || r.body["visibility"] != "unlisted" {
			t.Fatalf("unlisted: %d %v", r.status, r.body)
		}
		if _, err := store.Stat(t.Context(), marker); err == nil {
			t.Error("the private marker is left")
		}
		if n := purged.count(pub); n != 3 {
			t.Errorf("purged %d times, want 3", n)
		}
		if r := api.do("GET", "/v1/videos/"+pub, bobToken, ""); r.status != 200 {
			t.Errorf("another does not see the unlisted video: %d", r.status)
		}
	})
}

func TestDeleteVideo(t *testing.T) {
	forEachWithStore(t, Config{}, func(t *testing.T, s *Service, api *client, store storage.Store, purged *purges) {
		annToken, ann := api.signUp("ann")
		bobToken, bob := api.signUp("bob")
		ready, priv, processing, other := videoid.New(), videoid.New(), videoid.New(), videoid.New()
		putVideo(t, s.db, ready, ann, video.Ready, video.Public, "published_at = 1, generation = 'aaaaaaaa'")
		putVideo(t, s.db, priv, ann, video.Ready, video.Private, "published_at = 1")
		putVideo(t, s.db, processing, ann, video.Processing, video.Public, "")
		putVideo(t, s.db, other, ann, video.Ready, video.Public, "published_at = 1")
		putObjects(t, store, ready, layout.Master, "aaaaaaaa/poster.jpg", "aaaaaaaa/360p/seg_00001.m4s", "bbbbbbbb/360p/init.mp4", "source")
		putObjects(t, store, priv, layout.Master, layout.PrivateMarker, "aaaaaaaa/360p/seg_00001.m4s", "source")
		putObjects(t, store, processing, layout.Master, "aaaaaaaa/360p/seg_00001.m4s", "source")
		putObjects(t, store, other, layout.Master, "source")
		for _, q := range []string{
			`INSERT INTO likes (video_id, user_id, created_at) VALUES ($1, $2, 1)`,
			`INSERT INTO comments (video_id, user_id, body, created_at) VALUES ($1, $2, 'hi', 1)`,
			`INSERT INTO reports (video_id, user_id, reason, created_at) VALUES ($1, $2, 'spam', 1)`,
			`INSERT INTO timelines (video_id, user_id, creator_id, published_at) VALUES ($1, $2, 1, 1)`,
		} {
			if _, err := s.db.Exec(t.Context(), q, ready, bob); err != nil {
				t.Fatal(err)
			}
		}

		for _, tc := range []struct {
			name, id, token string
			status          int
			code            string
		}{
			{"another's public video", ready, bobToken, 403, "forbidden"},
			{"another's private video", priv, bobToken, 404, "not_found"},
			{"another's processing video", processing, bobToken, 404, "not_found"},
			{"no token", ready, "", 401, "unauthenticated"},
			{"unknown video", videoid.New(), annToken, 404, "not_found"},
		} {
			if r := api.do("DELETE", "/v1/videos/"+tc.id, tc.token, ""); r.status != tc.status || r.errCode() != tc.code {
				t.Errorf("%s: %d %v, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
			}
		}
		if len(objectsOf(t, store, ready)) != 5 || purged.count(ready) != 0 {
			t.Fatal("a refused deletion deleted objects or purged")
		}

		for _, tc := range []struct {
			name, id, token string
			left            []string // what the store keeps
		}{
			{"ready, by its creator", ready, annToken, nil},
			{"private, by the admin", priv, "admin-token-for-tests", nil},
			// Marked private for what its transcode may still write; the worker removes it.
			{"processing", processing, annToken, []string{layout.VideoPrefix(processing) + layout.PrivateMarker}},
		} {
			if r := api.do("DELETE", "/v1/videos/"+tc.id, tc.token, ""); r.status != 204 {
				t.Errorf("%s: %d %v", tc.name, r.status, r.body)
				continue
			}
			if r := api.do("GET", "/v1/videos/"+tc.id, annToken, ""); r.status != 404 {
				t.Errorf("%s: GET after DELETE: %d", tc.name, r.status)
			}
			var n int
			s.db.SQL().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM videos WHERE id = $1`, tc.id).Scan(&n)
			if n != 0 {
				t.Errorf("%s: the row is left", tc.name)
			}
			if left := objectsOf(t, store, tc.id); !slices.Equal(left, tc.left) {
				t.Errorf("%s: left in the store %v, want %v", tc.name, left, tc.left)
			}
			if purged.count(tc.id) != 1 {
				t.Errorf("%s: purged %d times, want 1", tc.name, purged.count(tc.id))
			}
			if r := api.do("DELETE", "/v1/videos/"+tc.id, tc.token, ""); r.status != 404 {
				t.Errorf("%s: DELETE again: %d", tc.name, r.status)
			}
		}
		for _, table := range []string{"likes", "comments", "reports", "timelines", "video_hashtags"} {
			var n int
			s.db.SQL().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM `+table+` WHERE video_id = $1`, ready).Scan(&n)
			if n != 0 {
				t.Errorf("%d rows of %s are left", n, table)
			}
		}
		if len(objectsOf(t, store, other)) != 2 || purged.count(other) != 0 {
			t.Error("another video's objects were touched")
		}
		if r := api.do("GET", "/v1/users/ann", "", ""); r.body["video_count"] != 1.0 {
			t.Errorf("video_count after the deletions: %v", r.body["video_count"])
		}
	})
}

func TestUserVideos(t *testing.T) {
	forEachService(t, Config{}, func(t *testing.T, s *Service, api *client) {
		annToken, ann := api.signUp("ann")
		bobToken, bob := api.signUp("bob")
		// Public ones, two published at the same instant; then the others.
		var public []string
		for _, at := range []int{10, 20, 20, 30, 40, 50, 60} {
			id := videoid.New()
			putVideo(t, s.db, id, ann, video.Ready, video.Public, fmt.Sprintf("published_at = %d", at))
			public = append(public, id)
		}
		more := map[string]string{}
		for name, q := range map[string]string{
			"private":  "visibility = 'private', published_at = 25",
			"unlisted": "visibility = 'unlisted', published_at = 35",
			"hidden":   "hidden = 1, published_at = 45",
		} {
			id := videoid.New()
			putVideo(t, s.db, id, ann, video.Ready, video.Public, q)
			more[name] = id
		}
		putVideo(t, s.db, videoid.New(), ann, video.Processing, video.Public, "")
		putVideo(t, s.db, videoid.New(), bob, video.Ready, video.Public, "published_at = 15")

		// newest first: published_at, then id, both descending
		published := map[string]int{}
		for i, at := range []int{10, 20, 20, 30, 40, 50, 60} {
			published[public[i]] = at
		}
		published[more["private"]], published[more["unlisted"]], published[more["hidden"]] = 25, 35, 45
		order := func(ids []string) []string {
			ids = slices.Clone(ids)
			slices.SortFunc(ids, func(a, b string) int {
				if published[a] != published[b] {
					return published[b] - published[a]
				}
				return strings.Compare(b, a)
			})
			return ids
		}
		all := append(slices.Clone(public), more["private"], more["unlisted"], more["hidden"])

		list := func(token string, limit int) []string {
			t.Helper()
			var ids []string
			cursor := ""
			for page := 0; ; page++ {
				r := api.do("GET", fmt.Sprintf("/v1/users/ann/videos?limit=%d&cursor=%s", limit, cursor), token, "")
				if r.status != 200 || page > 20 {
					t.Fatalf("page %d: %d %v", page, r.status, r.body)
				}
				items := r.body["items"].([]any)
				if len(items) > limit {
					t.Fatalf("page of %d items, limit %d", len(items), limit)
				}
				for _, it := range items {
					it := it.(map[string]any)
					if it["creator"].(map[string]any)["handle"] != "ann" {
						t.Errorf("an item of another creator: %v", it)
					}
					ids = append(ids, it["id"].(string))
				}
				if cursor = r.body["next_cursor"].(string); cursor == "" {
					return ids
				}
			}
		}
		for _, tc := range []struct {
			name, token string
			want        []string
		}{
			{"anonymous", "", order(public)},
			{"another user", bobToken, order(public)},
			{"the creator", annToken, order(all)},
			{"the admin", "admin-token-for-tests", order(all)},
		} {
			for _, limit := range []int{1, 2, 3, 100} {
				if got := list(tc.token, limit); !slices.Equal(got, tc.want) {
					t.Errorf("%s, limit %d: %v, want %v", tc.name, limit, got, tc.want)
				}
			}
		}

		// A video published while paging shows neither twice nor shifts the pages.
		r := api.do("GET", "/v1/users/ann/videos?limit=3", "", "")
		first := r.body["items"].([]any)
		putVideo(t, s.db, videoid.New(), ann, video.Ready, video.Public, "published_at = 70")
		r = api.do("GET", "/v1/users/ann/videos?limit=100&cursor="+r.body["next_cursor"].(string), "", "")
		var got []string
		for _, it := range append(first, r.body["items"].([]any)...) {
			got = append(got, it.(map[string]any)["id"].(string))
		}
		if !slices.Equal(got, order(public)) {
			t.Errorf("pages around a new video: %v, want %v", got, order(public))
		}

		// A viewer who blocked the creator sees none.
		if _, err := s.db.Exec(t.Context(), `INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, 1)`, bob, ann); err != nil {
			t.Fatal(err)
		}
		if got := list(bobToken, 5); len(got) != 0 {
			t.Errorf("the blocker sees %v", got)
		}

		for _, tc := range []struct {
			path   string
			status int
			code   string
		}{
			{"/v1/users/nobody/videos", 404, "not_found"},
			{"/v1/users/a/videos", 404, "not_found"},
			{"/v1/users/ann/videos?cursor=bm9wZQ", 400, "bad_cursor"},
			{"/v1/users/ann/videos?cursor=" + encodeCursor(userVideosCursor{Published: 5, ID: "../x"}), 400, "bad_cursor"},
			{"/v1/users/ann/videos?cursor=" + encodeCursor(userVideosCursor{Published: 5}), 400, "bad_cursor"},
			{"/v1/users/ann/videos?cursor=!!", 400, "bad_cursor"},
			{"/v1/users/ann/videos?limit=0", 400, "bad_limit"},
			{"/v1/users/ann/videos?limit=101", 400, "bad_limit"},
		} {
			if r := api.do("GET", tc.path, "", ""); r.status != tc.status || r.errCode() != tc.code {
				t.Errorf("%s: %d %v, want %d %s", tc.path, r.status, r.body, tc.status, tc.code)
			}
		}
	})
}

// TestMadePublicFansOut makes a private video public after its fan-out on publish pushed
// nothing: the edit queues another, which pushes it into the followers' Following feeds.
func TestMadePublicFansOut(t *testing.T) {
	forEachWithStore(t, Config{}, func(t *testing.T, s *Service, api *client, _ storage.Store, _ *purges) {
		annToken, ann := api.signUp("ann")
		bobToken, _ := api.signUp("bob")
		if r := api.do("PUT", "/v1/users/ann/follow", bobToken, ""); r.status != 200 {
			t.Fatalf("follow: %d %v", r.status, r.body)
		}
		id := videoid.New()
		putVideo(t, s.db, id, ann, video.Ready, video.Private, "published_at = 1")
		runService(t, s)
		if _, err := s.db.Enqueue(t.Context(), video.FanoutJob, []byte(id), db.EnqueueOptions{Key: id}); err != nil {
			t.Fatal(err)
		}
		feedIDs := func() string {
			r := api.do("GET", "/v1/feed/following", bobToken, "")
			var ids []string
			for _, it := range r.body["items"].([]any) {
				ids = append(ids, it.(map[string]any)["id"].(string))
			}
			return strings.Join(ids, ",")
		}
		// The publish's fan-out is done once its job is: nothing pushed.
		waitJobsDone(t, s.db)
		if got := feedIDs(); got != "" {
			t.Fatalf("bob's feed with ann's private video: %q", got)
		}
		if r := api.do("PATCH", "/v1/videos/"+id, annToken, `{"visibility":"public"}`); r.status != 200 {
			t.Fatalf("make public: %d %v", r.status, r.body)
		}
		for deadline := time.Now().Add(time.Minute); feedIDs() != id; {
			if time.Now().After(deadline) {
				t.Fatalf("bob's feed a minute after ann made her video public: %q", feedIDs())
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// waitJobsDone waits until no job of the queue is queued or running, for at most a minute.
func waitJobsDone(t *testing.T, d *db.DB) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		var n int
		if err := d.SQL().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs not done after a minute", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
