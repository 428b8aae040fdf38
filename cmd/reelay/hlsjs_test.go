package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/testenv"
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
	b := newBrowser(t)

	urls, token := startUpWithCreator(t)
	api := urls["api"]
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	clip := makeTestClip(t, "360x640", "3")
	public := uploadClip(t, ctx, api, token, "public", clip)
	private := uploadClip(t, ctx, api, token, "private", clip)

	page := b.pageServer(t, playerPage, nil)
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

// pageServer serves html at every path, hls.js at /hls.min.js, and files under /files/ from
// files (when not nil).
func (b *browser) pageServer(t *testing.T, html string, files http.Handler) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/hls.min.js":
			http.ServeFile(w, r, b.hlsJS)
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
	cmd := exec.CommandContext(ctx, b.node, filepath.Join(b.root, "e2e", "hls", "play.mjs"), pageURL)
	cmd.Env = append(os.Environ(), "CHROMIUM="+b.chromium)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("play.mjs %s: %v\n%s", pageURL, err, stderrOf(err))
	}
	if err := json.Unmarshal(out, result); err != nil {
		t.Fatalf("play.mjs printed %q: %v", out, err)
	}
}

// eventPage plays src with hls.js like playerPage, and reports once it has played 2 s past the
// end of the first media playlist it loaded: where playback started, and that playlist's type,
// liveness and duration.
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
v.addEventListener('playing', () => { if (startedAt < 0) startedAt = v.currentTime; });
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

// TestProgressivePlaysInChromium plays a tree that `reelay transcode --progressive` is still
// writing with hls.js in Chromium: it must start at the beginning of the EVENT presentation
// (EXT-X-START), not at its newest segment, and play on past the end of the playlist it first
// loaded, as the playlists grow.
func TestProgressivePlaysInChromium(t *testing.T) {
	b := newBrowser(t)
	clip := makeTestClip(t, "720x1280", "60")
	out := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "transcode", "--in", clip, "--out", out, "--progressive", "--log-level", "error")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Wait for 12 s of every rendition: a player that started at the live edge, as players do
	// with a live playlist that says nothing else, would start 6 s (3 target durations) in.
	grown := func() bool {
		playlists, _ := filepath.Glob(filepath.Join(out, "*", "index.m3u8"))
		for _, p := range playlists {
			if b, _ := os.ReadFile(p); strings.Count(string(b), "#EXTINF") < 6 {
				return false
			}
		}
		_, err := os.Stat(filepath.Join(out, "master.m3u8"))
		return err == nil && len(playlists) > 0
	}
	for !grown() {
		select {
		case err := <-done:
			t.Fatalf("transcode ended (%v) before the tree had grown to 12 s", err)
		case <-time.After(10 * time.Millisecond):
		}
	}

	page := b.pageServer(t, eventPage, http.FileServer(http.Dir(out)))
	var r eventResult
	b.play(t, ctx, page.URL+"/?src="+url.QueryEscape(page.URL+"/files/master.m3u8"), &r)
	r.check(t, "the growing tree")
	if err := <-done; err != nil {
		t.Fatalf("transcode: %v", err)
	}
}

// TestUpPlaysProgressivelyInChromium uploads a 60 s video to reelay up and plays it with hls.js
// in Chromium, through the edge, while the ingest worker is still transcoding it: the status API
// calls it playable early, and the player starts at the beginning and plays on past the end of
// the playlist it first loaded, which the edge refreshes as it grows (max-age=1).
func TestUpPlaysProgressivelyInChromium(t *testing.T) {
	b := newBrowser(t)
	urls, token := startUpWithCreator(t)
	api := urls["api"]
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	clip := makeTestClip(t, "720x1280", "60")
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"upload", clip, "--api", api, "--token", token, "--no-wait",
		"--state", filepath.Join(t.TempDir(), "state.json")}, &env{stdout: &stdout, stderr: &stderr, getenv: envOf(nil)}); code != 0 {
		t.Fatalf("reelay upload: exit %d\n%s", code, stderr.String())
	}
	id := strings.TrimSpace(stdout.String())
	id = id[strings.LastIndex(id, "\n")+1:]

	// Playable while processing; then wait for 12 s of every rendition (see
	// TestProgressivePlaysInChromium).
	var v struct {
		Status      string
		Playable    bool
		PlaybackURL string `json:"playback_url"`
	}
	for !v.Playable {
		if v.Status == "ready" || v.Status == "failed" || ctx.Err() != nil {
			t.Fatalf("video %s: %+v, never playable while processing", id, v)
		}
		time.Sleep(50 * time.Millisecond)
		json.Unmarshal(getJSON(t, api+"/v1/videos/"+id, token), &v)
	}
	if v.Status != "processing" || !strings.HasPrefix(v.PlaybackURL, urls["edge"]+"/v/"+id+"/") {
		t.Fatalf("playable video %s: %+v", id, v)
	}
	base := v.PlaybackURL[:strings.LastIndex(v.PlaybackURL, "/")+1]
	_, master := get(t, v.PlaybackURL)
	var playlists []string
	for _, uri := range playlistURIs(master) {
		if path.Base(uri) == layout.MediaPlaylist {
			playlists = append(playlists, uri)
		}
	}
	if len(playlists) != 4 { // 720p, 540p, 360p and audio
		t.Fatalf("master.m3u8 names %q", playlists)
	}
	for grown := false; !grown; {
		if ctx.Err() != nil {
			t.Fatal("the video's playlists never listed 12 s")
		}
		time.Sleep(100 * time.Millisecond)
		grown = true
		for _, uri := range playlists {
			resp, err := http.Get(base + uri)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			grown = grown && resp.StatusCode == 200 && strings.Count(string(body), "#EXTINF") >= 6
		}
	}

	page := b.pageServer(t, eventPage, nil)
	var r eventResult
	b.play(t, ctx, page.URL+"/?src="+url.QueryEscape(v.PlaybackURL), &r)
	r.check(t, "the growing video through the edge")
}

// startUpWithCreator runs reelay up on loopback ports and creates a creator; it returns the
// listeners' URLs and the creator's token.
func startUpWithCreator(t *testing.T) (urls map[string]string, token string) {
	t.Helper()
	urls, _ = startUp(t, "--data", t.TempDir(), "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0")
	return urls, createCreator(t, urls["api"])
}
