package demo

import (
	"context"
	"path/filepath"
	"strings"
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

// TestClips: the default catalogue has a caption of its own for every clip, each with
// hashtags, every creator a demo user, every clip 9:16.
func TestClips(t *testing.T) {
	users := map[string]bool{}
	for _, u := range Users() {
		users[u.Handle] = true
		for _, f := range u.Follows {
			if f == u.Handle {
				t.Errorf("%s follows themself", u.Handle)
			}
		}
	}
	captions := map[string]bool{}
	for i, s := range Clips(DefaultClips) {
		switch {
		case captions[s.Caption]:
			t.Errorf("clip %d: caption %q again", i, s.Caption)
		case !strings.Contains(s.Caption, "#"):
			t.Errorf("clip %d: caption %q has no hashtag", i, s.Caption)
		case !users[s.Creator]:
			t.Errorf("clip %d: creator %q is no demo user", i, s.Creator)
		case s.Clip.Width*16 != s.Clip.Height*9:
			t.Errorf("clip %d: %dx%d is not 9:16", i, s.Clip.Width, s.Clip.Height)
		}
		captions[s.Caption] = true
	}
}
