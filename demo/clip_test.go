package demo

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/reelay/reelay/transcoder"
)

// TestGenerate: each kind of clip the catalogue makes comes out as an MP4 that the pipeline's
// probe takes, of the size and about the duration asked, with sound.
func TestGenerate(t *testing.T) {
	for i, s := range Clips(len(looks)) {
		t.Run(s.Look, func(t *testing.T) {
			c := s.Clip
			c.Seconds = 1 // the look, not the length, is under test
			path := filepath.Join(t.TempDir(), "clip.mp4")
			if err := Generate(context.Background(), c, path); err != nil {
				t.Fatalf("clip %d: %v", i, err)
			}
			info, err := transcoder.Probe(context.Background(), transcoder.Input{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			if info.Width != c.Width || info.Height != c.Height || !info.HasAudio || info.VideoCodec != "h264" {
				t.Errorf("probed %+v, want %dx%d h264 with audio", info, c.Width, c.Height)
			}
			if d := info.Duration; d < 900*time.Millisecond || d > 1100*time.Millisecond {
				t.Errorf("duration %v, want about 1s", d)
			}
		})
	}
}
