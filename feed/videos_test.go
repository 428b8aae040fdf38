package feed

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
)

// uploadsFunc is a hand-written Uploads: the ingest tier's answer for each upload id.
type uploadsFunc func(id string) (video.Upload, error)

func (f uploadsFunc) UploadProgress(_ context.Context, id string) (video.Upload, error) { return f(id) }

// putVideo stores a video row as the pipeline leaves it, for the catalogue to read.
func putVideo(t *testing.T, d *db.DB, id string, owner int64, status video.Status, vis video.Visibility, extra string) {
	t.Helper()
	now := db.Millis(time.Now())
	q := `INSERT INTO videos (id, user_id, status, caption, visibility, created_at, updated_at) VALUES ($1, $2, $3, 'hi #tag', $4, $5, $5)`
	if _, err := d.Exec(t.Context(), q, id, owner, status, vis, now); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(t.Context(), `INSERT INTO video_hashtags (video_id, tag) VALUES ($1, 'tag')`, id); err != nil {
		t.Fatal(err)
	}
	if extra != "" {
		if _, err := d.Exec(t.Context(), `UPDATE videos SET `+extra+` WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVideoResource(t *testing.T) {
	forEachStore(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		accounts := NewAccounts(d)
		user := func(handle string) (int64, string) {
			u, err := accounts.CreateUser(ctx, handle, "h")
			if err != nil {
				t.Fatal(err)
			}
			token, hash := auth.NewToken()
			if err := accounts.CreateToken(ctx, hash, u.ID, time.Time{}); err != nil {
				t.Fatal(err)
			}
			return u.ID, token
		}
		ann, annToken := user("ann")
		_, bobToken := user("bob")

		uploading, refused, gone := videoid.New(), videoid.New(), videoid.New()
		uploads := uploadsFunc(func(id string) (video.Upload, error) {
			switch id {
			case uploading:
				return video.Upload{Owner: ann, Status: video.Uploading, Progress: 40, CreatedAt: time.Now()}, nil
			case refused:
				return video.Upload{Owner: ann, Status: video.Failed, ErrorCode: "not_video", Error: "not a video"}, nil
			case gone:
				return video.Upload{Owner: ann, Gone: "expired"}, nil
			}
			return video.Upload{}, db.ErrNotFound
		})
		s, err := New(Config{PlaybackURL: "https://edge.test/", SignPlayback: func(id string) string { return "exp=9&sig=" + id[:4] }}, d, uploads)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(auth.NewAuthenticator(s.Tokens(), "admin-token-for-tests", nil).Middleware(s.Handler()))
		t.Cleanup(srv.Close)
		api := &client{t: t, base: srv.URL}

		ready, private, processing, playable, failed := videoid.New(), videoid.New(), videoid.New(), videoid.New(), videoid.New()
		putVideo(t, d, ready, ann, video.Ready, video.Public,
			`progress = 100, duration_ms = 5000, width = 720, height = 1280, published_at = 1, renditions = '[{"name":"720p","kind":"video","bandwidth":2750000,"codecs":"avc1.64001f","playlist":"720p/index.m3u8"}]'`)
		putVideo(t, d, private, ann, video.Ready, video.Private, "progress = 100, published_at = 1")
		putVideo(t, d, processing, ann, video.Processing, video.Unlisted, "progress = 30")
		putVideo(t, d, playable, ann, video.Processing, video.Public, "progress = 50, playable_at = 1")
		putVideo(t, d, failed, ann, video.Failed, video.Public, "error_code = 'undecodable', error = 'the file is damaged'")

		for _, tc := range []struct {
			name, id, token string
			status          int
			want            map[string]any // fields of the answer
		}{
			{"ready, anyone", ready, "", 200, map[string]any{"status": "ready", "playable": true,
				"playback_url": "https://edge.test/v/" + ready + "/master.m3u8", "poster_url": "https://edge.test/v/" + ready + "/poster.jpg",
				"duration_ms": 5000.0, "caption": "hi #tag"}},
			{"private, its creator", private, annToken, 200, map[string]any{"status": "ready",
				"playback_url": "https://edge.test/v/" + private + "/master.m3u8?exp=9&sig=" + private[:4]}},
			{"private, another user", private, bobToken, 404, nil},
			{"private, anonymous", private, "", 404, nil},
			{"private, the admin", private, "admin-token-for-tests", 200, map[string]any{"status": "ready"}},
			{"processing, its creator", processing, annToken, 200, map[string]any{"status": "processing", "progress": 30.0,
				"playable": false, "playback_url": ""}},
			{"processing, another user", processing, bobToken, 404, nil},
			{"playable while processing", playable, annToken, 200, map[string]any{"status": "processing", "playable": true,
				"playback_url": "https://edge.test/v/" + playable + "/master.m3u8", "poster_url": ""}},
			{"failed", failed, annToken, 200, map[string]any{"status": "failed"}},
			{"uploading, its creator", uploading, annToken, 200, map[string]any{"status": "uploading", "progress": 40.0}},
			{"uploading, another user", uploading, bobToken, 404, nil},
			{"uploading, anonymous", uploading, "", 404, nil},
			{"refused", refused, annToken, 200, map[string]any{"status": "failed"}},
			{"gone", gone, annToken, 410, nil},
			{"unknown", videoid.New(), annToken, 404, nil},
			{"not an id", "NOT-AN-ID", annToken, 404, nil},
		} {
			r := api.do("GET", "/v1/videos/"+tc.id, tc.token, "")
			if r.status != tc.status {
				t.Errorf("%s: %d %v, want %d", tc.name, r.status, r.body, tc.status)
				continue
			}
			for k, v := range tc.want {
				if r.body[k] != v {
					t.Errorf("%s: %s = %v, want %v", tc.name, k, r.body[k], v)
				}
			}
		}
		for _, id := range []string{ready, uploading} {
			r := api.do("GET", "/v1/videos/"+id, annToken, "")
			if c, _ := r.body["creator"].(map[string]any); c["handle"] != "ann" || c["avatar_url"] != "" {
				t.Errorf("creator of %s: %v", id, r.body["creator"])
			}
		}
		r := api.do("GET", "/v1/videos/"+ready, "", "")
		if rs, _ := r.body["renditions"].([]any); len(rs) != 1 || rs[0].(map[string]any)["playlist"] != "720p/index.m3u8" {
			t.Errorf("renditions of a ready video: %v", r.body["renditions"])
		}
		if tags, _ := r.body["hashtags"].([]any); len(tags) != 1 || tags[0] != "tag" {
			t.Errorf("hashtags: %v", r.body["hashtags"])
		}
		r = api.do("GET", "/v1/videos/"+failed, annToken, "")
		if e, _ := r.body["error"].(map[string]any); e["code"] != "undecodable" || !strings.Contains(e["message"].(string), "damaged") {
			t.Errorf("error of a failed video: %v", r.body["error"])
		}
		r = api.do("GET", "/v1/videos/"+refused, annToken, "")
		if e, _ := r.body["error"].(map[string]any); e["code"] != "not_video" {
			t.Errorf("error of a refused upload: %v", r.body["error"])
		}
	})
}

func TestNewNeedsPlaybackURL(t *testing.T) {
	forEachStore(t, func(t *testing.T, d *db.DB) {
		for _, u := range []string{"", "edge:8081", "ftp://edge"} {
			if _, err := New(Config{PlaybackURL: u}, d, nil); err == nil {
				t.Errorf("New with PlaybackURL %q succeeded", u)
			}
		}
	})
}
