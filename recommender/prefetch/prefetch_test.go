package prefetch

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// fakeEdge answers POST /_edge/prefetch as an edge does, reporting bytes for each video, and
// keeps the requests it took.
type fakeEdge struct {
	*httptest.Server
	bytes  int64 // reported per video
	status int   // answered, 200 when 0

	mu   sync.Mutex
	reqs []prefetchRequest
	auth []string
}

func newFakeEdge(t *testing.T, bytes int64) *fakeEdge {
	e := &fakeEdge{bytes: bytes}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req prefetchRequest
		if r.Method != http.MethodPost || r.URL.Path != "/_edge/prefetch" || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		e.mu.Lock()
		e.reqs = append(e.reqs, req)
		e.auth = append(e.auth, r.Header.Get("Authorization"))
		status := e.status
		e.mu.Unlock()
		if status != 0 {
			http.Error(w, "refused", status)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"bytes": e.bytes * int64(len(req.Videos))})
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *fakeEdge) videos() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, r := range e.reqs {
		out = append(out, r.Videos...)
	}
	return out
}

// count is the value of the hints counter for result.
func (p *Prefetcher) count(result string) float64 {
	var m dto.Metric
	p.m.hints.WithLabelValues(result).Write(&m)
	return m.GetCounter().GetValue()
}

func (p *Prefetcher) bytesReported() float64 {
	var m dto.Metric
	p.m.bytes.Write(&m)
	return m.GetCounter().GetValue()
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 20s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func run(t *testing.T, p *Prefetcher) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestHints follows hints from the page served to the edges: the next two videos of a new
// viewer go to every edge with the admin token, the rendition and the segments; what was
// hinted lately is not hinted again; past the viewer's budget videos are dropped.
func TestHints(t *testing.T) {
	clk := &clock{time.Unix(1000, 0)}
	a, b := newFakeEdge(t, 1000), newFakeEdge(t, 1000)
	reg := prometheus.NewRegistry()
	p, err := New(Config{Edges: []string{a.URL, b.URL + "/"}, AdminToken: "admin-token-0123456", UserBurst: 3, UserInterval: time.Hour,
		Registerer: reg, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	run(t, p)
	p.Served(7, []string{"v1", "v2", "v3", "v4", "v5"})
	// Before the first video: v1 (0.95) and v2 (0.95·0.95·0.3 = 0.27) pass the threshold.
	waitFor(t, "the first hint sent to both edges", func() bool { return p.count("sent") == 4 })
	for _, e := range []*fakeEdge{a, b} {
		e.mu.Lock()
		req, auth := e.reqs[0], e.auth[0]
		e.mu.Unlock()
		want := prefetchRequest{Videos: []string{"v1", "v2"}, Rendition: "auto", Segments: 2, Local: true}
		if !slices.Equal(req.Videos, want.Videos) || req.Rendition != want.Rendition || req.Segments != want.Segments || !req.Local || auth != "Bearer admin-token-0123456" {
			t.Errorf("edge took %+v with %q, want %+v with the admin token", req, auth, want)
		}
	}
	if got := p.bytesReported(); got != 4000 {
		t.Errorf("bytes reported %v, want 4000", got)
	}
	// Playing v1: v2 was hinted already, v3 is new; the viewer's third video is the last of
	// their budget.
	p.handle(t.Context(), evs(7, feed.EventPlay, "v1"))
	waitFor(t, "v3 hinted", func() bool { return slices.Contains(a.videos(), "v3") })
	// Playing v3: v4 and v5 are past the budget.
	p.handle(t.Context(), evs(7, feed.EventPlay, "v3"))
	if got := p.count("budget"); got != 2 {
		t.Errorf("dropped for the budget: %v, want 2", got)
	}
	if got := p.count("duplicate"); got != 1 {
		t.Errorf("dropped as duplicates: %v, want 1", got)
	}
	// Another viewer has a budget of their own, and the videos hinted lately are still not
	// hinted again; events of viewers that this process served nothing are ignored.
	p.handle(t.Context(), evs(9, feed.EventPlay, "v9"))
	p.Served(8, []string{"v4", "v1"})
	waitFor(t, "v4 hinted for the other viewer", func() bool { return slices.Contains(a.videos(), "v4") })
	if got := p.count("duplicate"); got != 2 {
		t.Errorf("dropped as duplicates: %v, want 2", got)
	}
	if want := []string{"v1", "v2", "v3", "v4"}; !slices.Equal(a.videos(), want) || !slices.Equal(b.videos(), want) {
		t.Errorf("edges took %v and %v, want %v each", a.videos(), b.videos(), want)
	}
	// The rendition that a viewer's player says it plays is the one warmed for them, and a
	// video hinted in another rendition is not a duplicate.
	p.handle(t.Context(), []feed.Event{{UserID: 8, Type: feed.EventPlay, Video: "v4", Rendition: "720p"}})
	waitFor(t, "v1 hinted in 720p", func() bool { return len(a.videos()) == 5 })
	a.mu.Lock()
	last := a.reqs[len(a.reqs)-1]
	a.mu.Unlock()
	if !slices.Equal(last.Videos, []string{"v1"}) || last.Rendition != "720p" {
		t.Errorf("after a play in 720p the edge took %+v, want v1 in 720p", last)
	}
}

func evs(viewer int64, typ feed.EventType, video string) []feed.Event {
	return []feed.Event{{UserID: viewer, Type: typ, Video: video}}
}

// TestHintsDropped drops hints past the bandwidth cap and the queue, and counts those an
// edge refuses; a video whose hint went nowhere may be hinted again.
func TestHintsDropped(t *testing.T) {
	t.Run("cap", func(t *testing.T) {
		e := newFakeEdge(t, 2000)
		p, err := New(Config{Edges: []string{e.URL}, AdminToken: "tok", BytesPerSecond: 1000, Estimate: 600, MaxVideos: 1, Now: (&clock{time.Unix(1, 0)}).now})
		if err != nil {
			t.Fatal(err)
		}
		run(t, p)
		p.Served(1, []string{"a"})
		waitFor(t, "a sent", func() bool { return p.count("sent") == 1 })
		p.Served(2, []string{"b"}) // 1000-600 taken, then 2000 reported for 600: in debt
		if p.count("cap") != 1 || slices.Contains(e.videos(), "b") {
			t.Errorf("past the cap: %v dropped, edge took %v", p.count("cap"), e.videos())
		}
	})
	t.Run("queue", func(t *testing.T) {
		e := newFakeEdge(t, 0)
		p, err := New(Config{Edges: []string{e.URL}, AdminToken: "tok", Queue: 1, Estimate: 100, BytesPerSecond: 1000, Now: (&clock{time.Unix(1, 0)}).now})
		if err != nil {
			t.Fatal(err)
		}
		p.Served(1, []string{"a", "b"}) // not running: the hint waits in the queue
		p.Served(2, []string{"c", "d"})
		if got := p.count("queue"); got != 2 {
			t.Errorf("dropped for the queue: %v, want 2", got)
		}
		if p.cap.tokens != 800 {
			t.Errorf("the cap holds %.0f, want 800: the dropped hint's estimate refunded", p.cap.tokens)
		}
		run(t, p)
		waitFor(t, "the queued hint sent", func() bool { return p.count("sent") == 2 })
		p.Served(3, []string{"c"}) // dropped earlier, so not a duplicate
		waitFor(t, "c sent", func() bool { return slices.Contains(e.videos(), "c") })
	})
	t.Run("refused", func(t *testing.T) {
		e := newFakeEdge(t, 0)
		e.mu.Lock()
		e.status = http.StatusForbidden
		e.mu.Unlock()
		p, err := New(Config{Edges: []string{e.URL}, AdminToken: "tok", MaxVideos: 1})
		if err != nil {
			t.Fatal(err)
		}
		run(t, p)
		p.Served(1, []string{"a"})
		waitFor(t, "a refused", func() bool { return p.count("failed") == 1 })
		p.Served(2, []string{"a"})
		waitFor(t, "a refused again", func() bool { return p.count("failed") == 2 })
		if p.count("duplicate") != 0 || p.count("sent") != 0 {
			t.Errorf("duplicates %v, sent %v; want none", p.count("duplicate"), p.count("sent"))
		}
	})
}

func TestNewRefuses(t *testing.T) {
	for _, cfg := range []Config{
		{AdminToken: "tok"},
		{Edges: []string{"http://e"}},
		{Edges: []string{"e:8081"}, AdminToken: "tok"},
		{Edges: []string{"http://e"}, AdminToken: "tok", Rendition: "../x"},
		{Edges: []string{"http://e"}, AdminToken: "tok", Threshold: 2},
		{Edges: []string{"http://e"}, AdminToken: "tok", Segments: 51},
		{Edges: []string{"http://e"}, AdminToken: "tok", BytesPerSecond: -1},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

// TestPeek hints the first videos of a viewer's next page before it is served: within
// PeekAhead of the end of what was served, the Prefetcher peeks at the ranking once per page,
// leaving out what was served, and predicts past the page's end into what it saw; a page
// served ends that peek.
func TestPeek(t *testing.T) {
	e := newFakeEdge(t, 1000)
	p, err := New(Config{Edges: []string{e.URL}, AdminToken: "admin-token-0123456", Now: (&clock{time.Unix(1000, 0)}).now})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		excludes [][]string
	)
	p.SetPeek(func(_ context.Context, viewer int64, exclude []string, n int) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		excludes = append(excludes, exclude)
		if viewer != 7 || n != DefaultMaxVideos {
			t.Errorf("peek for viewer %d, %d videos; want 7, %d", viewer, n, DefaultMaxVideos)
		}
		return []string{"n1", "n2"}, nil
	})
	peeks := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(excludes)
	}
	run(t, p)
	p.Served(7, []string{"a", "b", "c"})
	waitFor(t, "a and b hinted", func() bool { return len(e.videos()) == 2 })
	p.handle(t.Context(), evs(7, feed.EventPlay, "a")) // 2 before the end: no peek yet
	if n := peeks(); n != 0 {
		t.Fatalf("%d peeks 3 videos before the end, want none", n)
	}
	waitFor(t, "c hinted", func() bool { return slices.Contains(e.videos(), "c") })
	// On b, within 2 of the end: the peek's n1 is the video after c (0.95·0.95·0.3 = 0.27).
	p.handle(t.Context(), evs(7, feed.EventPlay, "b"))
	waitFor(t, "n1 hinted", func() bool { return slices.Contains(e.videos(), "n1") })
	mu.Lock()
	if len(excludes) != 1 || !slices.Equal(excludes[0], []string{"a", "b", "c"}) {
		t.Errorf("peeks left out %v, want one leaving out a, b, c", excludes)
	}
	mu.Unlock()
	// On c: no second peek for this page; n2 comes next after n1.
	p.handle(t.Context(), evs(7, feed.EventPlay, "c"))
	waitFor(t, "n2 hinted", func() bool { return slices.Contains(e.videos(), "n2") })
	if n := peeks(); n != 1 {
		t.Errorf("%d peeks for one page, want 1", n)
	}
	// The next page is served (n1 as peeked, then d): its end is near at once, a new peek.
	p.Served(7, []string{"n1", "d"})
	p.handle(t.Context(), evs(7, feed.EventPlay, "n1"))
	waitFor(t, "a second peek", func() bool { return peeks() == 2 })
	waitFor(t, "d hinted", func() bool { return slices.Contains(e.videos(), "d") })
	if got := e.videos(); len(got) != 6 {
		t.Errorf("edge took %v, want a, b, c, n1, n2, d once each", got)
	}
}
