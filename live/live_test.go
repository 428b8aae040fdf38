package live

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/storage"
)

// newTestServer serves a Server's WHIP resources and its Streams behind the API's bearer-token
// middleware, on loopback, as the API listener and the origin would.
func newTestServer(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	streams := NewStreams()
	cfg.IPs = []string{"127.0.0.1"}
	if cfg.PlaybackURL == "" {
		cfg.PlaybackURL = "http://edge.test/"
	}
	srv, err := New(cfg, streams)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, srv.Handler())
	mux.Handle(Path+"/", srv.Handler())
	mux.Handle(layout.LivePathPrefix, streams)
	ts := httptest.NewServer(auth.NewAuthenticator(tokenUsers{}, "", nil).Middleware(mux))
	t.Cleanup(ts.Close)
	t.Cleanup(func() { srv.Close() }) // first: it answers the blocked playlist requests
	return srv, ts
}

var linkRE = regexp.MustCompile(`^<http://edge\.test/v/live/([a-z0-9]{26})/index\.m3u8>; rel="alternate"; type="application/vnd\.apple\.mpegurl"$`)

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func do(t *testing.T, method, url, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func mediaPlaylist(t *testing.T, b []byte) *playlist.Media {
	t.Helper()
	pl, err := playlist.Unmarshal(b)
	if err != nil {
		t.Fatalf("playlist: %v\n%s", err, b)
	}
	m, ok := pl.(*playlist.Media)
	if !ok {
		t.Fatalf("not a media playlist:\n%s", b)
	}
	return m
}

// TestPublishToLLHLS publishes H.264 and Opus from a pion client over WHIP and checks the
// LL-HLS stream that comes out: the playlists, parts, preload hints and blocking reloads; then
// DELETE ends it, and no goroutine is left behind.
func TestPublishToLLHLS(t *testing.T) {
	c := testClip(t)
	kept := t.TempDir()
	recorded := make(chan Recording, 1)
	store, err := storage.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, ts := newTestServer(t, Config{Store: store, RecordDir: t.TempDir(), Recordings: recordingsFunc(func(_ context.Context, r Recording) error {
		// Keep a copy: the file is deleted once Publish returns.
		b, err := os.ReadFile(r.Path)
		if err != nil {
			return err
		}
		r.Path = filepath.Join(kept, "rec.ts")
		recorded <- r
		return os.WriteFile(r.Path, b, 0o644)
	})})
	before := runtime.NumGoroutine()

	p := newPublisher(t, true)
	resp, body := whip(t, ts.URL+Path, "token-alice", "application/sdp", p.Offer)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/sdp" {
		t.Errorf("Content-Type %q", ct)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, Path+"/") {
		t.Fatalf("Location %q", loc)
	}
	m := linkRE.FindStringSubmatch(resp.Header.Get("Link"))
	if m == nil {
		t.Fatalf("Link %q", resp.Header.Get("Link"))
	}
	stream := m[1]
	if !strings.Contains(body, "a=candidate:") || !strings.Contains(body, "H264") {
		t.Fatalf("answer without candidates or H.264:\n%s", body)
	}
	p.Answer(t, body)
	stop, sent := make(chan struct{}), make(chan struct{})
	go func() { p.Send(c, stop); close(sent) }()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-sent
	}()

	base := ts.URL + layout.LivePath(stream, "")
	code, master := get(t, base+"index.m3u8") // waits for the first segment
	if code != http.StatusOK {
		t.Fatalf("index.m3u8: %d %s", code, master)
	}
	for _, want := range []string{"#EXT-X-STREAM-INF", "avc1.", "opus", "TYPE=AUDIO"} {
		if !bytes.Contains(master, []byte(want)) {
			t.Errorf("the multivariant playlist lacks %q:\n%s", want, master)
		}
	}
	mv, err := playlist.Unmarshal(master)
	if err != nil {
		t.Fatal(err)
	}
	videoURI := mv.(*playlist.Multivariant).Variants[0].URI

	// Wait for two whole segments.
	var media *playlist.Media
	var raw []byte
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, raw = get(t, base+videoURI)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", videoURI, code, raw)
		}
		media = mediaPlaylist(t, raw)
		if whole(media) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no two segments in time:\n%s", raw)
		}
		// A blocking reload for the next part waits for it: no sleep needed.
		next := media.MediaSequence + len(media.Segments)
		code, raw = get(t, fmt.Sprintf("%s%s?_HLS_msn=%d&_HLS_part=%d", base, videoURI, next, len(media.Parts)))
		if code != http.StatusOK {
			t.Fatalf("blocking reload: %d %s", code, raw)
		}
	}
	for _, want := range []string{"#EXT-X-PART:", "#EXT-X-PRELOAD-HINT:TYPE=PART", "CAN-BLOCK-RELOAD=YES", "#EXT-X-PART-INF:PART-TARGET=", "#EXT-X-PROGRAM-DATE-TIME:"} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("the media playlist lacks %q:\n%s", want, raw)
		}
	}
	if media.PartInf == nil || media.PartInf.PartTarget > 500*time.Millisecond {
		t.Errorf("part target %+v, want about 200 ms", media.PartInf)
	}
	if d := media.Segments[len(media.Segments)-1].Duration; d < 900*time.Millisecond || d > 2100*time.Millisecond {
		t.Errorf("segment duration %v, want about 1 s", d)
	}
	if len(media.Segments[len(media.Segments)-1].Parts) < 3 {
		t.Errorf("a segment of %d parts, want about 5", len(media.Segments[len(media.Segments)-1].Parts))
	}

	// A part and a segment are fMP4 fragments; the init file is an fMP4 header.
	part := media.Segments[len(media.Segments)-1].Parts[0].URI
	for _, uri := range []string{part, media.Segments[len(media.Segments)-1].URI} {
		code, b := get(t, base+uri)
		if code != http.StatusOK || len(b) < 8 || string(b[4:8]) != "moof" {
			t.Errorf("%s: %d, %d bytes", uri, code, len(b))
		}
	}
	if code, b := get(t, base+media.Map.URI); code != http.StatusOK || string(b[4:8]) != "ftyp" {
		t.Errorf("init %s: %d", media.Map.URI, code)
	}

	// A blocking reload for a part that does not exist yet is answered once it does: the
	// playlist then holds it.
	last := media.MediaSequence + len(media.Segments) // the segment being written
	wantMSN := last + 1
	code, raw = get(t, fmt.Sprintf("%s%s?_HLS_msn=%d&_HLS_part=0", base, videoURI, wantMSN))
	if code != http.StatusOK {
		t.Fatalf("blocking reload: %d %s", code, raw)
	}
	after := mediaPlaylist(t, raw)
	if got := after.MediaSequence + len(after.Segments); got < wantMSN || (got == wantMSN && len(after.Parts) == 0) {
		t.Errorf("blocking reload for msn %d part 0 answered with segments up to %d and %d parts:\n%s", wantMSN, got-1, len(after.Parts), raw)
	}
	// Too far ahead is refused at once (RFC 8216bis §6.2.5.2).
	if code, _ := get(t, fmt.Sprintf("%s%s?_HLS_msn=%d", base, videoURI, wantMSN+10)); code != http.StatusBadRequest {
		t.Errorf("msn far ahead: %d, want 400", code)
	}
	// The stream is copied into the store as it is made: the playlists, and every file they
	// name.
	stored := func(name string) []byte {
		rc, _, err := store.Get(t.Context(), layout.LiveKey(stream, name))
		if err != nil {
			return nil
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return b
	}
	if b := stored("index.m3u8"); !bytes.Contains(b, []byte(videoURI)) {
		t.Errorf("the stored multivariant playlist:\n%s", b)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		b := stored(videoURI)
		if sm, err := playlist.Unmarshal(b); err == nil && sm.(*playlist.Media).MediaSequence+len(sm.(*playlist.Media).Segments) > wantMSN {
			m := sm.(*playlist.Media)
			for _, uri := range append([]string{m.Map.URI, m.Segments[len(m.Segments)-1].URI}, m.Segments[len(m.Segments)-1].Parts[0].URI) {
				if f := stored(uri); len(f) < 8 {
					t.Errorf("%s is not stored (%d bytes)", uri, len(f))
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stored media playlist does not follow the stream:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond) // polling, with a deadline
	}

	// An unknown file of the stream is 404.
	if code, _ := get(t, base+"nothing.mp4"); code != http.StatusNotFound {
		t.Errorf("unknown file: %d", code)
	}

	// Another creator cannot end the session; its creator can, once.
	if r := do(t, http.MethodDelete, ts.URL+loc, "token-bob"); r.StatusCode != http.StatusNotFound {
		t.Errorf("DELETE by another creator: %d", r.StatusCode)
	}
	if r := do(t, http.MethodDelete, ts.URL+loc, "token-alice"); r.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d", r.StatusCode)
	}
	if r := do(t, http.MethodDelete, ts.URL+loc, "token-alice"); r.StatusCode != http.StatusNotFound {
		t.Errorf("second DELETE: %d", r.StatusCode)
	}
	if code, _ := get(t, base+"index.m3u8"); code != http.StatusNotFound {
		t.Errorf("index.m3u8 after DELETE: %d", code)
	}
	if srv.Sessions() != 0 {
		t.Errorf("%d sessions after DELETE", srv.Sessions())
	}
	store.List(t.Context(), layout.LivePrefix, func(i storage.Info) error {
		t.Errorf("%s is left in the store after the session", i.Key)
		return nil
	})
	close(stop)
	<-sent
	p.Close()

	// The recording is handed over, whole: H.264 and Opus, as long as the session.
	var r Recording
	select {
	case r = <-recorded:
	case <-time.After(30 * time.Second):
		t.Fatal("no recording")
	}
	if r.ID != stream || r.Owner != 1 || r.Size == 0 {
		t.Errorf("recording %+v", r)
	}
	waitGoroutines(t, before)
	if n := testutil.ToFloat64(srv.ended.WithLabelValues(endDeleted)); n != 1 {
		t.Errorf("%v sessions ended deleted, want 1", n)
	}
	if n := testutil.ToFloat64(srv.recordings.WithLabelValues("published")); n != 1 {
		t.Errorf("%v recordings published, want 1", n)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name:format=duration", "-of", "default=nw=1", r.Path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	var dur float64
	fmt.Sscanf(string(out[bytes.Index(out, []byte("duration="))+len("duration="):]), "%f", &dur)
	if !bytes.Contains(out, []byte("codec_name=h264")) || !bytes.Contains(out, []byte("codec_name=opus")) || dur < 2 {
		t.Errorf("the recording: %s", out)
	}
	if entries, _ := os.ReadDir(srv.cfg.RecordDir); len(entries) != 0 {
		t.Errorf("%d files left in the recording directory", len(entries))
	}
}

// recordingsFunc is a Recordings of a function.
type recordingsFunc func(ctx context.Context, r Recording) error

func (f recordingsFunc) Publish(ctx context.Context, r Recording) error { return f(ctx, r) }

// whole counts the segments of m that are not gaps.
func whole(m *playlist.Media) int {
	n := 0
	for _, s := range m.Segments {
		if !s.Gap {
			n++
		}
	}
	return n
}

// waitGoroutines waits for the number of goroutines to come back to before.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(15 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond) // polling, with a deadline
	}
}

const vp8Offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n"

// TestWHIPErrors checks the answers to bad requests, the one-session-per-creator rule and the
// cap on sessions, and that none of it leaves a goroutine behind.
func TestWHIPErrors(t *testing.T) {
	srv, ts := newTestServer(t, Config{MaxSessions: 2})
	before := runtime.NumGoroutine()
	p := newPublisher(t, false)
	url := ts.URL + Path

	// Alice goes live (she never connects: the session waits for ICE).
	resp, body := whip(t, url, "token-alice", "application/sdp", p.Offer)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")

	for _, tc := range []struct {
		name, token, contentType, offer string
		status                          int
		code                            string
	}{
		{"no token", "", "application/sdp", p.Offer, 401, "unauthenticated"},
		{"wrong token", "token-mallory", "application/sdp", p.Offer, 401, "invalid_token"},
		{"not SDP", "token-bob", "application/json", p.Offer, 415, "unsupported_media_type"},
		{"malformed SDP", "token-bob", "application/sdp", "hello", 400, "malformed_sdp"},
		{"no media", "token-bob", "application/sdp", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", 400, "malformed_sdp"},
		{"VP8 only", "token-bob", "application/sdp", vp8Offer, 422, "no_h264"},
		{"second session", "token-alice", "application/sdp", p.Offer, 409, "already_live"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := whip(t, url, tc.token, tc.contentType, tc.offer)
			if resp.StatusCode != tc.status || !strings.Contains(body, `"code":"`+tc.code+`"`) {
				t.Errorf("%d %s, want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
			// (A wrong token is answered by the bearer-token middleware, in front of the
			// handler: the API sets CORS before it, see api.TestLiveRoutes.)
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" && tc.code != "invalid_token" {
				t.Errorf("Access-Control-Allow-Origin %q", got)
			}
		})
	}

	// Bob takes the second place; Carol finds none.
	bob := newPublisher(t, false)
	if resp, body := whip(t, url, "token-bob", "application/sdp", bob.Offer); resp.StatusCode != http.StatusCreated {
		t.Fatalf("bob: %d %s", resp.StatusCode, body)
	}
	carol := newPublisher(t, false)
	if resp, body := whip(t, url, "token-carol", "application/sdp", carol.Offer); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("carol over the cap: %d %s", resp.StatusCode, body)
	}

	// The preflight of a page on another origin.
	req, _ := http.NewRequest(http.MethodOptions, url, nil)
	req.Header.Set("Origin", "https://studio.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	pre, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	h := pre.Header
	if pre.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Accept-Post") != "application/sdp" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(h.Get("Access-Control-Expose-Headers"), "Location") ||
		!strings.Contains(h.Get("Access-Control-Expose-Headers"), "Link") {
		t.Errorf("preflight: %d %v", pre.StatusCode, h)
	}

	// Trickle ICE is not supported; an unknown session is 404.
	if r := do(t, http.MethodPatch, ts.URL+loc, "token-alice"); r.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(r.Header.Get("Allow"), "DELETE") {
		t.Errorf("PATCH: %d, Allow %q", r.StatusCode, r.Header.Get("Allow"))
	}
	if r := do(t, http.MethodDelete, url+"/aaaaaaaaaaaaaaaaaaaaaaaaaa", "token-alice"); r.StatusCode != http.StatusNotFound {
		t.Errorf("DELETE of an unknown session: %d", r.StatusCode)
	}
	if r := do(t, http.MethodDelete, ts.URL+loc, ""); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("DELETE without a token: %d", r.StatusCode)
	}

	// Closing ends every session and leaves no goroutine.
	srv.Close()
	if srv.Sessions() != 0 {
		t.Errorf("%d sessions after Close", srv.Sessions())
	}
	if resp, _ := whip(t, url, "token-carol", "application/sdp", carol.Offer); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST after Close: %d", resp.StatusCode)
	}
	p.Close()
	bob.Close()
	carol.Close()
	waitGoroutines(t, before)
}

// TestVanishedPublisher checks that a publisher that vanishes without DELETE (its packets
// stop: the network went away) loses its session after Config.ICEFailedTimeout, that its
// recording is still handed over, and that the creator can then go live again. The publisher
// reaches the server only through a UDP relay that the test cuts.
func TestVanishedPublisher(t *testing.T) {
	c := testClip(t)
	recorded := make(chan Recording, 1)
	srv, ts := newTestServer(t, Config{ICEFailedTimeout: 2 * time.Second, RecordDir: t.TempDir(),
		Recordings: recordingsFunc(func(_ context.Context, r Recording) error { recorded <- r; return nil })})
	before := runtime.NumGoroutine()
	p := newPublisher(t, false)
	// The server learns the publisher's address from the relay's packets only.
	resp, body := whip(t, ts.URL+Path, "token-alice", "application/sdp", withoutCandidates(p.Offer))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	stream := linkRE.FindStringSubmatch(resp.Header.Get("Link"))[1]
	relay := newUDPRelay(t, serverCandidate(t, body))
	p.Answer(t, relay.rewrite(body))
	stop, sent := make(chan struct{}), make(chan struct{})
	go func() { p.Send(c, stop); close(sent) }()
	if code, b := get(t, ts.URL+layout.LivePath(stream, "index.m3u8")); code != http.StatusOK {
		t.Fatalf("index.m3u8: %d %s", code, b)
	}
	// The network goes away; the publisher sends on, into nothing.
	relay.cut()
	deadline := time.Now().Add(30 * time.Second)
	for srv.Sessions() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the session outlived its publisher")
		}
		time.Sleep(50 * time.Millisecond) // polling, with a deadline
	}
	if code, _ := get(t, ts.URL+layout.LivePath(stream, "index.m3u8")); code != http.StatusNotFound {
		t.Errorf("index.m3u8 after the session ended: %d", code)
	}
	select {
	case r := <-recorded:
		if r.ID != stream || r.Size == 0 {
			t.Errorf("recording %+v", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the vanished publisher's recording was not handed over")
	}
	if n := testutil.ToFloat64(srv.ended.WithLabelValues(endICEFailed)); n != 1 {
		t.Errorf("%v sessions ended by an ICE failure, want 1", n)
	}
	close(stop)
	<-sent
	p.Close()
	again := newPublisher(t, false)
	if resp, body := whip(t, ts.URL+Path, "token-alice", "application/sdp", again.Offer); resp.StatusCode != http.StatusCreated {
		t.Errorf("going live again: %d %s", resp.StatusCode, body)
	}
	srv.Close()
	again.Close()
	waitGoroutines(t, before)
}

var candidateRE = regexp.MustCompile(`(?m)^a=candidate:\S+ \d+ udp \d+ (127\.0\.0\.1) (\d+) typ host.*\r?\n`)

// withoutCandidates removes the candidates of an SDP.
func withoutCandidates(sdp string) string {
	return regexp.MustCompile(`(?m)^a=(candidate:|end-of-candidates).*\r?\n`).ReplaceAllString(sdp, "")
}

// serverCandidate returns the address of an answer's first loopback UDP host candidate.
func serverCandidate(t *testing.T, sdp string) *net.UDPAddr {
	t.Helper()
	m := candidateRE.FindStringSubmatch(sdp)
	if m == nil {
		t.Fatalf("no loopback candidate in:\n%s", sdp)
	}
	addr, err := net.ResolveUDPAddr("udp4", m[1]+":"+m[2])
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// udpRelay forwards UDP between one client and a server, until cut.
type udpRelay struct {
	front, back *net.UDPConn
	client      atomic.Pointer[net.UDPAddr]
	wg          sync.WaitGroup
}

func newUDPRelay(t *testing.T, server *net.UDPAddr) *udpRelay {
	t.Helper()
	r := &udpRelay{}
	var err error
	if r.front, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	if r.back, err = net.DialUDP("udp4", nil, server); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.cut)
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := r.front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			r.client.Store(from)
			r.back.Write(buf[:n])
		}
	}()
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, err := r.back.Read(buf)
			if err != nil {
				return
			}
			if c := r.client.Load(); c != nil {
				r.front.WriteToUDP(buf[:n], c)
			}
		}
	}()
	return r
}

// rewrite makes an answer's only candidate the relay (the first, of component 1; the others,
// RTCP's among them, go).
func (r *udpRelay) rewrite(sdp string) string {
	port := r.front.LocalAddr().(*net.UDPAddr).Port
	first := true
	return candidateRE.ReplaceAllStringFunc(sdp, func(line string) string {
		if !first {
			return ""
		}
		first = false
		m := candidateRE.FindStringSubmatch(line)
		return strings.Replace(line, " "+m[1]+" "+m[2]+" ", fmt.Sprintf(" 127.0.0.1 %d ", port), 1)
	})
}

// cut stops the relay: nothing passes any more.
func (r *udpRelay) cut() {
	r.front.Close()
	r.back.Close()
	r.wg.Wait()
}

// TestBitrateCap checks that a session whose incoming media stays above Config.MaxBitrate is
// ended, and leaves no goroutine behind.
func TestBitrateCap(t *testing.T) {
	c := testClip(t)
	srv, ts := newTestServer(t, Config{MaxBitrate: 20_000})
	before := runtime.NumGoroutine()
	p := newPublisher(t, true)
	resp, body := whip(t, ts.URL+Path, "token-alice", "application/sdp", p.Offer)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	p.Answer(t, body)
	stop, sent := make(chan struct{}), make(chan struct{})
	go func() { p.Send(c, stop); close(sent) }()
	// The session leaves the list as it starts to end, and is counted once it has: wait for both.
	deadline := time.Now().Add(30 * time.Second)
	for srv.Sessions() != 0 || testutil.ToFloat64(srv.ended.WithLabelValues(endBitrate)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a session above the bitrate cap was not ended: %d sessions, ended by reason %v", srv.Sessions(), endedByReason(srv))
		}
		time.Sleep(50 * time.Millisecond) // polling, with a deadline
	}
	if n := testutil.ToFloat64(srv.ended.WithLabelValues(endBitrate)); n != 1 {
		t.Errorf("%v sessions ended for their bitrate, want 1", n)
	}
	close(stop)
	<-sent
	p.Close()
	waitGoroutines(t, before)
}

// endedByReason returns the ended sessions counted by reason, for a failure's message.
func endedByReason(srv *Server) map[string]float64 {
	out := map[string]float64{}
	for _, r := range []string{endDeleted, endICEFailed, endClosed, endBitrate, endServerClosed, endSetupFailed} {
		if n := testutil.ToFloat64(srv.ended.WithLabelValues(r)); n > 0 {
			out[r] = n
		}
	}
	return out
}

// TestUDPPortRange checks that the sessions' candidates take their ports from the configured
// range, and that an ended session gives its port back: with a range of one port, a second
// session gets it once the first is deleted.
func TestUDPPortRange(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	_, ts := newTestServer(t, Config{UDPPortMin: uint16(port), UDPPortMax: uint16(port)})
	for _, who := range []string{"token-alice", "token-bob"} {
		p := newPublisher(t, false)
		resp, body := whip(t, ts.URL+Path, who, "application/sdp", p.Offer)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s: %d %s", who, resp.StatusCode, body)
		}
		if got := serverCandidate(t, body).Port; got != port {
			t.Errorf("%s: candidate on port %d, want %d", who, got, port)
		}
		if r := do(t, http.MethodDelete, ts.URL+resp.Header.Get("Location"), who); r.StatusCode != http.StatusOK {
			t.Fatalf("%s: DELETE: %d", who, r.StatusCode)
		}
		p.Close()
	}
}

// TestMetricsRegistered checks that the live tier's metrics are registered, and that a second
// Server on the same registry is refused rather than half registered.
func TestMetricsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(Config{PlaybackURL: "http://edge.test", Registerer: reg}, NewStreams()); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(reg, "reelay_live_sessions")
	if err != nil || n != 1 {
		t.Errorf("reelay_live_sessions: %d series, %v", n, err)
	}
	if _, err := New(Config{PlaybackURL: "http://edge.test", Registerer: reg}, NewStreams()); err == nil {
		t.Error("a second Server registered its metrics on the same registry")
	}
}
