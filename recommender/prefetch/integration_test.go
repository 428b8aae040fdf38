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
// playlist, the first variant's media playlist, init segment, first segment. With prefetch on,
// that first segment is a hit on the edge asked, one of a cluster of two whatever node owns
// it; with prefetch off, it is a miss.
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
				w.event(items[0].ID, "play", 0)
				if on {
					// Hinted: the page's first two videos as it was served, the third once
					// the first plays.
					w.waitSent(3)
				}
				status := w.swipeTo(items[1].PlaybackURL)
				st := w.asked.Stats()
				if on {
					if !strings.HasPrefix(status, "edge-a; hit") || st.PrefetchUsed == 0 {
						t.Errorf("next video's first segment: Cache-Status %q, %d prefetched objects used; want a hit on edge-a", status, st.PrefetchUsed)
					}
				} else if !strings.HasPrefix(status, "edge-a; fwd=uri-miss") || st.Prefetched != 0 {
					t.Errorf("without prefetch: Cache-Status %q, %d objects prefetched; want a miss and none", status, st.Prefetched)
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

func (w *world) event(video, typ string, pos int) {
	body := fmt.Sprintf(`{"events":[{"video":%q,"type":%q,"position":%d,"at":%q}]}`, video, typ, pos, time.Now().UTC().Format(time.RFC3339Nano))
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

// swipeTo fetches a video from its master playlist down to its first segment, as hls.js
// starts it on the first variant, and returns the first segment's Cache-Status.
func (w *world) swipeTo(master string) string {
	w.t.Helper()
	get := func(url string) (*http.Response, []byte) {
		resp, body := w.do("GET", url, "")
		if resp.StatusCode != 200 {
			w.t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
		}
		return resp, body
	}
	_, m := get(master)
	media := resolve(master, firstURI(m, "#EXT-X-STREAM-INF"))
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
	return resp.Header.Get("Cache-Status")
}

// firstURI returns the URI on the line after the first tag line starting with tag.
func firstURI(playlist []byte, tag string) string {
	next := false
	for line := range strings.SplitSeq(string(playlist), "\n") {
		switch {
		case strings.HasPrefix(line, tag):
			next = true
		case next && line != "" && !strings.HasPrefix(line, "#"):
			return line
		}
	}
	return ""
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
