package packager

import (
	"fmt"
	"math"
	"path"
	"regexp"
	"strconv"
	"testing"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/reelay/reelay/storage"
)

// measured is a media playlist's segment bit rates in bit/s, recomputed by the tests.
type measured struct{ peak, average float64 }

// measureBitrates recomputes, apart from the packager's own code, the peak and average segment
// bit rates of the media playlist at key as RFC 8216bis §4.1 defines them, from the sizes of its
// segments as stored (or the lengths of their byte ranges, for an I-frame playlist) and their
// EXTINF durations. The average is the total size over the total duration. The peak is the
// largest bit rate of any run of consecutive segments whose duration is within 0.5 to 1.5 times
// EXT-X-TARGETDURATION, both ends included; it is never below the average.
func measureBitrates(t testing.TB, s storage.Store, key string) measured {
	t.Helper()
	pl, err := playlist.Unmarshal(get(t, s, key))
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	m, ok := pl.(*playlist.Media)
	if !ok || len(m.Segments) == 0 {
		t.Fatalf("%s is not a media playlist with segments", key)
	}
	// Cumulative bits and seconds before each segment, so a run i..j-1 is a difference.
	bits, secs := []float64{0}, []float64{0}
	for _, seg := range m.Segments {
		size := float64(len(get(t, s, path.Join(path.Dir(key), seg.URI))))
		if seg.ByteRangeLength != nil {
			size = float64(*seg.ByteRangeLength)
		}
		bits = append(bits, bits[len(bits)-1]+size*8)
		secs = append(secs, secs[len(secs)-1]+seg.Duration.Seconds())
	}
	n := len(m.Segments)
	out := measured{average: bits[n] / secs[n]}
	lo, hi := 0.5*float64(m.TargetDuration), 1.5*float64(m.TargetDuration)
	for i := 0; i < n; i++ {
		for j := i + 1; j <= n; j++ {
			if d := secs[j] - secs[i]; d >= lo && d <= hi {
				out.peak = math.Max(out.peak, (bits[j]-bits[i])/d)
			}
		}
	}
	out.peak = math.Max(out.peak, out.average)
	return out
}

// near reports whether an advertised bit rate is the recomputed one: the packager rounds each of
// its figures up, and EXTINF durations are rounded to 10 µs, so they may differ by a few bit/s.
func near(advertised int, recomputed float64) bool {
	return math.Abs(float64(advertised)-recomputed) <= 2+recomputed*1e-5
}

// checkBandwidth checks every bit rate that master.m3u8 (whose text is raw) advertises against
// the ones recomputed from the media playlists it lists: a variant's BANDWIDTH is its video's
// peak plus the audio's peak, its AVERAGE-BANDWIDTH its video's average plus the audio's average,
// and an I-frame stream's are its I-frame playlist's own. It returns what it measured by playlist
// URI, for further checks.
func checkBandwidth(t testing.TB, s storage.Store, prefix string, mv *playlist.Multivariant, raw []byte) map[string]measured {
	t.Helper()
	got := map[string]measured{}
	var audio measured
	for _, r := range mv.Renditions {
		if r.Type == playlist.MultivariantRenditionTypeAudio && r.URI != nil {
			audio = measureBitrates(t, s, prefix+*r.URI)
			got[*r.URI] = audio
		}
	}
	for _, v := range mv.Variants {
		video := measureBitrates(t, s, prefix+v.URI)
		got[v.URI] = video
		if want := video.peak + audio.peak; !near(v.Bandwidth, want) {
			t.Errorf("%s: BANDWIDTH %d, recomputed %.0f (video peak %.0f + audio peak %.0f)",
				v.URI, v.Bandwidth, want, video.peak, audio.peak)
		}
		if v.AverageBandwidth == nil {
			t.Errorf("%s: no AVERAGE-BANDWIDTH", v.URI)
		} else if want := video.average + audio.average; !near(*v.AverageBandwidth, want) {
			t.Errorf("%s: AVERAGE-BANDWIDTH %d, recomputed %.0f (video %.0f + audio %.0f)",
				v.URI, *v.AverageBandwidth, want, video.average, audio.average)
		}
	}
	iframeStream := regexp.MustCompile(`(?m)^#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=(\d+),AVERAGE-BANDWIDTH=(\d+),.*URI="([^"]+)"$`)
	matches := iframeStream.FindAllSubmatch(raw, -1)
	if len(matches) != len(mv.Variants) {
		t.Errorf("%d I-frame streams for %d variants", len(matches), len(mv.Variants))
	}
	for _, m := range matches {
		uri := string(m[3])
		peak, _ := strconv.Atoi(string(m[1]))
		average, _ := strconv.Atoi(string(m[2]))
		want := measureBitrates(t, s, prefix+uri)
		got[uri] = want
		if !near(peak, want.peak) || !near(average, want.average) {
			t.Errorf("%s: BANDWIDTH %d AVERAGE-BANDWIDTH %d, recomputed %.0f %.0f", uri, peak, average, want.peak, want.average)
		}
	}
	return got
}

// String is for test logs.
func (m measured) String() string { return fmt.Sprintf("peak %.0f average %.0f", m.peak, m.average) }
