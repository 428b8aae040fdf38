package transcoder

import (
	"bytes"
	"context"
	"encoding/json"
	"image/jpeg"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/reelay/reelay/packager"
	"github.com/reelay/reelay/storage"
)

// TestEndToEnd transcodes a clip into the real packager over the real file store and checks the
// presentation as a player would: the playlists parse, every segment starts with a keyframe and
// has the expected length, and FFmpeg plays master.m3u8 through without an error.
func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	store, err := storage.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "videos/v1/"
	p, err := packager.New(packager.Config{Store: store, Prefix: prefix, SegmentDuration: DefaultSegmentDuration})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Run(ctx, Input{Path: clip(t, "medium.mp4")}, PackagerSink(p), nil)
	if err != nil {
		t.Fatal(err)
	}
	pres, err := p.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pres.Renditions) != len(res.Renditions)+1 {
		t.Errorf("packager result %+v for %d video renditions and audio", pres, len(res.Renditions))
	}
	dir := filepath.Join(root, "objects", prefix)

	raw, err := os.ReadFile(filepath.Join(dir, packager.MasterName))
	if err != nil {
		t.Fatal(err)
	}
	pl, err := playlist.Unmarshal(raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	mv, ok := pl.(*playlist.Multivariant)
	if !ok || !mv.IndependentSegments || len(mv.Variants) != 3 || len(mv.Renditions) != 1 {
		t.Fatalf("multivariant playlist:\n%s", raw)
	}
	want := map[string]string{"720p": "720x1280", "540p": "540x960", "360p": "360x640"}
	for _, v := range mv.Variants {
		name := path.Dir(v.URI)
		if v.Resolution != want[name] || len(v.Codecs) != 2 || !strings.HasPrefix(v.Codecs[0], "avc1.64") ||
			v.Codecs[1] != "mp4a.40.2" || v.FrameRate == nil || *v.FrameRate != 30 || v.Bandwidth <= 0 {
			t.Errorf("variant %s: %+v", name, v)
		}
		checkSegments(t, dir, name, true)
	}
	checkSegments(t, dir, "audio", false)

	poster, err := os.ReadFile(filepath.Join(dir, packager.PosterName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jpeg.DecodeConfig(bytes.NewReader(poster)); err != nil {
		t.Errorf("poster: %v", err)
	}

	// A player's view: FFmpeg reads the whole presentation without a single error.
	stderr := ffmpegErrors(t, filepath.Join(dir, packager.MasterName))
	if stderr != "" {
		t.Errorf("ffmpeg playing master.m3u8:\n%s", stderr)
	}
}

// checkSegments parses a media playlist and probes each segment (behind its init segment):
// video segments must start with a keyframe, and all but the last must last the segment duration.
func checkSegments(t *testing.T, dir, name string, video bool) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, name, packager.MediaPlaylistName))
	if err != nil {
		t.Fatal(err)
	}
	pl, err := playlist.Unmarshal(raw)
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, raw)
	}
	media, ok := pl.(*playlist.Media)
	if !ok || media.Map == nil || len(media.Segments) != 2 || media.Endlist != true {
		t.Fatalf("%s media playlist:\n%s", name, raw)
	}
	init, err := os.ReadFile(filepath.Join(dir, name, media.Map.URI))
	if err != nil {
		t.Fatal(err)
	}
	for i, seg := range media.Segments {
		b, err := os.ReadFile(filepath.Join(dir, name, seg.URI))
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "seg.mp4")
		writeFile(t, file, append(slices.Clone(init), b...))
		var probe struct {
			Frames []struct {
				KeyFrame int    `json:"key_frame"`
				PTSTime  string `json:"pts_time"`
			} `json:"frames"`
			Format struct {
				Duration string `json:"duration"`
			} `json:"format"`
		}
		out := ffprobe(t, "-show_frames", "-show_entries", "frame=key_frame,pts_time:format=duration", "-of", "json", file)
		if err := json.Unmarshal(out, &probe); err != nil || len(probe.Frames) == 0 {
			t.Fatalf("%s %s: ffprobe %s, %v", name, seg.URI, out, err)
		}
		if video && probe.Frames[0].KeyFrame != 1 {
			t.Errorf("%s %s does not start with a keyframe", name, seg.URI)
		}
		d, _ := strconv.ParseFloat(probe.Format.Duration, 64)
		if i < len(media.Segments)-1 && (d < 1.95 || d > 2.05) {
			t.Errorf("%s %s lasts %v s, EXTINF %v", name, seg.URI, d, seg.Duration)
		}
	}
}

// ffmpegErrors plays a playlist with FFmpeg and returns what it reports at level error.
func ffmpegErrors(t *testing.T, playlist string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", playlist, "-map", "0", "-f", "null", "-")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(stderr.String())
}
