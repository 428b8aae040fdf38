package main

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// TestChromiumStartsAudioOnTime: Chromium's reading of the audio rendition's edit list. The
// encoder's priming frame, kept in the first segment before the presentation starts, is not
// buffered: the first segment's audio ends at its EXTINF (the presented length), not one AAC
// frame (21 ms) later, so the source's first sample plays at 0 with the first picture. hls.js
// appends the segments as they are, so this is what a player on hls.js hears.
func TestChromiumStartsAudioOnTime(t *testing.T) {
	waitingTest(t)
	b := newBrowser(t)
	clip := makeTestClip(t, "180x320", "3")
	out := filepath.Join(t.TempDir(), "hls")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "transcode", "--in", clip, "--out", out, "--ladder", "180p:200k")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reelay transcode: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(filepath.Join(out, "audio", "index.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	pl, err := playlist.Unmarshal(raw)
	media, ok := pl.(*playlist.Media)
	if err != nil || !ok || len(media.Segments) == 0 {
		t.Fatalf("audio playlist: %v\n%s", err, raw)
	}
	extinf := media.Segments[0].Duration.Seconds()
	// What the first segment holds: its AAC frames' total length, priming frame included.
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(readFileT(t, filepath.Join(out, "audio", "init.mp4")))); err != nil || len(init.Tracks) != 1 {
		t.Fatalf("audio init segment: %v", err)
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(readFileT(t, filepath.Join(out, "audio", media.Segments[0].URI))); err != nil || len(parts) != 1 {
		t.Fatalf("first audio segment: %v", err)
	}
	var ticks uint64
	for _, s := range parts[0].Tracks[0].Samples {
		ticks += uint64(s.Duration)
	}
	scale := float64(init.Tracks[0].TimeScale)
	held, priming := float64(ticks)/scale, 1024/scale

	page := b.pageServer(t, msePage, http.FileServer(http.Dir(filepath.Join(out, "audio"))), nil)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var r struct {
		Start, End float64
		Error      string
	}
	b.play(t, ctx, page.URL+"/?seg="+media.Segments[0].URI, &r)
	t.Logf("Chromium buffers the first audio segment from %.4f s to %.4f s; it holds %.4f s of frames, its EXTINF is %.5f s",
		r.Start, r.End, held, extinf)
	if r.Error != "" || math.Abs(r.Start) > 0.002 || math.Abs(r.End-(held-priming)) > 0.002 || math.Abs(r.End-extinf) > 0.002 {
		t.Errorf("Chromium buffered %+v, want 0 to %.4f s: the segment's %.4f s less the priming frame, as its EXTINF %.5f s says",
			r, held-priming, held, extinf)
	}
}

// msePage appends the audio rendition's init segment and the segment named by ?seg= to a Media
// Source Extensions buffer, as hls.js does, and reports the range Chromium buffered.
const msePage = `<!doctype html>
<script>
(async () => {
  const ms = new MediaSource();
  const a = document.createElement('audio');
  a.src = URL.createObjectURL(ms);
  await new Promise((r) => ms.addEventListener('sourceopen', r, {once: true}));
  const sb = ms.addSourceBuffer('audio/mp4; codecs="mp4a.40.2"');
  for (const f of ['init.mp4', new URLSearchParams(location.search).get('seg')]) {
    const resp = await fetch('/files/' + f);
    if (!resp.ok) throw new Error(f + ': ' + resp.status);
    sb.appendBuffer(await resp.arrayBuffer());
    await new Promise((r) => sb.addEventListener('updateend', r, {once: true}));
  }
  window.result = {start: sb.buffered.start(0), end: sb.buffered.end(0)};
})().catch((e) => { window.result = {error: String(e)}; });
</script>
`

func readFileT(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
