package transcoder

import (
	"strconv"
	"strings"
	"testing"

	"github.com/asticode/go-astiav"
)

// TestVideoChain checks which rungs the video chain scales, and from what: the pixel format is
// converted once, a rung of the picture's own size with square pixels is not scaled, and each
// other rung scales the pictures of the rung above it.
func TestVideoChain(t *testing.T) {
	square, narrow := astiav.NewRational(1, 1), astiav.NewRational(3, 4)
	for _, tc := range []struct {
		name     string
		w, h     int
		sar      astiav.Rational
		rotation int
		dw, dh   int      // display size, after rotation and aspect ratio
		want     []string // per rung, largest first: "as is", or "WxH from WxH": scaled, from what size
	}{
		{"portrait 1080p", 1080, 1920, square, 0, 1080, 1920, []string{"as is", "720x1280 from 1080x1920", "540x960 from 720x1280", "360x640 from 540x960"}},
		{"landscape rotated to portrait", 1920, 1080, square, 90, 1080, 1920, []string{"as is", "720x1280 from 1080x1920", "540x960 from 720x1280", "360x640 from 540x960"}},
		{"upside down", 1080, 1920, square, 180, 1080, 1920, []string{"as is", "720x1280 from 1080x1920", "540x960 from 720x1280", "360x640 from 540x960"}},
		{"portrait 900p", 900, 1600, square, 0, 900, 1600, []string{"720x1280 from 900x1600", "540x960 from 720x1280", "360x640 from 540x960"}},
		{"anamorphic", 1440, 1920, narrow, 0, 1080, 1920, []string{"1080x1920 from 1440x1920", "720x1280 from 1080x1920", "540x960 from 720x1280", "360x640 from 540x960"}},
		{"one rung", 360, 640, square, 0, 360, 640, []string{"as is"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := graphSpec{
				video: videoParams{width: tc.w, height: tc.h, sar: tc.sar}, rotation: tc.rotation, rate: Rate{30, 1},
				targets: selectRungs(DefaultLadder(), tc.dw, tc.dh, 0), scaleFlag: "bicubic",
			}
			desc := s.videoChain()
			if n := strings.Count(desc, "format=pix_fmts=yuv420p"); n != 1 {
				t.Errorf("%d pixel format conversions in %s, want 1", n, desc)
			}
			// Follow each link label's picture size through the chain's segments.
			sw, sh := tc.w, tc.h
			if tc.rotation%180 != 0 {
				sw, sh = sh, sw
			}
			sizes := map[string]string{"vin": strconv.Itoa(sw) + "x" + strconv.Itoa(sh)}
			got := make([]string, len(s.targets))
			for _, seg := range strings.Split(desc, ";") {
				in, rest, _ := strings.Cut(strings.TrimPrefix(seg, "["), "]")
				size, ok := sizes[in]
				if !ok {
					t.Fatalf("segment %q reads %q, which nothing writes", seg, in)
				}
				scaled := false
				if _, after, ok := strings.Cut(rest, "scale=w="); ok {
					w, r, _ := strings.Cut(after, ":h=")
					h, _, _ := strings.Cut(r, ":")
					scaled, size = true, w+"x"+h
				}
				outs := rest[strings.LastIndex(rest, "=")+1:]
				for _, l := range strings.Split(outs, "[")[1:] {
					l = strings.TrimSuffix(l, "]")
					sizes[l] = size
					if n, ok := strings.CutPrefix(l, "v"); ok {
						i, _ := strconv.Atoi(n)
						got[i] = "as is"
						if scaled {
							got[i] = size + " from " + sizes[in]
						}
					}
				}
			}
			if strings.Join(got, ", ") != strings.Join(tc.want, ", ") {
				t.Errorf("rungs: %q\nwant %q\nchain %s", got, tc.want, desc)
			}
		})
	}
}
