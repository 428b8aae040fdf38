package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Require(t, "node is not installed: %v", err)
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		testenv.Require(t, "chromium is not installed: %v", err)
	}
	root, _ := filepath.Abs("../..")
	hlsJS := filepath.Join(root, "node_modules", "hls.js", "dist", "hls.min.js")
	for _, p := range []string{hlsJS, filepath.Join(root, "node_modules", "playwright-core")} {
		if _, err := os.Stat(p); err != nil {
			testenv.Require(t, "%s is not installed (npm ci): %v", p, err)
		}
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		testenv.Require(t, "ffmpeg is not installed: %v", err)
	}

	urls, _ := startUp(t, "--data", t.TempDir(), "--api-addr", "127.0.0.1:0", "--origin-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0")
	api := urls["api"]
	token := createCreator(t, api)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	clip := makeTestClip(t, "360x640", "3")
	public := uploadClip(t, ctx, api, token, "public", clip)
	private := uploadClip(t, ctx, api, token, "private", clip)

	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hls.min.js" {
			http.ServeFile(w, r, hlsJS)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(playerPage))
	}))
	defer page.Close()
	play := func(src string) playResult {
		t.Helper()
		cmd := exec.CommandContext(ctx, node, filepath.Join(root, "e2e", "hls", "play.mjs"), page.URL+"/?src="+url.QueryEscape(src))
		cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("play.mjs %s: %v\n%s", src, err, stderrOf(err))
		}
		var r playResult
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("play.mjs printed %q: %v", out, err)
		}
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
