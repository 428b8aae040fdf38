package transcoder

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/reelay/reelay/internal/layout"
)

func TestFitSize(t *testing.T) {
	square := astiav.NewRational(1, 1)
	for _, tc := range []struct {
		name          string
		from, to      shape
		width, height int
	}{
		{"same aspect, smaller", shape{width: 480, height: 270, sar: square}, shape{width: 960, height: 540, sar: square}, 960, 540},
		{"4:3 into 16:9: pillarbox", shape{width: 480, height: 360, sar: square}, shape{width: 960, height: 540, sar: square}, 720, 540},
		{"16:9 into 4:3: letterbox", shape{width: 1280, height: 720, sar: square}, shape{width: 320, height: 240, sar: square}, 320, 180},
		{"portrait into landscape", shape{width: 360, height: 640, sar: square}, shape{width: 640, height: 360, sar: square}, 202, 360},
		{"odd target side kept whole, the other even", shape{width: 100, height: 100, sar: square}, shape{width: 321, height: 241, sar: square}, 242, 241},
		// Anamorphic 720x576 at 16:15 (4:3 displayed) into 720x576 at 64:45 (16:9 displayed):
		// 4:3 in 16:9 is three quarters of the width.
		{"anamorphic", shape{width: 720, height: 576, sar: astiav.NewRational(16, 15)}, shape{width: 720, height: 576, sar: astiav.NewRational(64, 45)}, 540, 576},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if w, h := fitSize(tc.from, tc.to); w != tc.width || h != tc.height {
				t.Errorf("fitSize(%s, %s) = %dx%d, want %dx%d", tc.from, tc.to, w, h, tc.width, tc.height)
			}
		})
	}
}

// TestEndToEndSizeChange: a stream of clips joined end to end at two sizes within the limits,
// 960x540 then 480x360 (4:3) then 960x540 again, transcodes into every rung at the rung's size,
// and plays through. The 4:3 part is pillarboxed, its aspect kept, rather than stretched.
func TestEndToEndSizeChange(t *testing.T) {
	src := clip(t, "joined.ts")
	if got, want := frameSizes(t, src), []string{"960x540", "480x360", "960x540"}; !slices.Equal(got, want) {
		t.Fatalf("joined.ts has pictures of %v, want %v", got, want)
	}
	const seg = time.Second
	dir := transcodeToHLS(t, src, seg)
	p := checkPlaylists(t, dir, map[string]string{"540p": "960x540", "360p": "640x360"}, 30, false)
	checkTimeline(t, p, seg.Seconds(), 1.0/30, sourceDuration(t, src))
	if stderr := ffmpegErrors(t, filepath.Join(dir, layout.Master)); stderr != "" {
		t.Errorf("ffmpeg playing master.m3u8:\n%s", stderr)
	}

	// In the 640x360 rung, the 4:3 part is 480x360 with bars of 80 columns on either side; the
	// 16:9 parts fill the picture. Look at the middle frame of each part.
	const size = 640 * 360
	gray := ffmpeg(t, "-i", filepath.Join(dir, "360p", layout.MediaPlaylist), "-f", "rawvideo", "-pix_fmt", "gray", "-")
	if len(gray) != 90*size {
		t.Fatalf("the 360p rendition decodes to %d bytes, want 90 frames of 640x360", len(gray))
	}
	for _, tc := range []struct {
		frame int
		bars  bool
	}{{15, false}, {45, true}, {75, false}} {
		pic := gray[tc.frame*size : (tc.frame+1)*size]
		left, right, middle := meanLuma(pic, 640, 0, 76), meanLuma(pic, 640, 564, 640), meanLuma(pic, 640, 84, 556)
		if black := left < 24 && right < 24; black != tc.bars || middle < 40 {
			t.Errorf("frame %d: mean luma %.0f left, %.0f right, %.0f between; want bars %v", tc.frame, left, right, middle, tc.bars)
		}
	}
}

// meanLuma returns the mean of columns [x0, x1) of a gray picture w pixels wide.
func meanLuma(gray []byte, w, x0, x1 int) float64 {
	var sum, n float64
	for row := 0; row+w <= len(gray); row += w {
		for _, v := range gray[row+x0 : row+x1] {
			sum += float64(v)
			n++
		}
	}
	return sum / n
}
