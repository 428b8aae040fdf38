package edge

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/videoid"
)

// liveOrigin is a stand-in for the origin of one live stream: a part every livePart, five to
// a segment, a media playlist naming the last few parts, and blocking reloads
// (_HLS_msn, _HLS_part) held until the part they name exists, at most 3 s. It counts the
// requests of each URL, query included.
type liveOrigin struct {
	*httptest.Server
	id string

	mu      sync.Mutex
	parts   int           // parts made so far; part n is part_{n}.mp4, from 0
	changed chan struct{} // closed and replaced at each new part
	counts  map[string]int
}

const (
	livePart         = 100 * time.Millisecond
	livePartsPerSeg  = 5
	liveOriginHoldup = 3 * time.Second
)

func newLiveOrigin(t *testing.T) *liveOrigin {
	t.Helper()
	o := &liveOrigin{id: videoid.New(), parts: 1, changed: make(chan struct{}), counts: map[string]int{}}
	o.Server = httptest.NewServer(http.HandlerFunc(o.serve))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(livePart) // the stream's clock
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				o.mu.Lock()
				o.parts++
				close(o.changed)
				o.changed = make(chan struct{})
				o.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		o.Close()
	})
	return o
}

// path returns the request path of the stream's file.
func (o *liveOrigin) path(file string) string { return layout.LivePath(o.id, file) }

func (o *liveOrigin) made() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.parts
}

// requests returns the requests the origin had, and the distinct URLs among them.
func (o *liveOrigin) requests() (total, urls int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, n := range o.counts {
		total += n
	}
	return total, len(o.counts)
}

func (o *liveOrigin) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		return
	}
	o.mu.Lock()
	o.counts[r.URL.RequestURI()]++
	o.mu.Unlock()
	file, ok := strings.CutPrefix(r.URL.Path, o.path(""))
	if !ok {
		http.NotFound(w, r)
		return
	}
	if n, ok := strings.CutPrefix(file, "part_"); ok {
		n, err := strconv.Atoi(strings.TrimSuffix(n, ".mp4"))
		if err != nil || n >= o.made() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Cache-Control", "public, max-age=30")
		w.Write(livePartBody(n))
		return
	}
	if file != "index.m3u8" {
		http.NotFound(w, r)
		return
	}
	want := -1
	if msn := r.URL.Query().Get("_HLS_msn"); msn != "" {
		m, err1 := strconv.Atoi(msn)
		p, err2 := strconv.Atoi(r.URL.Query().Get("_HLS_part"))
		if err1 != nil || err2 != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		want = m*livePartsPerSeg + p
	}
	deadline := time.After(liveOriginHoldup)
	for {
		o.mu.Lock()
		parts, changed := o.parts, o.changed
		o.mu.Unlock()
		if want > parts+2*livePartsPerSeg {
			http.Error(w, "too far ahead", http.StatusBadRequest)
			return
		}
		if want < parts {
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			w.Header().Set("Cache-Control", "no-cache")
			w.Write(livePlaylist(parts))
			return
		}
		select {
		case <-changed:
		case <-deadline:
			want = -1 // answer with the playlist as it is
		case <-r.Context().Done():
			return
		}
	}
}

// livePlaylist is a playlist naming the last parts of the parts made.
func livePlaylist(parts int) []byte {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART-INF:PART-TARGET=0.1\n")
	for n := max(0, parts-3); n < parts; n++ {
		fmt.Fprintf(&b, "#EXT-X-PART:DURATION=0.1,URI=\"part_%d.mp4\"\n", n)
	}
	return []byte(b.String())
}

func livePartBody(n int) []byte { return []byte(strings.Repeat(fmt.Sprintf("part %d\n", n), 200)) }

var livePartRE = regexp.MustCompile(`part_(\d+)\.mp4"\n$`)

// liveViewer plays the stream through the edge at base as an LL-HLS player does: a blocking
// reload for the next part, then that part, until it has part last. It reports every answer
// that is not 200 with the right body, and the parts it got.
func liveViewer(o *liveOrigin, base string, last int, errs chan<- error) (got int) {
	get := func(path string) ([]byte, error) {
		resp, err := testClient.Get(base + path)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s via %s: %d %s", path, base, resp.StatusCode, b)
		}
		return b, err
	}
	pl, err := get(o.path("index.m3u8"))
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if err != nil {
			errs <- err
			return got
		}
		m := livePartRE.FindSubmatch(pl)
		if m == nil {
			errs <- fmt.Errorf("a playlist via %s names no part:\n%s", base, pl)
			return got
		}
		n, _ := strconv.Atoi(string(m[1]))
		b, err := get(o.path(fmt.Sprintf("part_%d.mp4", n)))
		if err != nil {
			errs <- err
			return got
		}
		if string(b) != string(livePartBody(n)) {
			errs <- fmt.Errorf("part %d via %s: wrong body", n, base)
			return got
		}
		got++
		if n >= last {
			return got
		}
		pl, err = get(o.path(fmt.Sprintf("index.m3u8?_HLS_msn=%d&_HLS_part=%d", (n+1)/livePartsPerSeg, (n+1)%livePartsPerSeg)))
	}
	errs <- fmt.Errorf("viewer via %s: not at part %d after 30 s", base, last)
	return got
}

// watchLive runs viewers players spread over nodes until each has part last, and fails the
// test on any error.
func watchLive(t *testing.T, o *liveOrigin, nodes []*testNode, viewers, last int) {
	t.Helper()
	errs := make(chan error, viewers)
	var wg sync.WaitGroup
	for i := range viewers {
		nd := nodes[i%len(nodes)]
		wg.Go(func() { liveViewer(o, nd.url, last, errs) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// liveOwner returns the node that owns stream id, as nodes[0] sees the ring.
func liveOwner(t *testing.T, nodes []*testNode, id string) (owner *testNode, others []*testNode) {
	t.Helper()
	name := nodes[0].cluster.Owner(liveRingKey(id)).Name
	for _, nd := range nodes {
		if nd.name == name {
			owner = nd
		} else {
			others = append(others, nd)
		}
	}
	if owner == nil {
		t.Fatalf("no node owns live stream %s (%q)", id, name)
	}
	return owner, others
}

// TestLiveShardedOverCluster plays one live stream with players spread over a 3-node cluster,
// blocking reloads included: the nodes that do not own the stream fill from its owner, which
// alone asks the origin, so that the origin is asked about once per URL, not once per node.
func TestLiveShardedOverCluster(t *testing.T) {
	o := newLiveOrigin(t)
	nodes := startCluster(t, 3, o.URL)
	owner, others := liveOwner(t, nodes, o.id)

	watchLive(t, o, nodes, 12, o.made()+20)

	total, urls := o.requests()
	t.Logf("origin: %d requests for %d URLs (%.2f a URL)", total, urls, float64(total)/float64(urls))
	if float64(total) > 1.3*float64(urls) {
		t.Errorf("origin asked %d times for %d URLs: want about once per URL, not once per node", total, urls)
	}
	if s := owner.Stats(); s.LiveOriginFills == 0 || s.LivePeerFills != 0 {
		t.Errorf("owner %s: live origin fills %d, peer fills %d; want only origin fills", owner.name, s.LiveOriginFills, s.LivePeerFills)
	}
	for _, nd := range others {
		if s := nd.Stats(); s.LivePeerFills == 0 || s.LiveOriginFills != 0 {
			t.Errorf("%s: live origin fills %d, peer fills %d; want only peer fills", nd.name, s.LiveOriginFills, s.LivePeerFills)
		}
	}

	// A peer's request is filled from the origin, never forwarded again, even by a node that
	// does not own the stream.
	nd := others[0]
	before := nd.Stats()
	if resp, body := do(t, "GET", nd.url+o.path("index.m3u8?peer-test"), PeerHeader, peerFill); resp.StatusCode != 200 {
		t.Fatalf("a peer's live request: %d %s", resp.StatusCode, body)
	}
	if s := nd.Stats(); s.LiveOriginFills != before.LiveOriginFills+1 || s.LivePeerFills != before.LivePeerFills {
		t.Errorf("a peer's live request to %s: origin fills %d -> %d, peer fills %d -> %d; want it sent to the origin",
			nd.name, before.LiveOriginFills, s.LiveOriginFills, before.LivePeerFills, s.LivePeerFills)
	}
}

// TestLiveOwnerDown takes the owner of a live stream down mid-stream, while gossip still
// holds it alive: the players of the other nodes keep getting every part, filled from the
// next node for the stream or the origin.
func TestLiveOwnerDown(t *testing.T) {
	o := newLiveOrigin(t)
	nodes := startCluster(t, 3, o.URL)
	owner, others := liveOwner(t, nodes, o.id)

	errs := make(chan error, 8)
	var wg sync.WaitGroup
	down := o.made() + 10
	last := down + 20
	for i := range 8 {
		nd := others[i%len(others)]
		wg.Go(func() { liveViewer(o, nd.url, last, errs) })
	}
	waitFor(t, 20*time.Second, "the stream to run on", func() bool { return o.made() >= down })
	peerFills := others[0].Stats().LivePeerFills + others[1].Stats().LivePeerFills
	owner.ln.takeDown()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if peerFills == 0 {
		t.Errorf("no live request went to the owner %s before it went down", owner.name)
	}
	if n := others[0].Stats().PeerErrors + others[1].Stats().PeerErrors; n == 0 {
		t.Errorf("no live request was sent to the owner %s once it was down", owner.name)
	}
}

var liveStreamTests = []struct {
	path, id string
	ok       bool
}{
	{"/v/live/abc/index.m3u8", "abc", true},
	{"/v/live/abc/part_1.mp4", "abc", true},
	{"/v/live/abc/", "abc", true},
	{"/v/live/abc", "", false},
	{"/v/live//index.m3u8", "", false},
	{"/v/live/", "", false},
	{"/v/abc/index.m3u8", "", false},
	{"", "", false},
}

func TestLiveStream(t *testing.T) {
	for _, tt := range liveStreamTests {
		if id, ok := liveStream(tt.path); id != tt.id && tt.ok || ok != tt.ok {
			t.Errorf("liveStream(%q) = %q, %v; want %q, %v", tt.path, id, ok, tt.id, tt.ok)
		}
	}
}

// FuzzLiveStream checks that the stream of any path is a non-empty segment of it, right
// after the live prefix, so that all of a stream's files have one ring key.
func FuzzLiveStream(f *testing.F) {
	for _, tt := range liveStreamTests {
		f.Add(tt.path)
	}
	f.Fuzz(func(t *testing.T, p string) {
		id, ok := liveStream(p)
		if !ok {
			return
		}
		if id == "" || strings.Contains(id, "/") || !strings.HasPrefix(p, layout.LivePathPrefix+id+"/") {
			t.Errorf("liveStream(%q) = %q", p, id)
		}
	})
}
