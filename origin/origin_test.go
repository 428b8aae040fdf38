package origin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/internal/httpsem"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/signedurl"
	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/internal/videoid"
	"github.com/reelay/reelay/storage"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// recordingStore is a Store that records the keys it is asked for, and lets a test replace
// Stat, Get and GetRange.
type recordingStore struct {
	storage.Store
	stat     func(ctx context.Context, key string) (storage.Info, error)
	get      func(ctx context.Context, key string) (io.ReadCloser, storage.Info, error)
	getRange func(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Info, error)

	mu    sync.Mutex
	calls []string // "stat KEY", "get KEY", "range KEY"
}

func (s *recordingStore) record(op, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, op+" "+key)
}

// takeCalls returns the calls since the last takeCalls.
func (s *recordingStore) takeCalls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

func (s *recordingStore) Stat(ctx context.Context, key string) (storage.Info, error) {
	s.record("stat", key)
	if s.stat != nil {
		return s.stat(ctx, key)
	}
	return s.Store.Stat(ctx, key)
}

func (s *recordingStore) Get(ctx context.Context, key string) (io.ReadCloser, storage.Info, error) {
	s.record("get", key)
	if s.get != nil {
		return s.get(ctx, key)
	}
	return s.Store.Get(ctx, key)
}

func (s *recordingStore) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.Info, error) {
	s.record("range", key)
	if s.getRange != nil {
		return s.getRange(ctx, key, offset, length)
	}
	return s.Store.GetRange(ctx, key, offset, length)
}

// fixture is an origin over a store holding one published video (pub) and one that is packaged
// but not published (unpub: no master.m3u8).
type fixture struct {
	store   *recordingStore
	origin  *Origin
	srv     *httptest.Server
	pub     string
	unpub   string
	objects map[string][]byte // name under the published video -> content
}

// segment is a deterministic body of n bytes.
func segment(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// video is what the packager would write, with its content types and cache policies; the
// 360p rendition was stored without metadata, to exercise the fallbacks.
var video = []struct {
	name, contentType, cacheControl string
	body                            []byte
}{
	{"720p/init.mp4", httpsem.ContentTypeVideoInit, httpsem.CacheImmutable, segment(800, 1)},
	{"720p/seg_00001.m4s", httpsem.ContentTypeVideoSegment, httpsem.CacheImmutable, segment(10000, 2)},
	{"720p/seg_00002.m4s", httpsem.ContentTypeVideoSegment, httpsem.CacheImmutable, segment(9000, 3)},
	{"720p/index.m3u8", httpsem.ContentTypePlaylist, httpsem.CachePlaylist, []byte("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.000,\nseg_00001.m4s\n#EXT-X-ENDLIST\n")},
	{"720p/iframes.m3u8", httpsem.ContentTypePlaylist, httpsem.CachePlaylist, []byte("#EXTM3U\n#EXT-X-I-FRAMES-ONLY\n#EXT-X-ENDLIST\n")},
	{"audio/init.mp4", httpsem.ContentTypeAudioInit, httpsem.CacheImmutable, segment(600, 4)},
	{"audio/seg_00001.m4s", httpsem.ContentTypeAudioSegment, httpsem.CacheImmutable, segment(3000, 5)},
	{"audio/index.m3u8", httpsem.ContentTypePlaylist, httpsem.CachePlaylist, []byte("#EXTM3U\n#EXT-X-ENDLIST\n")},
	{"360p/init.mp4", "", "", segment(700, 6)},
	{"360p/seg_00001.m4s", "", "", segment(5000, 7)},
	{"360p/index.m3u8", storage.DefaultContentType, "", []byte("#EXTM3U\n#EXT-X-ENDLIST\n")},
	{"poster.jpg", httpsem.ContentTypePoster, httpsem.CachePoster, append([]byte{0xff, 0xd8, 0xff}, segment(2000, 8)...)},
	{"master.m3u8", httpsem.ContentTypePlaylist, httpsem.CachePlaylist, []byte("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH=1000000\n720p/index.m3u8\n")},
}

// putVideo writes the objects of video under prefix+id, master last; without the master if
// publish is false.
func putVideo(t *testing.T, s storage.Store, prefix, id string, publish bool) map[string][]byte {
	t.Helper()
	objects := make(map[string][]byte)
	for _, o := range video {
		if o.name == layout.Master && !publish {
			continue
		}
		_, err := s.Put(context.Background(), prefix+id+"/"+o.name, bytes.NewReader(o.body), int64(len(o.body)),
			storage.PutOptions{ContentType: o.contentType, CacheControl: o.cacheControl})
		if err != nil {
			t.Fatal(err)
		}
		objects[o.name] = o.body
	}
	return objects
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	fs, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureOn(t, fs, cfg)
}

func newFixtureOn(t *testing.T, s storage.Store, cfg Config) *fixture {
	t.Helper()
	f := &fixture{store: &recordingStore{Store: s}, pub: videoid.New(), unpub: videoid.New()}
	f.objects = putVideo(t, s, layout.VideosPrefix, f.pub, true)
	putVideo(t, s, layout.VideosPrefix, f.unpub, false)
	cfg.Store = f.store
	o, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.origin = o
	f.srv = httptest.NewServer(o.Handler())
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() {
		// Whatever the test did, the store was only ever asked for well-formed keys of videos.
		for _, call := range f.store.takeCalls() {
			_, key, _ := strings.Cut(call, " ")
			if storage.ValidateKey(key) != nil || !strings.HasPrefix(key, layout.VideosPrefix) {
				t.Errorf("store asked: %s", call)
			}
		}
	})
	return f
}

func (f *fixture) url(video, name string) string { return f.srv.URL + "/v/" + video + "/" + name }

// do sends a request with the given headers ("Name: value") and returns the response and its body.
func do(t *testing.T, method, url string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		if h == "" {
			continue
		}
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(name, strings.TrimSpace(value))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// wantError checks a JSON error response.
func wantError(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("body %s (%v), want error code %q", body, err, code)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("error Cache-Control %q, want no-store", cc)
	}
}

func TestContentTypesAndCaching(t *testing.T) {
	f := newFixture(t, Config{PlaylistMaxAge: 5 * time.Second})
	for _, tc := range []struct {
		name, contentType, cacheControl string
	}{
		{"master.m3u8", "application/vnd.apple.mpegurl", "public, max-age=60"},
		{"poster.jpg", "image/jpeg", "public, max-age=86400"},
		{"720p/index.m3u8", "application/vnd.apple.mpegurl", "public, max-age=60"},
		{"720p/iframes.m3u8", "application/vnd.apple.mpegurl", "public, max-age=60"},
		{"720p/init.mp4", "video/mp4", "public, max-age=31536000, immutable"},
		{"720p/seg_00001.m4s", "video/iso.segment", "public, max-age=31536000, immutable"},
		{"audio/init.mp4", "audio/mp4", "public, max-age=31536000, immutable"},
		{"audio/seg_00001.m4s", "audio/mp4", "public, max-age=31536000, immutable"},
		// Stored without metadata: the fallbacks, and the configured playlist max-age.
		{"360p/init.mp4", "video/mp4", "public, max-age=31536000, immutable"},
		{"360p/seg_00001.m4s", "video/iso.segment", "public, max-age=31536000, immutable"},
		{"360p/index.m3u8", "application/vnd.apple.mpegurl", "public, max-age=5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, "GET", f.url(f.pub, tc.name))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			want := f.objects[tc.name]
			if !bytes.Equal(body, want) {
				t.Errorf("body: %d bytes, want the %d stored", len(body), len(want))
			}
			info, err := f.store.Store.Stat(context.Background(), layout.VideosPrefix+f.pub+"/"+tc.name)
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range map[string]string{
				"Content-Type":                  tc.contentType,
				"Cache-Control":                 tc.cacheControl,
				"Content-Length":                fmt.Sprint(len(want)),
				"ETag":                          info.ETag,
				"Last-Modified":                 info.ModTime.UTC().Format(http.TimeFormat),
				"Accept-Ranges":                 "bytes",
				"X-Content-Type-Options":        "nosniff",
				"Access-Control-Allow-Origin":   "*",
				"Access-Control-Expose-Headers": "Content-Length, Content-Range, Cache-Status, Age, ETag",
			} {
				if got := resp.Header.Get(name); got != want {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
			}
			if !strings.HasPrefix(info.ETag, `"`) {
				t.Errorf("ETag %q is not a quoted strong tag", info.ETag)
			}
		})
	}
}

func TestOneStoreRoundTripPerSegment(t *testing.T) {
	f := newFixture(t, Config{})
	clk := newClock()
	f.origin.published = newPublishedCache(DefaultPublishedTTL, publishedCacheSize, clk.now)
	master := layout.VideosPrefix + f.pub + "/master.m3u8"
	seg := func(n int) string { return layout.VideosPrefix + f.pub + fmt.Sprintf("/720p/seg_%05d.m4s", n) }

	do(t, "GET", f.url(f.pub, "720p/seg_00001.m4s"))
	do(t, "GET", f.url(f.pub, "720p/seg_00002.m4s"))
	private := layout.VideosPrefix + f.pub + "/" + layout.PrivateMarker
	want := []string{"stat " + master, "stat " + private, "get " + seg(1), "get " + seg(2)}
	if got := f.store.takeCalls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("store calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// After the TTL the master is looked at again; once it is gone the video is invisible.
	if err := f.store.Delete(context.Background(), master); err != nil {
		t.Fatal(err)
	}
	resp, _ := do(t, "GET", f.url(f.pub, "720p/seg_00001.m4s"))
	if resp.StatusCode != 200 {
		t.Errorf("within the TTL: status %d", resp.StatusCode)
	}
	clk.advance(DefaultPublishedTTL)
	resp, body := do(t, "GET", f.url(f.pub, "720p/seg_00001.m4s"))
	wantError(t, resp, body, 404, "not_found")
	f.store.takeCalls()

	// A GET of the master itself records the video as published.
	putVideo(t, f.store.Store, layout.VideosPrefix, f.pub, true)
	do(t, "GET", f.url(f.pub, "master.m3u8"))
	do(t, "GET", f.url(f.pub, "720p/seg_00001.m4s"))
	want = []string{"stat " + private, "get " + master, "get " + seg(1)}
	if got := f.store.takeCalls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("store calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestUnpublished(t *testing.T) {
	f := newFixture(t, Config{})
	for _, name := range []string{"master.m3u8", "poster.jpg", "720p/index.m3u8", "720p/init.mp4", "720p/seg_00001.m4s"} {
		for _, method := range []string{"GET", "HEAD"} {
			resp, body := do(t, method, f.url(f.unpub, name))
			if method == "HEAD" {
				if resp.StatusCode != 404 || len(body) != 0 {
					t.Errorf("HEAD %s: %d with %d bytes", name, resp.StatusCode, len(body))
				}
				continue
			}
			wantError(t, resp, body, 404, "not_found")
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("404 without CORS headers: %v", resp.Header)
			}
		}
	}
	// Nothing but the master (and, for the master, the private marker) was asked for: its
	// absence hides the rest.
	for _, call := range f.store.takeCalls() {
		if !strings.HasSuffix(call, "/master.m3u8") && !strings.HasSuffix(call, "/"+layout.PrivateMarker) {
			t.Errorf("store asked %s for an unpublished video", call)
		}
	}
	resp, body := do(t, "GET", f.url(videoid.New(), "master.m3u8"))
	wantError(t, resp, body, 404, "not_found")

	// Publication is seen at once: "not published" is not remembered.
	master := video[len(video)-1]
	if _, err := f.store.Put(context.Background(), layout.VideosPrefix+f.unpub+"/master.m3u8", bytes.NewReader(master.body),
		int64(len(master.body)), storage.PutOptions{ContentType: master.contentType}); err != nil {
		t.Fatal(err)
	}
	if resp, body := do(t, "GET", f.url(f.unpub, "720p/seg_00001.m4s")); resp.StatusCode != 200 {
		t.Errorf("after publication: %d %s", resp.StatusCode, body)
	}
}

func TestBadPaths(t *testing.T) {
	f := newFixture(t, Config{})
	addr := strings.TrimPrefix(f.srv.URL, "http://")
	for _, target := range badTargets(f.pub) {
		// Sent byte for byte, as a client that does not clean paths would.
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n", target)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		body, _ := io.ReadAll(resp.Body)
		c.Close()
		if resp.StatusCode != 404 {
			t.Errorf("GET %s: status %d, want 404", target, resp.StatusCode)
			continue
		}
		wantError(t, resp, body, 404, "not_found")
	}
	if calls := f.store.takeCalls(); len(calls) > 0 {
		t.Errorf("the store was asked for bad paths:\n%s", strings.Join(calls, "\n"))
	}

	// Other methods are refused, also without the store.
	for _, method := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		resp, body := do(t, method, f.url(f.pub, "master.m3u8"))
		wantError(t, resp, body, 405, "method_not_allowed")
		if allow := resp.Header.Get("Allow"); allow != "GET, HEAD, OPTIONS" {
			t.Errorf("%s: Allow %q", method, allow)
		}
	}
	if calls := f.store.takeCalls(); len(calls) > 0 {
		t.Errorf("the store was asked for refused methods:\n%s", strings.Join(calls, "\n"))
	}
}

func TestConditional(t *testing.T) {
	f := newFixture(t, Config{})
	for _, name := range []string{"master.m3u8", "720p/seg_00001.m4s"} {
		t.Run(name, func(t *testing.T) {
			u := f.url(f.pub, name)
			resp, _ := do(t, "GET", u)
			etag, lastMod := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
			if etag == "" || lastMod == "" {
				t.Fatalf("no validators: %v", resp.Header)
			}
			modTime, err := http.ParseTime(lastMod)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name    string
				headers []string
				want    int
			}{
				{"etag", []string{"If-None-Match: " + etag}, 304},
				{"weak", []string{"If-None-Match: W/" + etag}, 304},
				{"list", []string{`If-None-Match: "nope", W/"other", ` + etag}, 304},
				{"star", []string{"If-None-Match: *"}, 304},
				{"other etag", []string{`If-None-Match: "nope"`}, 200},
				{"ims equal", []string{"If-Modified-Since: " + lastMod}, 304},
				{"ims later", []string{"If-Modified-Since: " + modTime.Add(time.Hour).Format(http.TimeFormat)}, 304},
				{"ims earlier", []string{"If-Modified-Since: " + modTime.Add(-time.Second).Format(http.TimeFormat)}, 200},
				{"inm wins over ims", []string{`If-None-Match: "nope"`, "If-Modified-Since: " + lastMod}, 200},
				{"if-match", []string{"If-Match: " + etag}, 200},
				{"if-match other", []string{`If-Match: "nope"`}, 412},
			} {
				for _, method := range []string{"GET", "HEAD"} {
					resp, body := do(t, method, u, tc.headers...)
					if resp.StatusCode != tc.want {
						t.Errorf("%s %s: status %d, want %d", method, tc.name, resp.StatusCode, tc.want)
						continue
					}
					switch tc.want {
					case 304:
						if len(body) != 0 || resp.Header.Get("ETag") != etag || resp.Header.Get("Cache-Control") == "" {
							t.Errorf("%s %s: 304 with %d bytes, headers %v", method, tc.name, len(body), resp.Header)
						}
					case 200:
						if method == "GET" && !bytes.Equal(body, f.objects[name]) {
							t.Errorf("%s %s: wrong body", method, tc.name)
						}
					case 412:
						if method == "GET" {
							wantError(t, resp, body, 412, "precondition_failed")
						}
					}
				}
			}
		})
	}
}

func TestRange(t *testing.T) {
	f := newFixture(t, Config{})
	const name = "720p/seg_00001.m4s"
	obj := f.objects[name]
	size := len(obj)
	u := f.url(f.pub, name)
	resp, _ := do(t, "GET", u)
	etag, lastMod := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")

	for _, tc := range []struct {
		name       string
		headers    []string
		want       int
		start, end int // the bytes expected in the body, [start, end)
	}{
		{"first bytes", []string{"Range: bytes=0-99"}, 206, 0, 100},
		{"one byte", []string{"Range: bytes=0-0"}, 206, 0, 1},
		{"middle", []string{"Range: bytes=1000-1999"}, 206, 1000, 2000},
		{"suffix", []string{"Range: bytes=-500"}, 206, size - 500, size},
		{"open-ended", []string{"Range: bytes=9000-"}, 206, 9000, size},
		{"last past the end", []string{"Range: bytes=9990-20000"}, 206, 9990, size},
		{"whole as a range", []string{"Range: bytes=0-"}, 206, 0, size},
		{"multiple ranges", []string{"Range: bytes=0-9,20-29"}, 200, 0, size},
		{"malformed", []string{"Range: bytes=9-0"}, 200, 0, size},
		{"other unit", []string{"Range: items=0-9"}, 200, 0, size},
		{"if-range etag", []string{"Range: bytes=0-99", "If-Range: " + etag}, 206, 0, 100},
		{"if-range date", []string{"Range: bytes=0-99", "If-Range: " + lastMod}, 206, 0, 100},
		{"if-range mismatch", []string{"Range: bytes=0-99", `If-Range: "nope"`}, 200, 0, size},
		{"if-range weak", []string{"Range: bytes=0-99", "If-Range: W/" + etag}, 200, 0, size},
		{"if-range old date", []string{"Range: bytes=0-99", "If-Range: Mon, 01 Jan 2001 00:00:00 GMT"}, 200, 0, size},
		{"unsatisfiable", []string{fmt.Sprintf("Range: bytes=%d-", size)}, 416, 0, 0},
		{"unsatisfiable suffix", []string{"Range: bytes=-0"}, 416, 0, 0},
		{"304 before range", []string{"Range: bytes=0-99", "If-None-Match: " + etag}, 304, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, "GET", u, tc.headers...)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			cr := resp.Header.Get("Content-Range")
			switch tc.want {
			case 206:
				if want := fmt.Sprintf("bytes %d-%d/%d", tc.start, tc.end-1, size); cr != want {
					t.Errorf("Content-Range %q, want %q", cr, want)
				}
				fallthrough
			case 200:
				if !bytes.Equal(body, obj[tc.start:tc.end]) {
					t.Errorf("body: %d bytes, want bytes %d-%d", len(body), tc.start, tc.end)
				}
				if cl := resp.Header.Get("Content-Length"); cl != fmt.Sprint(tc.end-tc.start) {
					t.Errorf("Content-Length %s, want %d", cl, tc.end-tc.start)
				}
				if tc.want == 200 && cr != "" {
					t.Errorf("200 with Content-Range %q", cr)
				}
				if resp.Header.Get("Accept-Ranges") != "bytes" || resp.Header.Get("ETag") != etag {
					t.Errorf("headers %v", resp.Header)
				}
			case 416:
				wantError(t, resp, body, 416, "range_not_satisfiable")
				if want := fmt.Sprintf("bytes */%d", size); cr != want {
					t.Errorf("Content-Range %q, want %q", cr, want)
				}
			}
		})
	}

	// A range is read with GetRange, not a whole Get.
	f.store.takeCalls()
	do(t, "GET", u, "Range: bytes=0-99")
	for _, call := range f.store.takeCalls() {
		if strings.HasPrefix(call, "get ") {
			t.Errorf("range request made a whole Get: %s", call)
		}
	}
}

func TestHead(t *testing.T) {
	f := newFixture(t, Config{})
	for _, name := range []string{"master.m3u8", "720p/seg_00001.m4s", "poster.jpg"} {
		get, getBody := do(t, "GET", f.url(f.pub, name))
		f.store.takeCalls()
		head, headBody := do(t, "HEAD", f.url(f.pub, name), "Range: bytes=0-9") // Range is for GET only
		if head.StatusCode != 200 || len(headBody) != 0 {
			t.Fatalf("HEAD %s: %d with %d bytes", name, head.StatusCode, len(headBody))
		}
		if head.ContentLength != int64(len(getBody)) {
			t.Errorf("HEAD %s: Content-Length %d, want %d", name, head.ContentLength, len(getBody))
		}
		for _, h := range []string{"Content-Type", "Cache-Control", "ETag", "Last-Modified", "Accept-Ranges", "Access-Control-Allow-Origin"} {
			if g, h2 := get.Header.Get(h), head.Header.Get(h); g != h2 || g == "" {
				t.Errorf("HEAD %s: %s %q, GET had %q", name, h, h2, g)
			}
		}
		for _, call := range f.store.takeCalls() {
			if !strings.HasPrefix(call, "stat ") {
				t.Errorf("HEAD %s read the object: %s", name, call)
			}
		}
	}
}

func TestCORS(t *testing.T) {
	f := newFixture(t, Config{})
	resp, _ := do(t, "GET", f.url(f.pub, "master.m3u8"), "Origin: https://app.example")
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Allow-Origin %q", got)
	}
	if got := resp.Header.Get("Access-Control-Expose-Headers"); got != "Content-Length, Content-Range, Cache-Status, Age, ETag" {
		t.Errorf("Expose-Headers %q", got)
	}

	resp, body := do(t, "OPTIONS", f.url(f.pub, "720p/seg_00001.m4s"),
		"Origin: https://app.example", "Access-Control-Request-Method: GET", "Access-Control-Request-Headers: range")
	if resp.StatusCode != 204 || len(body) != 0 {
		t.Fatalf("preflight: %d %s", resp.StatusCode, body)
	}
	for name, want := range map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
		"Access-Control-Allow-Headers": "Range, If-None-Match, If-Modified-Since, If-Range",
		"Access-Control-Max-Age":       "86400",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("preflight %s: %q, want %q", name, got, want)
		}
	}

	g := newFixture(t, Config{AllowOrigin: "https://app.example"})
	resp, _ = do(t, "GET", g.url(g.pub, "master.m3u8"))
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("configured Allow-Origin: %q", got)
	}
}

func TestStoreErrors(t *testing.T) {
	f := newFixture(t, Config{})
	boom := errors.New("disk on fire")
	f.store.stat = func(ctx context.Context, key string) (storage.Info, error) { return storage.Info{}, boom }
	f.store.get = func(ctx context.Context, key string) (io.ReadCloser, storage.Info, error) {
		return nil, storage.Info{}, boom
	}
	resp, body := do(t, "GET", f.url(f.pub, "720p/seg_00001.m4s"))
	wantError(t, resp, body, 502, "store_unavailable")
	if strings.Contains(string(body), "fire") {
		t.Errorf("the store's error leaked: %s", body)
	}
	resp, body = do(t, "GET", f.url(f.pub, "master.m3u8"))
	wantError(t, resp, body, 502, "store_unavailable")

	f.store.stat = func(ctx context.Context, key string) (storage.Info, error) {
		return storage.Info{}, context.DeadlineExceeded
	}
	resp, body = do(t, "GET", f.url(f.pub, "poster.jpg"))
	wantError(t, resp, body, 504, "store_timeout")
}

func TestObjectReplacedWhileServed(t *testing.T) {
	f := newFixture(t, Config{})
	const name = "720p/index.m3u8"
	key := layout.VideosPrefix + f.pub + "/" + name
	ctx := context.Background()
	// The first range read sees the playlist replaced (and shorter) after the Stat: the request
	// starts again and serves the new playlist consistently.
	replaced := []byte("#EXTM3U\n")
	var once sync.Once
	f.store.getRange = func(ctx context.Context, k string, offset, length int64) (io.ReadCloser, storage.Info, error) {
		once.Do(func() {
			if _, err := f.store.Store.Put(ctx, key, bytes.NewReader(replaced), int64(len(replaced)),
				storage.PutOptions{ContentType: httpsem.ContentTypePlaylist}); err != nil {
				t.Error(err)
			}
		})
		return f.store.Store.GetRange(ctx, k, offset, length)
	}
	resp, body := do(t, "GET", f.url(f.pub, name), "Range: bytes=2-")
	if resp.StatusCode != 206 || string(body) != string(replaced[2:]) ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 2-%d/%d", len(replaced)-1, len(replaced)) {
		t.Fatalf("status %d, Content-Range %q, body %q", resp.StatusCode, resp.Header.Get("Content-Range"), body)
	}
	info, _ := f.store.Store.Stat(ctx, key)
	if resp.Header.Get("ETag") != info.ETag {
		t.Errorf("ETag %q of the old playlist, want the new %q", resp.Header.Get("ETag"), info.ETag)
	}

	// An object that never holds still is a 503 after a few attempts.
	f.store.get = func(ctx context.Context, k string) (io.ReadCloser, storage.Info, error) {
		body, info, err := f.store.Store.Get(ctx, k)
		info.ETag = `"moving"`
		return body, info, err
	}
	resp, body = do(t, "GET", f.url(f.pub, name), "If-None-Match: \"x\"")
	wantError(t, resp, body, 503, "object_changing")
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, Config{Registerer: reg})
	do(t, "GET", f.url(f.pub, "720p/seg_00001.m4s"))
	do(t, "GET", f.url(f.pub, "720p/seg_00002.m4s"), "Range: bytes=0-99")
	do(t, "GET", f.url(f.pub, "master.m3u8"), "If-None-Match: *")
	do(t, "GET", f.url(f.unpub, "master.m3u8"))

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				got[name] = m.Counter.GetValue()
			case m.Histogram != nil:
				got[name] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	for name, want := range map[string]float64{
		"reelay_origin_requests_total/2xx":               2,
		"reelay_origin_requests_total/3xx":               1,
		"reelay_origin_requests_total/4xx":               1,
		"reelay_origin_requests_total/5xx":               0,
		"reelay_origin_sent_bytes_total":                 float64(len(f.objects["720p/seg_00001.m4s"]) + 100 + len(`{"error":{"code":"not_found","message":"no such video or object"}}`+"\n")),
		"reelay_origin_store_duration_seconds/stat":      5, // the master and the marker, segment 2, the master (304), the unpublished video's marker
		"reelay_origin_store_duration_seconds/get":       2, // segment 1, the unpublished master
		"reelay_origin_store_duration_seconds/get_range": 1,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}

	// A second origin on the same registry is refused, and leaves the first one's metrics.
	if _, err := New(Config{Store: f.store, Registerer: reg}); err == nil {
		t.Error("New registered the same metrics twice")
	}
	if mfs, _ := reg.Gather(); len(mfs) != 3 {
		t.Errorf("%d metric families after a failed New, want 3", len(mfs))
	}
}

func TestNewConfig(t *testing.T) {
	fs, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{
		{},
		{Store: fs, PlaylistMaxAge: -time.Second},
		{Store: fs, AllowOrigin: "*\r\nSet-Cookie: x=y"},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
	o, err := New(Config{Store: fs})
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.AllowOrigin != "*" || o.cachePlaylist != "public, max-age=60" || o.cfg.PublishedTTL != DefaultPublishedTTL {
		t.Errorf("defaults: %+v, playlist cache %q", o.cfg, o.cachePlaylist)
	}
	if err := o.Ready(context.Background()); err != nil {
		t.Errorf("Ready on a usable store: %v", err)
	}
}

// The origin over a real S3 (MinIO): ranges travel as S3 range reads.
func TestMinIO(t *testing.T) {
	srv := testenv.MinIO(t)
	s3, err := storage.NewS3(context.Background(), storage.S3Config{
		Endpoint: srv.Endpoint, Bucket: srv.Bucket(t), AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureOn(t, s3, Config{})
	const name = "720p/seg_00001.m4s"
	obj := f.objects[name]

	resp, body := do(t, "GET", f.url(f.pub, name), "Range: bytes=100-1099")
	if resp.StatusCode != 206 || !bytes.Equal(body, obj[100:1100]) {
		t.Fatalf("status %d, %d bytes", resp.StatusCode, len(body))
	}
	if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes 100-1099/%d", len(obj)) {
		t.Errorf("Content-Range %q", cr)
	}
	if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); ct != "video/iso.segment" || cc != httpsem.CacheImmutable {
		t.Errorf("Content-Type %q, Cache-Control %q", ct, cc)
	}
	etag := resp.Header.Get("ETag")

	resp, body = do(t, "GET", f.url(f.pub, name), "Range: bytes=-10")
	if resp.StatusCode != 206 || !bytes.Equal(body, obj[len(obj)-10:]) {
		t.Errorf("suffix: status %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = do(t, "GET", f.url(f.pub, name), fmt.Sprintf("Range: bytes=%d-", len(obj)))
	wantError(t, resp, body, 416, "range_not_satisfiable")
	resp, _ = do(t, "GET", f.url(f.pub, name), "If-None-Match: "+etag)
	if resp.StatusCode != 304 {
		t.Errorf("If-None-Match: status %d", resp.StatusCode)
	}
	resp, body = do(t, "GET", f.url(f.pub, "master.m3u8"))
	if resp.StatusCode != 200 || !bytes.Equal(body, f.objects["master.m3u8"]) {
		t.Errorf("master: status %d", resp.StatusCode)
	}
	resp, body = do(t, "GET", f.url(f.unpub, name))
	wantError(t, resp, body, 404, "not_found")
}

// TestPrivateVideos checks who gets a private video's objects: an edge that proves its fill
// and a player on a signed URL, each marked private and never "public"; nobody else, and
// nobody at all without a signing key. A wrong signature on a public video is refused too.
func TestPrivateVideos(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	f := newFixture(t, Config{SigningKey: key})
	priv := videoid.New()
	if _, err := f.store.Put(context.Background(), layout.VideosPrefix+priv+"/"+layout.PrivateMarker, strings.NewReader(""), 0, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	objects := putVideo(t, f.store.Store, layout.VideosPrefix, priv, true)
	future := time.Now().Add(time.Hour)
	signed := "?" + signedurl.Query(key, priv, future)
	peer := func(name string) string {
		return signedurl.PeerAuthHeader + ": " + signedurl.PeerToken(key, layout.Path(priv, name))
	}
	for _, name := range []string{"720p/seg_00001.m4s", "master.m3u8", "720p/index.m3u8", "poster.jpg"} {
		for _, method := range []string{"GET", "HEAD"} {
			for who, tc := range map[string]struct {
				url, header string
			}{
				"unsigned":     {f.url(priv, name), ""},
				"forged sig":   {f.url(priv, name) + "?exp=1&sig=garbage", ""},
				"expired":      {f.url(priv, name) + "?" + signedurl.Query(key, priv, time.Now().Add(-time.Second)), ""},
				"other video":  {f.url(priv, name) + "?" + signedurl.Query(key, f.pub, future), ""},
				"forged peer":  {f.url(priv, name), signedurl.PeerAuthHeader + ": " + signedurl.PeerToken(key, layout.Path(f.pub, name))},
				"wrong key":    {f.url(priv, name), signedurl.PeerAuthHeader + ": " + signedurl.PeerToken([]byte("another key of 32 bytes, at least"), layout.Path(priv, name))},
				"signed (bad)": {f.url(f.pub, name) + "?exp=1&sig=garbage", ""},
			} {
				resp, body := do(t, method, tc.url, tc.header)
				if resp.StatusCode != 403 || (method == "GET" && !strings.Contains(string(body), "signature")) ||
					resp.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("%s %s, %s: %d %s, Cache-Control %q", method, name, who, resp.StatusCode, body, resp.Header.Get("Cache-Control"))
				}
			}
			// An edge's fill gets the object as stored, marked private.
			resp, body := do(t, method, f.url(priv, name), peer(name))
			cc := resp.Header.Get("Cache-Control")
			if resp.StatusCode != 200 || resp.Header.Get(httpsem.AccessHeader) != httpsem.AccessPrivate ||
				!strings.HasPrefix(cc, "private") || strings.Contains(cc, "public") ||
				method == "GET" && !bytes.Equal(body, objects[name]) {
				t.Errorf("%s %s by an edge: %d, %s %q, Cache-Control %q", method, name, resp.StatusCode,
					httpsem.AccessHeader, resp.Header.Get(httpsem.AccessHeader), cc)
			}
			// A player's signed request too; playlists come with the signature on their URIs.
			resp, body = do(t, method, f.url(priv, name)+signed)
			cc = resp.Header.Get("Cache-Control")
			if resp.StatusCode != 200 || resp.Header.Get(httpsem.AccessHeader) != httpsem.AccessPrivate ||
				!strings.HasPrefix(cc, "private") || strings.Contains(cc, "public") {
				t.Errorf("%s %s signed: %d, Cache-Control %q", method, name, resp.StatusCode, cc)
			}
			if strings.HasSuffix(name, ".m3u8") {
				want := signedurl.SignPlaylist(objects[name], signed[1:])
				if cc != httpsem.CacheSignedPlaylist || resp.Header.Get("ETag") != "" ||
					resp.Header.Get("Content-Length") != strconv.Itoa(len(want)) || method == "GET" && !bytes.Equal(body, want) {
					t.Errorf("%s %s signed: Cache-Control %q, ETag %q, body\n%s", method, name, cc, resp.Header.Get("ETag"), body)
				}
			}
			// The public video is public, signed or not.
			for _, q := range []string{"", "?" + signedurl.Query(key, f.pub, future)} {
				resp, _ = do(t, method, f.url(f.pub, name)+q)
				if resp.StatusCode != 200 || resp.Header.Get(httpsem.AccessHeader) != "" || strings.Contains(resp.Header.Get("Cache-Control"), "private") {
					t.Errorf("%s %s%s of the public video: %d, %s %q", method, name, q, resp.StatusCode, httpsem.AccessHeader, resp.Header.Get(httpsem.AccessHeader))
				}
			}
		}
	}
	// A range of a private segment is private too.
	resp, _ := do(t, "GET", f.url(priv, "720p/seg_00001.m4s")+signed, "Range: bytes=0-9")
	if resp.StatusCode != 206 || resp.Header.Get("Cache-Control") != "private, max-age=31536000, immutable" {
		t.Errorf("signed range: %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	// Without a signing key, nobody gets a private video.
	bare := newFixtureOn(t, f.store.Store, Config{})
	for _, h := range []string{"", peer("master.m3u8")} {
		resp, body := do(t, "GET", bare.url(priv, "master.m3u8")+signed, h)
		wantError(t, resp, body, 403, "signature_required")
	}

	// The marker itself is no object of the video.
	resp, body := do(t, "GET", f.url(priv, layout.PrivateMarker))
	wantError(t, resp, body, 404, "not_found")
}
