package edge

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/httpsem"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/videoid"
)

// testOrigin serves synthetic objects for any valid path and counts the fetches of each.
// seg_99999.m4s does not exist. Playlists have max-age=0, so the edge refreshes them on every
// request; everything else is immutable. Objects of the rendition "big" are bigBody bytes.
type testOrigin struct {
	*httptest.Server
	delay time.Duration // before answering segments, so that concurrent misses overlap
	down  atomic.Bool   // answer 503 to everything

	// private holds the ids of the videos whose objects are marked private.
	private sync.Map
	// gate, when set, holds each big object after its first half until it is closed; cut
	// makes the origin drop the connection there instead.
	gate atomic.Pointer[chan struct{}]
	cut  atomic.Bool

	mu      sync.Mutex
	fetches map[string]int
}

// hold makes the origin hold big objects after their first half until the returned channel is
// closed.
func (o *testOrigin) hold() chan struct{} {
	gate := make(chan struct{})
	o.gate.Store(&gate)
	return gate
}

func newTestOrigin(t testing.TB) *testOrigin {
	t.Helper()
	o := &testOrigin{fetches: make(map[string]int)}
	o.Server = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.Close)
	return o
}

func (o *testOrigin) serve(w http.ResponseWriter, r *http.Request) {
	if o.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if r.URL.Path == "/healthz" {
		w.Write([]byte(`{"status":"ok"}`))
		return
	}
	o.mu.Lock()
	o.fetches[r.URL.Path]++
	o.mu.Unlock()
	obj, ok := layout.Parse(r.URL.Path)
	if !ok || strings.HasSuffix(r.URL.Path, "seg_99999.m4s") {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
	body := objectBody(obj.Path)
	sum := sha256.Sum256(body)
	h.Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	switch obj.Kind {
	case layout.KindMaster:
		h.Set("Content-Type", "application/vnd.apple.mpegurl")
		h.Set("Cache-Control", "public, max-age=0")
	case layout.KindPlaylist:
		h.Set("Content-Type", "application/vnd.apple.mpegurl")
		h.Set("Cache-Control", "public, max-age=0")
	default:
		h.Set("Content-Type", "video/iso.segment")
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		if o.delay > 0 {
			time.Sleep(o.delay) // simulated origin latency, not synchronisation
		}
	}
	if _, ok := o.private.Load(obj.Video); ok {
		// As reelay's origin answers an edge's fill of a private video.
		h.Set(httpsem.AccessHeader, httpsem.AccessPrivate)
		h.Set("Cache-Control", httpsem.PrivateCacheControl(h.Get("Cache-Control")))
	}
	if len(body) < bigBody {
		w.Write(body)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body[:len(body)/2])
	w.(http.Flusher).Flush()
	if o.cut.Load() {
		panic(http.ErrAbortHandler)
	}
	if gate := o.gate.Load(); gate != nil {
		<-*gate
	}
	w.Write(body[len(body)/2:])
}

// bigBody is the size of the objects of the rendition "big", which the edge streams.
const bigBody = 1 << 20

// objectBody is the synthetic content of an object: playlists that name real objects, and
// 1000 bytes derived from the path for the rest.
func objectBody(key string) []byte {
	obj, _ := layout.Parse(key)
	switch obj.Kind {
	case layout.KindMaster:
		return []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=360x640\n360p/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=720x1280\n720p/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=8000000,RESOLUTION=1080x1920\nbig/index.m3u8\n")
	case layout.KindPlaylist:
		var b strings.Builder
		b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init.mp4\"\n")
		for i := 1; i <= 5; i++ {
			fmt.Fprintf(&b, "#EXTINF:2.000,\nseg_%05d.m4s\n", i)
		}
		b.WriteString("#EXT-X-ENDLIST\n")
		return []byte(b.String())
	}
	if obj.Kind != layout.KindPoster && strings.HasPrefix(obj.Name, "big/") {
		return []byte(strings.Repeat(key+"\n", bigBody/len(key)+1)[:bigBody])
	}
	return []byte(strings.Repeat(key+"\n", 1000)[:1000])
}

func (o *testOrigin) count(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fetches[path]
}

func (o *testOrigin) total() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, c := range o.fetches {
		n += c
	}
	return n
}

// testEdge is an Edge running on loopback.
type testEdge struct {
	*Edge
	url  string // http://127.0.0.1:port
	stop func() // ends Run and waits for it; also done at the end of the test
}

// startEdge runs an Edge with cfg until the test ends, on a free loopback port unless cfg
// says otherwise.
func startEdge(t *testing.T, cfg Config) *testEdge {
	t.Helper()
	if cfg.Listener == nil {
		cfg.Addr = cmp.Or(cfg.Addr, "127.0.0.1:0")
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			// net/http may hold connections it dialed and never used, which fasthttp
			// counts as busy for 5 seconds.
			testClient.CloseIdleConnections()
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run of %s: %v", e.Name(), err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Run still running 30 s after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return &testEdge{Edge: e, url: e.URL(), stop: stop}
}

// testMetricsToken opens /metrics and /_edge/stats of the test clusters' nodes.
const testMetricsToken = "metrics-token-0123"

var testClient = &http.Client{
	Timeout:   20 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 256},
}

// send sends a request with the given header names and values, and returns the response
// with its body unread; the test closes it at the end.
func send(t *testing.T, method, url string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// do sends a request and returns the response with its body read.
func do(t *testing.T, method, url string, header ...string) (*http.Response, string) {
	t.Helper()
	resp := send(t, method, url, header...)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// newVideo returns a fresh video id's path prefix, /v/{id}/.
func newVideo() (id, prefix string) {
	id = videoid.New()
	return id, "/v/" + id + "/"
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// jsonRequest is a POST of a JSON body.
func jsonRequest(url, body string) (*http.Request, error) {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, err
}

// TestCoalescedMisses sends concurrent requests for one object that no cache holds to a
// single edge, while the origin holds the object's second half: they share one fill, and the
// origin is asked once.
func TestCoalescedMisses(t *testing.T) {
	o := newTestOrigin(t)
	gate := o.hold()
	e := startEdge(t, Config{Origin: o.URL})
	_, prefix := newVideo()
	key := prefix + "big/seg_00001.m4s"
	const n = 8
	bodies, xcache := make([]string, n), make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var resp *http.Response
			resp, bodies[i] = do(t, "GET", e.url+key)
			xcache[i] = resp.Header.Get("Cache-Status")
		})
	}
	// Release the origin once every request has reached the edge and found the object missing.
	for deadline := time.Now().Add(time.Minute); e.Stats().Misses < n; {
		if time.Now().After(deadline) {
			close(gate)
			t.Fatalf("%d of %d requests in after a minute", e.Stats().Misses, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(gate)
	wg.Wait()
	for i, b := range bodies {
		if b != string(objectBody(key)) {
			t.Errorf("request %d: %d bytes, want the object's %d", i+1, len(b), len(objectBody(key)))
		}
	}
	if got := o.count(key); got != 1 {
		t.Errorf("origin asked %d times for %s, want once", got, key)
	}
	// One request caused the fetch; the others shared it, and are counted and marked so in
	// their Cache-Status.
	collapsed := 0
	for _, x := range xcache {
		if strings.HasSuffix(x, "; collapsed") {
			collapsed++
		}
	}
	if c := e.Stats().Coalesced; c != n-1 || collapsed != n-1 {
		t.Errorf("coalesced %d, Cache-Status collapsed on %d (%q); want %d each", c, collapsed, xcache, n-1)
	}
}
