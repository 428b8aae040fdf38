package prefetch_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/cluster"
	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/edge"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/videoid"
	"github.com/reelay/reelay/origin"
	"github.com/reelay/reelay/pipeline"
	"github.com/reelay/reelay/recommender/prefetch"
	"github.com/reelay/reelay/storage"
	"github.com/reelay/reelay/transcoder"
)

const adminToken = "admin-token-for-tests"

// TestNextSegmentHitOnTheEdgeAsked is the next swipe as a player makes it: the feed serves a
// For You page, the player plays its first video and says so (a play event), then swipes to
// the second and fetches it from the edge of its playback URL as hls.js does: master
// playlist, then the media playlists of the rendition it played the first in (its play event
// said which) and of the audio, their init segments and first segments. With prefetch on, those first segments are hits on the edge asked, one
// of a cluster of two, whichever node owns them; with prefetch off, they are misses.
func TestNextSegmentHitOnTheEdgeAsked(t *testing.T) {
	testenv.RequireCommand(t, "ffmpeg")
	store, videos := ladders(t, 3)
	org := httptest.NewServer(mustOrigin(t, store).Handler())
	t.Cleanup(org.Close)
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("prefetch=%v", on), func(t *testing.T) {
			testenv.ForEachDSN(t, func(t *testing.T, dsn string) {
				w := newWorld(t, dsn, org.URL, videos, on)
				items := w.forYou()
				if len(items) != len(videos) {
					t.Fatalf("For You served %d videos, want %d", len(items), len(videos))
				}
				// The player plays the first video in its last variant, not the one a player
				// starts with, and says so.
				_, m := w.do("GET", items[0].PlaybackURL, "")
				variants := variantURIs(m)
				if len(variants) < 2 {
					t.Fatalf("the ladder has %d variants, want 2", len(variants))
				}
				rendition := path.Base(path.Dir(variants[len(variants)-1]))
				w.event(items[0].ID, "play", 0, rendition)
				if on {
					// Hinted: the page's first two videos as it was served, in the first
					// variant; once the first plays, the second and the third in the
					// rendition it plays.
					w.waitSent(4)
				}
				statuses := w.swipeTo(items[1].PlaybackURL, rendition)
				if len(statuses) != 2 {
					t.Fatalf("the next video has %d renditions to start, want a video and an audio one", len(statuses))
				}
				st := w.asked.Stats()
				for i, status := range statuses {
					what := []string{"video", "audio"}[i]
					if on && !strings.HasPrefix(status, "edge-a; hit") {
						t.Errorf("next video's first %s segment: Cache-Status %q; want a hit on edge-a", what, status)
					}
					if !on && !strings.HasPrefix(status, "edge-a; fwd=uri-miss") {
						t.Errorf("without prefetch, next video's first %s segment: Cache-Status %q; want a miss on edge-a", what, status)
					}
				}
				if on && st.PrefetchUsed < 6 { // playlists, inits and first segments of both
					t.Errorf("%d prefetched objects used on edge-a, want at least 6", st.PrefetchUsed)
				}
				if !on && st.Prefetched != 0 {
					t.Errorf("without prefetch, %d objects prefetched", st.Prefetched)
				}
			})
		})
	}
}

// ladders transcodes a short lavfi clip into n videos' HLS ladders (two small rungs, half a
// second segments) in a store of its own, and returns the store and the videos' ids.
func ladders(t *testing.T, n int) (storage.Store, []string) {
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.mp4")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=240x426:r=30:d=2", "-f", "lavfi", "-i", "sine=f=440:d=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", clip).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	store, err := storage.NewFS(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	ladder, err := transcoder.ParseLadder("240p:300k,144p:150k")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := transcoder.New(transcoder.Config{Ladder: ladder, SegmentDuration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range n {
		id := videoid.New()
		if _, err := pipeline.Transcode(t.Context(), tc, transcoder.Input{Path: clip}, pipeline.Output{Store: store, Prefix: layout.VideoPrefix(id)}, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return store, ids
}

func mustOrigin(t *testing.T, store storage.Store) *origin.Origin {
	o, err := origin.New(origin.Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// world is the system under test: two edges over the origin, the feed on dsn with the videos
// ready, and a viewer; with prefetch on, a Prefetcher hinting the edge the player asks.
type world struct {
	t      *testing.T
	api    string
	token  string
	asked  *edge.Edge // the edge of the playback URL
	reg    *prometheus.Registry
	client *http.Client
}

func newWorld(t *testing.T, dsn, originURL string, videos []string, prefetchOn bool) *world {
	ctx, cancel := context.WithCancel(context.Background())
	var stops []chan error
	t.Cleanup(func() {
		cancel()
		for _, s := range stops {
			<-s
		}
	})
	start := func(run func(context.Context) error) {
		done := make(chan error, 1)
		stops = append(stops, done)
		go func() { done <- run(ctx) }()
	}
	w := &world{t: t, reg: prometheus.NewRegistry(), client: &http.Client{Timeout: 30 * time.Second}}

	var edges []*edge.Edge
	for i, name := range []string{"edge-a", "edge-b"} {
		cc := cluster.Config{Name: name, BindAddr: "127.0.0.1:0", Tuning: cluster.TuningLocal}
		if i > 0 {
			cc.Seeds = []string{edges[0].Self().Addr}
		}
		e, err := edge.New(edge.Config{Addr: "127.0.0.1:0", Origin: originURL, Name: name, Cluster: &cc, AdminToken: adminToken, MemBytes: 64 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		start(e.Run)
		edges = append(edges, e)
	}
	w.asked = edges[0]
	poll(t, "both edges to see each other", func() bool {
		return len(edges[0].Stats().Members) == 2 && len(edges[1].Stats().Members) == 2
	})

	d, err := db.Open(ctx, dsn, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	cfg := feed.Config{PlaybackURL: w.asked.URL()}
	var pf *prefetch.Prefetcher
	if prefetchOn {
		pf, err = prefetch.New(prefetch.Config{Edges: []string{w.asked.URL()}, AdminToken: adminToken, Registerer: w.reg})
		if err != nil {
			t.Fatal(err)
		}
		cfg.ForYouServed = pf.Served
	}
	svc, err := feed.New(cfg, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pf != nil {
		pf.Watch(svc.Events())
		start(pf.Run)
	}
	start(svc.Run)
	api := httptest.NewServer(auth.NewAuthenticator(svc.Tokens(), "", nil).Middleware(svc.Handler()))
	t.Cleanup(api.Close)
	w.api = api.URL

	accounts := feed.NewAccounts(d)
	creator, err := accounts.CreateUser(ctx, "creator", "h")
	if err != nil {
		t.Fatal(err)
	}
	viewer, err := accounts.CreateUser(ctx, "viewer", "h")
	if err != nil {
		t.Fatal(err)
	}
	var hash []byte
	w.token, hash = auth.NewToken()
	if err := accounts.CreateToken(ctx, hash, viewer.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	now := db.Millis(time.Now())
	for i, id := range videos {
		// The first video is the newest: the interim ranking puts it first, all else equal.
		at := now - int64(i)*1000
		if _, err := d.Exec(ctx, `INSERT INTO videos (id, user_id, status, visibility, duration_ms, width, height, created_at, updated_at, published_at)
			VALUES ($1, $2, 'ready', 'public', 2000, 240, 426, $3, $3, $3)`, id, creator.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *world) do(method, url, body string) (*http.Response, []byte) {
	w.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	if strings.HasPrefix(url, w.api) {
		req.Header.Set("Authorization", "Bearer "+w.token)
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := w.client.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return resp, b
}

type item struct {
	ID          string `json:"id"`
	PlaybackURL string `json:"playback_url"`
}

func (w *world) forYou() []item {
	resp, body := w.do("GET", w.api+"/v1/feed/foryou?limit=10", "")
	var page struct{ Items []item }
	if resp.StatusCode != 200 || json.Unmarshal(body, &page) != nil {
		w.t.Fatalf("For You: %d %s", resp.StatusCode, body)
	}
	return page.Items
}

func (w *world) event(video, typ string, pos int, rendition string) {
	body := fmt.Sprintf(`{"events":[{"video":%q,"type":%q,"position":%d,"rendition":%q,"at":%q}]}`,
		video, typ, pos, rendition, time.Now().UTC().Format(time.RFC3339Nano))
	if resp, b := w.do("POST", w.api+"/v1/events", body); resp.StatusCode != 202 {
		w.t.Fatalf("events: %d %s", resp.StatusCode, b)
	}
}

// waitSent waits until the Prefetcher has sent n videos' hints, which the edge answers once
// it holds them.
func (w *world) waitSent(n float64) {
	poll(w.t, fmt.Sprintf("%v videos hinted", n), func() bool {
		mfs, _ := w.reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() != "reelay_prefetch_hints_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "sent" && m.GetCounter().GetValue() >= n {
					return true
				}
			}
		}
		return false
	})
}

// swipeTo fetches a video as hls.js starts it in rendition: the master playlist, the
// rendition's media playlist and the audio rendition's, then of each its init segment and
// first segment. It returns the first segments' Cache-Status, video then audio.
func (w *world) swipeTo(master, rendition string) []string {
	w.t.Helper()
	get := func(url string) (*http.Response, []byte) {
		resp, body := w.do("GET", url, "")
		if resp.StatusCode != 200 {
			w.t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
		}
		return resp, body
	}
	_, m := get(master)
	var playlists []string
	for _, uri := range variantURIs(m) {
		if path.Base(path.Dir(uri)) == rendition {
			playlists = append(playlists, resolve(master, uri))
		}
	}
	if len(playlists) != 1 {
		w.t.Fatalf("no variant %s in the master playlist:\n%s", rendition, m)
	}
	for line := range strings.SplitSeq(string(m), "\n") {
		if strings.HasPrefix(line, "#EXT-X-MEDIA:TYPE=AUDIO") {
			_, uri, _ := strings.Cut(line, `URI="`)
			uri, _, _ = strings.Cut(uri, `"`)
			playlists = append(playlists, resolve(master, uri))
		}
	}
	var statuses []string
	for _, media := range playlists {
		_, p := get(media)
		var init, seg string
		sc := bufio.NewScanner(bytes.NewReader(p))
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, `#EXT-X-MAP:URI="`); ok && init == "" {
				init, _, _ = strings.Cut(rest, `"`)
			} else if line != "" && !strings.HasPrefix(line, "#") && seg == "" {
				seg = line
			}
		}
		if init == "" || seg == "" {
			w.t.Fatalf("media playlist without an init or a segment:\n%s", p)
		}
		get(resolve(media, init))
		resp, _ := get(resolve(media, seg))
		statuses = append(statuses, resp.Header.Get("Cache-Status"))
	}
	return statuses
}

// variantURIs returns the URIs of a master playlist's variants, in order.
func variantURIs(master []byte) []string {
	var uris []string
	next := false
	for line := range strings.SplitSeq(string(master), "\n") {
		switch {
		case strings.HasPrefix(line, "#EXT-X-STREAM-INF"):
			next = true
		case next && line != "" && !strings.HasPrefix(line, "#"):
			uris = append(uris, line)
			next = false
		}
	}
	return uris
}

// resolve resolves a playlist's relative URI against the playlist's URL.
func resolve(base, uri string) string {
	i := strings.Index(base, "/v/")
	return base[:i] + path.Join(path.Dir(base[i:]), uri)
}

// poll polls cond until it holds, failing the test after a deadline.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
