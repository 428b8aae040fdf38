package edge

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/cluster"
)

func TestMissThenHit(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL, Name: "edge-a"})
	_, prefix := newVideo()
	key := prefix + "720p/seg_00001.m4s"

	resp, body := do(t, "GET", e.url+key)
	if resp.StatusCode != 200 || body != string(objectBody(key)) {
		t.Fatalf("first GET: %d, %d bytes", resp.StatusCode, len(body))
	}
	if got := resp.Header.Get("Cache-Status"); !strings.HasPrefix(got, "edge-a; fwd=uri-miss") || !strings.Contains(got, "; stored") {
		t.Errorf("first Cache-Status = %q, want a stored miss", got)
	}
	want := map[string]string{
		"Age":                         "0",
		"Content-Type":                "video/iso.segment",
		"Cache-Control":               "public, max-age=31536000, immutable",
		"Accept-Ranges":               "bytes",
		"Access-Control-Allow-Origin": "*",
		"Last-Modified":               "Mon, 02 Jan 2006 15:04:05 GMT",
	}
	for name, v := range want {
		if got := resp.Header.Get(name); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Cache-Status") || resp.Header.Get("ETag") == "" {
		t.Errorf("missing CORS expose or ETag: %v", resp.Header)
	}

	resp, body = do(t, "GET", e.url+key)
	if resp.StatusCode != 200 || body != string(objectBody(key)) {
		t.Fatalf("second GET: %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Cache-Status"); got != "edge-a; hit" {
		t.Errorf("second Cache-Status = %q, want hit", got)
	}
	if resp.Header.Get("Age") == "" {
		t.Error("no Age on a hit")
	}
	if n := o.count(key); n != 1 {
		t.Errorf("origin fetched %s %d times, want 1", key, n)
	}
	s := e.Stats()
	if s.Requests != 2 || s.Hits != 1 || s.Misses != 1 || s.OriginFetches != 1 || s.BytesServed != 2000 {
		t.Errorf("stats = %+v", s)
	}
}

func TestAgeFromStoredAt(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL})
	_, prefix := newVideo()
	key := prefix + "720p/init.mp4"
	do(t, "GET", e.url+key)
	ent, ok := e.mem.Get(key)
	if !ok {
		t.Fatal("not cached")
	}
	ent.StoredAt = ent.StoredAt.Add(-42 * time.Second)
	e.mem.Set(key, ent)
	resp, _ := do(t, "GET", e.url+key)
	if got := resp.Header.Get("Age"); got != "42" {
		t.Errorf("Age = %q, want 42", got)
	}
}

func TestConditionalAndRange(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL})
	_, prefix := newVideo()
	key := prefix + "360p/seg_00002.m4s"
	full := string(objectBody(key))
	resp, _ := do(t, "GET", e.url+key)
	etag := resp.Header.Get("ETag")

	tests := []struct {
		name, method string
		header       []string
		status       int
		body         string
		contentRange string
	}{
		{"if-none-match", "GET", []string{"If-None-Match", etag}, 304, "", ""},
		{"if-none-match other", "GET", []string{"If-None-Match", `"nope"`}, 200, full, ""},
		{"if-match other", "GET", []string{"If-Match", `"nope"`}, 412, "", ""},
		{"range", "GET", []string{"Range", "bytes=0-9"}, 206, full[:10], "bytes 0-9/1000"},
		{"suffix range", "GET", []string{"Range", "bytes=-5"}, 206, full[995:], "bytes 995-999/1000"},
		{"range past end", "GET", []string{"Range", "bytes=1000-"}, 416, "", "bytes */1000"},
		{"multiple ranges", "GET", []string{"Range", "bytes=0-1,5-6"}, 200, full, ""},
		{"if-range mismatch", "GET", []string{"Range", "bytes=0-9", "If-Range", `"nope"`}, 200, full, ""},
		{"if-range match", "GET", []string{"Range", "bytes=0-9", "If-Range", etag}, 206, full[:10], "bytes 0-9/1000"},
		{"head", "HEAD", nil, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, tt.method, e.url+key, tt.header...)
			if resp.StatusCode != tt.status || body != tt.body {
				t.Fatalf("%d with %d bytes, want %d with %d", resp.StatusCode, len(body), tt.status, len(tt.body))
			}
			if got := resp.Header.Get("Content-Range"); got != tt.contentRange {
				t.Errorf("Content-Range = %q, want %q", got, tt.contentRange)
			}
			if tt.status == 304 && resp.Header.Get("ETag") != etag {
				t.Errorf("304 without the ETag")
			}
			if tt.method == "HEAD" && resp.ContentLength != 1000 {
				t.Errorf("HEAD Content-Length = %d, want 1000", resp.ContentLength)
			}
		})
	}
	if n := o.count(key); n != 1 {
		t.Errorf("origin fetched %d times, want 1", n)
	}
}

func TestBadPathsNeverFetch(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL})
	id, prefix := newVideo()
	for _, p := range []string{
		"/v/notavideo/master.m3u8",
		"/v/" + strings.ToUpper(id) + "/master.m3u8",
		prefix + "../" + id + "/master.m3u8",
		prefix + "./master.m3u8",
		prefix + "720p//seg_00001.m4s",
		prefix + "720p/seg_0001.m4s",
		prefix + "720p/seg_00000.m4s",
		prefix + "720p/other.mp4",
		prefix + "%6daster.m3u8",
		prefix + "720p%2fseg_00001.m4s",
		prefix + ".hidden/index.m3u8",
		prefix + "master.m3u8/",
		prefix,
		"/v/",
		"/nope",
	} {
		t.Run(p, func(t *testing.T) {
			resp, body := do(t, "GET", e.url+p)
			if resp.StatusCode != 404 || !strings.Contains(body, `"not_found"`) {
				t.Errorf("GET %s: %d %s, want 404 not_found", p, resp.StatusCode, body)
			}
		})
	}
	if n := o.total(); n != 0 {
		t.Errorf("origin saw %d fetches for bad paths", n)
	}
	if s := e.Stats(); s.Misses != 0 || s.Memory.Misses != 0 {
		t.Errorf("bad paths reached the cache: %+v", s)
	}
	if resp, _ := do(t, "POST", e.url+prefix+"master.m3u8"); resp.StatusCode != 405 || resp.Header.Get("Allow") == "" {
		t.Errorf("POST: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if resp, _ := do(t, "OPTIONS", e.url+prefix+"master.m3u8"); resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Methods") == "" {
		t.Errorf("OPTIONS: %d", resp.StatusCode)
	}
}

func TestNotFoundIsNegativeCached(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL})
	_, prefix := newVideo()
	key := prefix + "720p/seg_99999.m4s"
	for i := range 3 {
		resp, _ := do(t, "GET", e.url+key)
		if resp.StatusCode != 404 {
			t.Fatalf("GET %d: %d, want 404", i, resp.StatusCode)
		}
	}
	if n := o.count(key); n != 1 {
		t.Errorf("origin fetched the missing object %d times within a second, want 1", n)
	}
	if _, ok := e.mem.Get(key); ok {
		t.Error("a 404 was cached as an object")
	}
}

func TestOriginDownServesCached(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL, Name: "e"})
	_, prefix := newVideo()
	seg, master := prefix+"720p/seg_00003.m4s", prefix+"master.m3u8"
	do(t, "GET", e.url+seg)
	do(t, "GET", e.url+master)
	if resp, _ := do(t, "GET", e.url+"/readyz"); resp.StatusCode != 200 {
		t.Errorf("readyz with the origin up: %d", resp.StatusCode)
	}

	// Playlists have max-age=0: with the origin up, each request refreshes.
	resp, _ := do(t, "GET", e.url+master)
	if got := resp.Header.Get("Cache-Status"); !strings.HasPrefix(got, "e; fwd=stale; fwd-status=200") {
		t.Errorf("refresh Cache-Status = %q", got)
	}

	o.down.Store(true)
	if resp, _ := do(t, "GET", e.url+"/readyz"); resp.StatusCode != 503 {
		t.Errorf("readyz with the origin down: %d, want 503", resp.StatusCode)
	}
	resp, body := do(t, "GET", e.url+seg)
	if resp.StatusCode != 200 || body != string(objectBody(seg)) || resp.Header.Get("Cache-Status") != "e; hit" {
		t.Errorf("segment with origin down: %d %q", resp.StatusCode, resp.Header.Get("Cache-Status"))
	}
	resp, body = do(t, "GET", e.url+master)
	if resp.StatusCode != 200 || body != string(objectBody(master)) || resp.Header.Get("Cache-Status") != "e; hit; detail=stale" {
		t.Errorf("playlist with origin down: %d %q", resp.StatusCode, resp.Header.Get("Cache-Status"))
	}
	resp, body = do(t, "GET", e.url+prefix+"720p/seg_00004.m4s")
	if resp.StatusCode != 502 || !strings.Contains(body, "bad_gateway") {
		t.Errorf("uncached with origin down: %d %s, want 502", resp.StatusCode, body)
	}

	o.Close() // unreachable, not just failing
	resp, _ = do(t, "GET", e.url+master)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Status") != "e; hit; detail=stale" {
		t.Errorf("playlist with origin gone: %d %q", resp.StatusCode, resp.Header.Get("Cache-Status"))
	}
	if s := e.Stats(); s.StaleServed != 2 {
		t.Errorf("StaleServed = %d, want 2", s.StaleServed)
	}
}

func TestDiskCacheSurvivesRestart(t *testing.T) {
	o := newTestOrigin(t)
	dir := t.TempDir()
	cfg := Config{Origin: o.URL, MemBytes: 1 << 20, DiskDir: dir, DiskBytes: 16 << 20}
	e := startEdge(t, cfg)
	_, prefix := newVideo()
	key := prefix + "720p/seg_00001.m4s"
	do(t, "GET", e.url+key)
	e.stop()

	o.down.Store(true)
	e2 := startEdge(t, cfg)
	resp, body := do(t, "GET", e2.url+key)
	if resp.StatusCode != 200 || body != string(objectBody(key)) || !strings.HasSuffix(resp.Header.Get("Cache-Status"), "; hit") {
		t.Fatalf("after restart: %d %q", resp.StatusCode, resp.Header.Get("Cache-Status"))
	}
	if s := e2.Stats(); s.Disk == nil || s.Disk.Hits != 1 {
		t.Errorf("disk stats = %+v", s.Disk)
	}
}

func TestOperatorEndpoints(t *testing.T) {
	o := newTestOrigin(t)
	e := startEdge(t, Config{Origin: o.URL, AdminToken: "s3cret", MetricsToken: "m3trics", Name: "op"})
	id, prefix := newVideo()
	key := prefix + "720p/seg_00001.m4s"
	do(t, "GET", e.url+key)
	do(t, "GET", e.url+key)

	// What tells about the node and the cluster is the metrics token's; the admin token
	// changes state.
	for _, path := range []string{"/_edge/stats", "/metrics"} {
		for _, auth := range []string{"", "Bearer wrong", "m3trics", "Bearer s3cret"} {
			if resp, _ := do(t, "GET", e.url+path, "Authorization", auth); resp.StatusCode != 403 {
				t.Errorf("%s with Authorization %q: %d, want 403", path, auth, resp.StatusCode)
			}
		}
	}
	resp, body := do(t, "GET", e.url+"/_edge/stats", "Authorization", "Bearer m3trics")
	var s Stats
	if err := json.Unmarshal([]byte(body), &s); err != nil || resp.StatusCode != 200 {
		t.Fatalf("stats: %d %v", resp.StatusCode, err)
	}
	if s.Node != "op" || s.Hits != 1 || s.Misses != 1 || s.Memory.Entries != 1 || s.Memory.Capacity != DefaultMemBytes {
		t.Errorf("stats = %+v", s)
	}

	resp, body = do(t, "GET", e.url+"/metrics", "Authorization", "Bearer m3trics")
	if resp.StatusCode != 200 || !strings.Contains(body, "reelay_edge_hits_total 1") {
		t.Errorf("metrics: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "GET", e.url+"/healthz"); resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}

	for _, auth := range []string{"", "Bearer wrong", "s3cret"} {
		if resp, _ := do(t, "DELETE", e.url+"/_edge/v/"+id, "Authorization", auth); resp.StatusCode != 403 {
			t.Errorf("purge with Authorization %q: %d, want 403", auth, resp.StatusCode)
		}
	}
	resp, body = do(t, "DELETE", e.url+"/_edge/v/"+id, "Authorization", "Bearer s3cret")
	if resp.StatusCode != 200 || !strings.Contains(body, `"purged":1`) {
		t.Fatalf("purge: %d %s", resp.StatusCode, body)
	}
	do(t, "GET", e.url+key)
	if n := o.count(key); n != 2 {
		t.Errorf("origin fetched %d times, want 2 after the purge", n)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Origin: "origin:8080"},
		{Origin: "ftp://origin"},
		{Origin: "http://origin", DiskDir: t.TempDir(), DiskBytes: -1},
		{Origin: "http://origin", MemBytes: -1},
		{Origin: "http://origin", Name: "edge a"}, // names the node in Via and Cache-Status
	} {
		if e, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			if err == nil {
				e.Close()
			}
			t.Errorf("New(%+v): %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

// TestRunStopsAtOnce ends Run's context right after Run was called, before fasthttp may have
// registered the listener, and once before Run at all: Run must return either way, and the
// port must be free again.
func TestRunStopsAtOnce(t *testing.T) {
	o := newTestOrigin(t)
	for i := range 20 {
		e := newUnservedEdge(t, Config{Origin: o.URL})
		done := make(chan error, 1)
		ctx, cancel := context.WithCancel(context.Background())
		if i%2 == 1 {
			cancel()
			go func() { done <- e.Run(ctx) }()
		} else {
			go func() { done <- e.Run(ctx) }()
			cancel()
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: Run: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Run still running after its context ended", i)
		}
		ln, err := net.Listen("tcp", e.Addr().String())
		if err != nil {
			t.Fatalf("round %d: the port after Run: %v", i, err)
		}
		ln.Close()
		if err := e.Run(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("round %d: a second Run: %v, want ErrClosed", i, err)
		}
	}
}

// keepAlive opens a connection to addr, makes one request on it and reads the answer whole,
// so that the connection is left idle, kept alive for the next request. It returns the
// connection's reader, whose reads fail 10 s on.
func keepAlive(t *testing.T, addr string) *bufio.Reader {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.Close || resp.StatusCode != http.StatusOK {
		t.Fatalf("the keep-alive connection's request: %d, close %v, %v", resp.StatusCode, resp.Close, err)
	}
	resp.Body.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return r
}

// closedByServer reads from r: nil when the server has closed the connection (io.EOF, or its
// reset), else what the read got instead, data or an error (the deadline's).
func closedByServer(r io.Reader) error {
	n, err := r.Read(make([]byte, 1))
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		return nil
	case n > 0:
		return errors.New("the server sent data")
	}
	return err
}

// TestShutdownClosesWaitingConnections stops an edge that holds a connection which never sent
// a request, one kept alive after its request, and one whose request is in progress (its
// object held halfway by the origin): Run closes the first two at once, while the third is
// still in progress, and returns once the third is answered.
func TestShutdownClosesWaitingConnections(t *testing.T) {
	o := newTestOrigin(t)
	gate := o.hold()
	e := newUnservedEdge(t, Config{Origin: o.URL, ShutdownTimeout: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	url := e.URL()

	silent, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	idle := keepAlive(t, e.Addr().String())

	_, prefix := newVideo()
	key := prefix + "big/seg_00001.m4s"
	headers, slow := make(chan struct{}), make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Transport: &http.Transport{}}).Get(url + key)
		close(headers)
		if err != nil {
			slow <- err
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && (resp.StatusCode != 200 || !bytes.Equal(body, objectBody(key))) {
			err = fmt.Errorf("status %d, %d bytes", resp.StatusCode, len(body))
		}
		slow <- err
	}()
	<-headers // the edge streams the first half; the origin holds the rest

	cancel()
	for name, c := range map[string]io.Reader{"silent": silent, "kept-alive": idle} {
		if err := closedByServer(c); err != nil {
			t.Errorf("the %s connection once the stop began: %v, want it closed", name, err)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) before the request in progress was answered", err)
	default:
	}
	close(gate)
	if err := <-slow; err != nil {
		t.Errorf("the request in progress during the stop: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run still running 20 s after the last request was answered")
	}
}

// TestNewUndoesPartialWork makes New fail after it has bound the listener, opened the disk
// cache and started gossip: the ports are free again, and the metrics registerable again.
func TestNewUndoesPartialWork(t *testing.T) {
	o := newTestOrigin(t)
	httpAddr, gossipAddr := freeAddr(t), freeAddr(t)
	cfg := Config{
		Origin: o.URL, Addr: httpAddr, DiskDir: t.TempDir(),
		Cluster:    &cluster.Config{BindAddr: gossipAddr, Tuning: cluster.TuningLocal},
		Registerer: prometheus.NewRegistry(),
	}
	for _, tc := range []struct {
		name  string
		spoil func(*Config) func()
	}{
		{"disk cache", func(c *Config) func() {
			c.DiskDir = filepath.Join(t.TempDir(), "file")
			os.WriteFile(c.DiskDir, nil, 0o644)
			return func() {}
		}},
		{"gossip", func(c *Config) func() {
			cc := *c.Cluster
			cc.Tuning = "fast"
			c.Cluster = &cc
			return func() {}
		}},
		{"metrics", func(c *Config) func() {
			// Registered once already: the edge's second registration fails.
			first, err := New(Config{Origin: o.URL, Addr: "127.0.0.1:0", Registerer: c.Registerer})
			if err != nil {
				t.Fatal(err)
			}
			return func() { first.Close() }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := cfg
			bad.Registerer = prometheus.NewRegistry()
			undo := tc.spoil(&bad)
			defer undo()
			if e, err := New(bad); err == nil {
				e.Close()
				t.Fatal("New succeeded")
			}
			// What the failed New bound is free: a New on the same addresses succeeds.
			e, err := New(cfg)
			if err != nil {
				t.Fatalf("New after a failed New: %v", err)
			}
			if err := e.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			cfg.Registerer = prometheus.NewRegistry()
		})
	}
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newUnservedEdge returns an edge on a free loopback port, not yet run, closed at the end of
// the test if it never runs: for the tests that run and stop it themselves.
func newUnservedEdge(t *testing.T, cfg Config) *Edge {
	t.Helper()
	cfg.Addr = cmp.Or(cfg.Addr, "127.0.0.1:0")
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}
