package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/pipeline"
	"github.com/reelay/reelay/transcoder"
)

// playerPage plays the HLS URL in its query's src with hls.js, muted, and sets window.result
// once 1.5 s have played, or at hls.js's first fatal error.
const playerPage = `<!doctype html>
<video id="v" muted playsinline></video>
<script src="/hls.min.js"></script>
<script>
const v = document.getElementById('v');
const errors = [];
const done = (r) => { if (!window.result) window.result = Object.assign({errors}, r); };
const hls = new Hls();
hls.on(Hls.Events.ERROR, (_, d) => {
  errors.push({details: d.details, fatal: d.fatal, code: d.response ? d.response.code : 0});
  if (d.fatal) done({played: v.currentTime});
});
hls.on(Hls.Events.MANIFEST_PARSED, () => v.play().catch((e) => done({played: 0, play: String(e)})));
v.addEventListener('timeupdate', () => {
  if (v.currentTime >= 1.5) done({played: v.currentTime, width: v.videoWidth, height: v.videoHeight, levels: hls.levels.length});
});
hls.loadSource(new URLSearchParams(location.search).get('src'));
hls.attachMedia(v);
</script>
`

// playResult is what playerPage reports.
type playResult struct {
	Played        float64
	Width, Height int
	Levels        int
	Play          string
	Errors        []struct {
		Details string
		Fatal   bool
		Code    int
	}
}

// TestUpPlaysInChromium plays videos uploaded to reelay up with hls.js in Debian's Chromium,
// from a page on another origin (so CORS is in the way): a public video, a private one on its
// signed playback URL, and the private one unsigned, which the edge refuses.
func TestUpPlaysInChromium(t *testing.T) {
	waitingTest(t)
	b := newBrowser(t)

	urls, token := startUpWithCreator(t)
	api := urls["api"]
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	clip := makeTestClip(t, "360x640", "3")
	public := uploadClip(t, ctx, api, token, "public", clip)
	private := uploadClip(t, ctx, api, token, "private", clip)

	page := b.pageServer(t, playerPage, nil, nil)
	play := func(src string) playResult {
		t.Helper()
		var r playResult
		b.play(t, ctx, page.URL+"/?src="+url.QueryEscape(src), &r)
		return r
	}

	for name, src := range map[string]string{"public": public, "private, signed": private} {
		if r := play(src); r.Played < 1.5 || r.Width != 360 || r.Height != 640 || r.Levels != 1 {
			t.Errorf("%s video %s in Chromium: %+v", name, src, r)
		}
	}
	unsigned := private[:strings.IndexByte(private, '?')]
	r := play(unsigned)
	if r.Played != 0 || len(r.Errors) == 0 || !r.Errors[len(r.Errors)-1].Fatal || r.Errors[len(r.Errors)-1].Code != 403 {
		t.Errorf("private video unsigned in Chromium: %+v, want a fatal 403", r)
	}
}

// browser is what the hls.js tests need: node, Debian's Chromium, and the npm clients.
type browser struct {
	node, chromium, root, hlsJS string
}

// newBrowser finds the tools, or skips (fails under REELAY_TEST_SERVICES=require).
func newBrowser(t *testing.T) *browser {
	t.Helper()
	b := &browser{chromium: os.Getenv("CHROMIUM")}
	var err error
	if b.node, err = exec.LookPath("node"); err != nil {
		testenv.Require(t, "node is not installed: %v", err)
	}
	if b.chromium == "" {
		b.chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(b.chromium); err != nil {
		testenv.Require(t, "chromium is not installed: %v", err)
	}
	b.root, _ = filepath.Abs("../..")
	b.hlsJS = filepath.Join(b.root, "node_modules", "hls.js", "dist", "hls.min.js")
	for _, p := range []string{b.hlsJS, filepath.Join(b.root, "node_modules", "playwright-core")} {
		if _, err := os.Stat(p); err != nil {
			testenv.Require(t, "%s is not installed (npm ci): %v", p, err)
		}
	}
	testenv.RequireCommand(t, "ffmpeg")
	return b
}

// pageServer serves html at every path, hls.js at /hls.min.js, files under /files/ from files
// (when not nil), and takes the page's signals at /signal/NAME: it sends NAME to signals (when
// not nil, and unless it is full).
func (b *browser) pageServer(t *testing.T, html string, files http.Handler, signals chan<- string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/hls.min.js":
			http.ServeFile(w, r, b.hlsJS)
		case signals != nil && strings.HasPrefix(r.URL.Path, "/signal/"):
			select {
			case signals <- strings.TrimPrefix(r.URL.Path, "/signal/"):
			default:
			}
			w.WriteHeader(http.StatusNoContent)
		case files != nil && strings.HasPrefix(r.URL.Path, "/files/"):
			w.Header().Set("Cache-Control", "no-cache")
			http.StripPrefix("/files", files).ServeHTTP(w, r)
		default:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(html))
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// play opens pageURL in Chromium and decodes the page's window.result into result.
func (b *browser) play(t *testing.T, ctx context.Context, pageURL string, result any) {
	t.Helper()
	if err := <-b.startPlay(ctx, pageURL, result); err != nil {
		t.Fatal(err)
	}
}

// startPlay is play in the background: the channel receives nil once result is filled in, or
// why it was not.
func (b *browser) startPlay(ctx context.Context, pageURL string, result any) <-chan error {
	done := make(chan error, 1)
	go func() {
		cmd := exec.CommandContext(ctx, b.node, filepath.Join(b.root, "e2e", "hls", "play.mjs"), pageURL)
		cmd.Env = append(os.Environ(), "CHROMIUM="+b.chromium)
		out, err := cmd.Output()
		if err != nil {
			done <- fmt.Errorf("play.mjs %s: %v\n%s", pageURL, err, stderrOf(err))
			return
		}
		if err := json.Unmarshal(out, result); err != nil {
			done <- fmt.Errorf("play.mjs printed %q: %v", out, err)
			return
		}
		done <- nil
	}()
	return done
}

// eventPage plays src with hls.js like playerPage; it signals "playing" (see pageServer) when
// playback starts, and reports once it has played 2 s past the end of the first media playlist
// it loaded: where playback started, and that playlist's type, liveness and duration.
const eventPage = `<!doctype html>
<video id="v" muted playsinline></video>
<script src="/hls.min.js"></script>
<script>
const v = document.getElementById('v');
const errors = [];
let first = null, startedAt = -1;
const done = (r) => { if (!window.result) window.result = Object.assign({errors, startedAt}, first, r); };
const hls = new Hls();
hls.on(Hls.Events.ERROR, (_, d) => {
  errors.push({details: d.details, fatal: d.fatal, code: d.response ? d.response.code : 0});
  if (d.fatal) done({played: v.currentTime});
});
hls.on(Hls.Events.LEVEL_LOADED, (_, d) => {
  if (!first) first = {type: d.details.type, live: d.details.live, duration: d.details.totalduration};
});
hls.on(Hls.Events.MANIFEST_PARSED, () => v.play().catch((e) => done({played: 0, play: String(e)})));
v.addEventListener('playing', () => {
  if (startedAt < 0) { startedAt = v.currentTime; fetch('/signal/playing'); }
});
v.addEventListener('timeupdate', () => { if (first && v.currentTime >= first.duration + 2) done({played: v.currentTime}); });
hls.loadSource(new URLSearchParams(location.search).get('src'));
hls.attachMedia(v);
</script>
`

// eventResult is what eventPage reports.
type eventResult struct {
	playResult
	StartedAt float64 // where playback started, in seconds
	Type      string  // of the first media playlist loaded
	Live      bool
	Duration  float64
}

// check wants a growing EVENT presentation played from its start, past the end of the playlist
// first loaded, without an error.
func (r eventResult) check(t *testing.T, what string) {
	t.Helper()
	if r.Type != "EVENT" || !r.Live || r.Duration <= 0 || r.Played < r.Duration+2 || r.StartedAt < 0 || r.StartedAt > 0.5 ||
		len(r.Errors) > 0 {
		t.Errorf("hls.js on %s: %+v", what, r)
	}
}

// heldAt is where the progressive playback tests hold the transcode: the video renditions have
// published their segments of the first 12 s (the one ending at 12 s is written with the IDR
// at 12 s), and a player that started at the live edge, as players do with a live playlist that
// says nothing else, would start 6 s (3 target durations) in.
const heldAt = 13 * time.Second

// transcodeHold holds a transcode, as its pipeline.SampleHook: once every video rendition has
// written a sample at or past at, each of them waits at its next sample until release. A
// rendition that gets there first goes on until the others have: the renditions are fed by one
// goroutine, so one that waited would starve the others short of at. The audio is not held:
// it is encoded on that same goroutine, which waits once the video renditions do.
type transcodeHold struct {
	at       time.Duration
	released chan struct{}
	once     sync.Once
	mu       sync.Mutex
	reached  map[string]bool // by video rendition seen: whether it has got to at
	since    time.Time       // when the last of them got to at
}

func newTranscodeHold(at time.Duration) *transcodeHold {
	return &transcodeHold{at: at, released: make(chan struct{}), reached: map[string]bool{}}
}

func (h *transcodeHold) afterSample(ctx context.Context, rendition string, pts time.Duration) error {
	if rendition == transcoder.AudioName {
		return nil
	}
	h.mu.Lock()
	h.reached[rendition] = h.reached[rendition] || pts >= h.at
	all := true
	for _, r := range h.reached {
		all = all && r
	}
	if all && h.since.IsZero() {
		h.since = time.Now()
	}
	h.mu.Unlock()
	if !all {
		return nil
	}
	select {
	case <-h.released:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// holding reports whether the transcode is held (or was, before release): these video
// renditions, and no other, have all got to at.
func (h *transcodeHold) holding(videos []string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(videos) == 0 || len(videos) != len(h.reached) {
		return false
	}
	for _, v := range videos {
		if !h.reached[v] {
			return false
		}
	}
	return true
}

// heldFor is how long the transcode has been held, 0 if it is not. What a held transcode has
// published shows at once, so the tests give up on it after a while (stuckAfter) instead of
// waiting out their whole time.
func (h *transcodeHold) heldFor() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.since.IsZero() {
		return 0
	}
	return time.Since(h.since)
}

// stuckAfter is how long a held transcode may take to show what it published.
const stuckAfter = 15 * time.Second

// String is for failure messages.
func (h *transcodeHold) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return fmt.Sprint(h.reached)
}

func (h *transcodeHold) release() { h.once.Do(func() { close(h.released) }) }

// heldPresentation waits until the progressive presentation whose files fetch reads (nil when
// missing) is held: master.m3u8 names its media playlists, every video rendition waits in hold,
// and every playlist is an EVENT playlist listing 12 s or more. It fails t if ended (the
// transcode's end) or ctx comes first.
func heldPresentation(t *testing.T, ctx context.Context, hold *transcodeHold, ended <-chan struct{}, fetch func(name string) []byte) {
	t.Helper()
	ready := func() (bool, string) {
		master := fetch(layout.Master)
		if master == nil {
			return false, "no master.m3u8"
		}
		var videos, playlists []string
		for _, uri := range playlistURIs(master) {
			if path.Base(uri) != layout.MediaPlaylist {
				continue
			}
			playlists = append(playlists, uri)
			if name := path.Base(path.Dir(uri)); name != transcoder.AudioName {
				videos = append(videos, name)
			}
		}
		if !hold.holding(videos) {
			return false, fmt.Sprintf("video renditions %v not all held (at %v: %v)", videos, hold.at, hold)
		}
		for _, uri := range playlists {
			pl := string(fetch(uri))
			if n := strings.Count(pl, "#EXTINF"); n < 6 || !strings.Contains(pl, "#EXT-X-PLAYLIST-TYPE:EVENT") {
				return false, fmt.Sprintf("%s lists %d segments:\n%s", uri, n, pl)
			}
		}
		return true, ""
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := ready()
		if ok {
			return
		}
		if hold.heldFor() > stuckAfter {
			t.Fatalf("held for %v, the presentation does not show it: %s", stuckAfter, why)
		}
		select {
		case <-ended:
			t.Fatalf("the transcode ended before it was held: %s", why)
		case <-ctx.Done():
			t.Fatalf("the presentation was never held: %s", why)
		case <-tick.C:
		}
	}
}

// playHeld plays pageURL (eventPage) while the transcode waits in hold, and releases it once
// playback has started, after checking with stillRunning that the transcode is still on; the
// player must then play on past the end of the playlist it first loaded, which only the rest
// of the transcode writes.
func (b *browser) playHeld(t *testing.T, ctx context.Context, hold *transcodeHold, signals <-chan string, pageURL string, stillRunning func()) eventResult {
	t.Helper()
	var r eventResult
	played := b.startPlay(ctx, pageURL, &r)
	select {
	case <-signals:
	case err := <-played:
		t.Fatalf("the player ended before playback started (%v): %+v", err, r)
	case <-ctx.Done():
		t.Fatal("playback never started")
	}
	stillRunning()
	hold.release()
	if err := <-played; err != nil {
		t.Fatal(err)
	}
	return r
}

// TestProgressivePlaysInChromium plays a tree that `reelay transcode --progressive` is still
// writing with hls.js in Chromium: the transcode is held 13 s into the video until playback has
// started, which must be at the beginning of the EVENT presentation (EXT-X-START), not at its
// newest segment; released, the player plays on past the end of the playlist it first loaded,
// as the playlists grow.
func TestProgressivePlaysInChromium(t *testing.T) {
	busyTest(t)
	b := newBrowser(t)
	clip := makeTestClip(t, "720x1280", "20")
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	hold := newTranscodeHold(heldAt)
	var stderr testenv.Buffer
	code, ended := -1, make(chan struct{})
	go func() {
		defer close(ended)
		code = run(ctx, []string{"transcode", "--in", clip, "--out", out, "--progressive", "--huge-pages", "--log-level", "error"},
			&env{stdout: io.Discard, stderr: &stderr, getenv: envOf(nil), afterSample: hold.afterSample})
	}()
	t.Cleanup(func() { hold.release(); cancel(); <-ended })

	heldPresentation(t, ctx, hold, ended, func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			return nil
		}
		return b
	})
	signals := make(chan string, 1)
	page := b.pageServer(t, eventPage, http.FileServer(http.Dir(out)), signals)
	r := b.playHeld(t, ctx, hold, signals, page.URL+"/?src="+url.QueryEscape(page.URL+"/files/master.m3u8"), func() {
		select {
		case <-ended:
			t.Fatalf("the transcode ended while held (exit %d)\n%s", code, stderr.String())
		default:
		}
	})
	r.check(t, "the growing tree")
	<-ended
	if code != 0 {
		t.Fatalf("transcode: exit %d\n%s", code, stderr.String())
	}
}

// TestUpPlaysProgressivelyInChromium uploads a 20 s video to reelay up and plays it with hls.js
// in Chromium, through the edge, while the ingest worker is still transcoding it: the status API
// calls it playable early, and the transcode is held 13 s in until playback has started (the
// video still processing), at the beginning; released, the player plays on past the end of the
// playlist it first loaded, which the edge refreshes as it grows (max-age=1).
func TestUpPlaysProgressivelyInChromium(t *testing.T) {
	busyTest(t)
	b := newBrowser(t)
	hold := newTranscodeHold(heldAt)
	urls, token := startUpWithCreatorHooked(t, hold.afterSample)
	t.Cleanup(hold.release) // before reelay up is stopped
	api := urls["api"]
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	clip := makeTestClip(t, "720x1280", "20")
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"upload", clip, "--api", api, "--token", token, "--no-wait",
		"--state", filepath.Join(t.TempDir(), "state.json")}, &env{stdout: &stdout, stderr: &stderr, getenv: envOf(nil)}); code != 0 {
		t.Fatalf("reelay upload: exit %d\n%s", code, stderr.String())
	}
	id := strings.TrimSpace(stdout.String())
	id = id[strings.LastIndex(id, "\n")+1:]

	// Playable while processing.
	type status struct {
		Status      string
		Playable    bool
		PlaybackURL string `json:"playback_url"`
	}
	var v status
	for !v.Playable {
		if v.Status == "ready" || v.Status == "failed" || ctx.Err() != nil || hold.heldFor() > stuckAfter {
			t.Fatalf("video %s: %+v, never playable while processing (hold %v)", id, v, hold)
		}
		time.Sleep(50 * time.Millisecond)
		json.Unmarshal(getJSON(t, api+"/v1/videos/"+id, token), &v)
	}
	if v.Status != "processing" || !strings.HasPrefix(v.PlaybackURL, urls["edge"]+"/v/"+id+"/") {
		t.Fatalf("playable video %s: %+v", id, v)
	}
	base := v.PlaybackURL[:strings.LastIndex(v.PlaybackURL, "/")+1]
	heldPresentation(t, ctx, hold, nil, func(name string) []byte {
		if name == layout.Master {
			name = path.Base(v.PlaybackURL)
		}
		resp, err := http.Get(base + name)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil
		}
		return body
	})
	_, master := get(t, v.PlaybackURL)
	if n := strings.Count(string(master), layout.MediaPlaylist); n != 4 { // 720p, 540p, 360p and audio
		t.Fatalf("master.m3u8 names %d media playlists:\n%s", n, master)
	}

	signals := make(chan string, 1)
	page := b.pageServer(t, eventPage, nil, signals)
	r := b.playHeld(t, ctx, hold, signals, page.URL+"/?src="+url.QueryEscape(v.PlaybackURL), func() {
		var now status
		if json.Unmarshal(getJSON(t, api+"/v1/videos/"+id, token), &now); now.Status != "processing" {
			t.Fatalf("video %s while its transcode is held: %+v, want processing", id, now)
		}
	})
	r.check(t, "the growing video through the edge")
}

// startUpWithCreator runs reelay up on loopback ports and creates a creator; it returns the
// listeners' URLs and the creator's token.
func startUpWithCreator(t *testing.T) (urls map[string]string, token string) {
	t.Helper()
	return startUpWithCreatorHooked(t, nil)
}

// startUpWithCreatorHooked is startUpWithCreator whose transcodes call afterSample.
func startUpWithCreatorHooked(t *testing.T, afterSample pipeline.SampleHook) (urls map[string]string, token string) {
	t.Helper()
	urls, _ = startCmdHooked(t, env{afterSample: afterSample}, "up", "origin", "--data", t.TempDir(), "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0")
	return urls, createCreator(t, urls["api"])
}
