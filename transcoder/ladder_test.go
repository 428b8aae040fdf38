package transcoder

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

var parseLadderTests = []struct {
	in   string
	want []Rung // nil: an error
}{
	{"720p:2500k,360p:600k", []Rung{{"720p", 720, 2_500_000}, {"360p", 360, 600_000}}},
	{"360p:600k, 720p:2500k", []Rung{{"720p", 720, 2_500_000}, {"360p", 360, 600_000}}}, // sorted
	{"1080p:4.5M", []Rung{{"1080p", 1080, 4_500_000}}},
	{"540p:1200000", []Rung{{"540p", 540, 1_200_000}}},
	{" 480p : 1000K ", []Rung{{"480p", 480, 1_000_000}}},
	{"", nil},
	{",", nil},
	{"720p", nil},
	{"720:2500k", nil},
	{"720p:", nil},
	{"720p:fast", nil},
	{"721p:2500k", nil}, // odd
	{"8p:100k", nil},    // too small
	{"9000p:100M", nil}, // too large
	{"720p:1k", nil},    // bitrate too low
	{"720p:1e6", nil},
	{"720p:-1M", nil},
	{"720p:NaNk", nil},
	{"720p:2500k,720p:3000k", nil}, // duplicate
	{"p:2500k", nil},
	{"-720p:2500k", nil},
}

func TestParseLadder(t *testing.T) {
	for _, tc := range parseLadderTests {
		got, err := ParseLadder(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("ParseLadder(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseLadder(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseLadder(f *testing.F) {
	for _, tc := range parseLadderTests {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rungs, err := ParseLadder(s)
		if err != nil {
			return
		}
		if len(rungs) == 0 {
			t.Fatal("no rungs and no error")
		}
		for i, r := range rungs {
			if err := r.validate(); err != nil {
				t.Fatalf("ParseLadder(%q) returned an invalid rung: %v", s, err)
			}
			if i > 0 && r.ShortSide >= rungs[i-1].ShortSide {
				t.Fatalf("ParseLadder(%q) = %v: not sorted highest first", s, rungs)
			}
		}
		if _, err := New(Config{Ladder: rungs}); err != nil {
			t.Fatalf("New refused a parsed ladder %v: %v", rungs, err)
		}
	})
}

func TestSelectRungs(t *testing.T) {
	type size struct {
		name string
		w, h int
	}
	for _, tc := range []struct {
		w, h int
		want []size
	}{
		{1080, 1920, []size{{"1080p", 1080, 1920}, {"720p", 720, 1280}, {"540p", 540, 960}, {"360p", 360, 640}}},
		// Landscape: the same rungs, by the short side.
		{1920, 1080, []size{{"1080p", 1920, 1080}, {"720p", 1280, 720}, {"540p", 960, 540}, {"360p", 640, 360}}},
		// 4K: never above the top rung.
		{2160, 3840, []size{{"1080p", 1080, 1920}, {"720p", 720, 1280}, {"540p", 540, 960}, {"360p", 360, 640}}},
		// No upscaling: 1080p needs a short side of 1080.
		{1078, 1916, []size{{"720p", 720, 1280}, {"540p", 540, 960}, {"360p", 360, 640}}},
		{720, 1280, []size{{"720p", 720, 1280}, {"540p", 540, 960}, {"360p", 360, 640}}},
		{640, 480, []size{{"360p", 480, 360}}},
		{480, 480, []size{{"360p", 360, 360}}},
		// 3:4 portrait: the long side in proportion, even.
		{600, 800, []size{{"540p", 540, 720}, {"360p", 360, 480}}},
		// Smaller than every rung: the source size, rounded down to even.
		{180, 320, []size{{"180p", 180, 320}}},
		{145, 257, []size{{"144p", 144, 256}}},
		{320, 181, []size{{"180p", 318, 180}}},
	} {
		var got []size
		for _, tg := range selectRungs(DefaultLadder(), tc.w, tc.h, 0) {
			got = append(got, size{tg.Name, tg.Width, tg.Height})
			if tg.Width%2 != 0 || tg.Height%2 != 0 || tg.Width > max(tc.w, 2) || tg.Height > max(tc.h, 2) || tg.Bitrate <= 0 {
				t.Errorf("%dx%d: bad target %+v", tc.w, tc.h, tg)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("selectRungs(%dx%d) = %v, want %v", tc.w, tc.h, got, tc.want)
		}
	}
}

// TestSelectRungsCapsBitrate: no rung gets more bits than the source's video carries, and an
// unknown source rate caps nothing.
func TestSelectRungsCapsBitrate(t *testing.T) {
	for _, tc := range []struct {
		src  int64
		want []int
	}{
		{0, []int{2_500_000, 1_200_000, 600_000}},
		{10_000_000, []int{2_500_000, 1_200_000, 600_000}},
		{2_500_000, []int{2_500_000, 1_200_000, 600_000}},
		{2_499_999, []int{2_499_999, 1_200_000, 600_000}},
		{1_000_000, []int{1_000_000, 1_000_000, 600_000}},
		{300_000, []int{300_000, 300_000, 300_000}},
		{1_000, []int{minBitrate, minBitrate, minBitrate}}, // never below what New accepts
	} {
		var got []int
		for _, tg := range selectRungs(DefaultLadder(), 720, 1280, tc.src) {
			got = append(got, tg.Bitrate)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("source at %d b/s: bitrates %v, want %v", tc.src, got, tc.want)
		}
	}
	// The rung at the source's own size too.
	if tg := selectRungs(DefaultLadder(), 180, 320, 100_000); len(tg) != 1 || tg[0].Bitrate != 100_000 {
		t.Errorf("180x320 at 100 kb/s: %+v", tg)
	}
}

func TestNew(t *testing.T) {
	tr, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := tr.Config()
	if !reflect.DeepEqual(cfg.Ladder, DefaultLadder()) || cfg.SegmentDuration != DefaultSegmentDuration || cfg.Preset != "reelay" ||
		cfg.MaxDuration != DefaultMaxDuration || cfg.MaxWidth != 4096 || cfg.MaxHeight != 4096 || cfg.MaxFrameRate != 60 ||
		cfg.AudioBitrate != 128_000 || cfg.Threads <= 0 || cfg.Logger == nil {
		t.Errorf("defaults: %+v", cfg)
	}
	for _, bad := range []Config{
		{Preset: "warp"},
		{SegmentDuration: time.Millisecond},
		{MaxFrameRate: 1000},
		{AudioBitrate: 1},
		{Ladder: []Rung{{"a", 720, 1_000_000}, {"a", 360, 500_000}}},
		{Ladder: []Rung{{"../x", 720, 1_000_000}}},
		{Ladder: []Rung{{"720p", 719, 1_000_000}}},
		{Threads: -1},
	} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v) succeeded", bad)
		}
	}
}

func TestParameterSets(t *testing.T) {
	sps := []byte{0x67, 0x64, 0x00, 0x1f, 0xac}
	pps := []byte{0x68, 0xee, 0x3c, 0x80}
	sei := []byte{0x06, 0x05, 0x01}
	stream := bytes.Join([][]byte{{}, sps, pps, sei}, []byte{0, 0, 0, 1})
	gotSPS, gotPPS := parameterSets(stream)
	if !bytes.Equal(gotSPS, sps) || !bytes.Equal(gotPPS, pps) {
		t.Errorf("parameterSets = %x, %x", gotSPS, gotPPS)
	}
	if n := splitAnnexB(append([]byte{0, 0, 1}, append(sps, 0, 0, 1, 0x65, 0x88)...)); len(n) != 2 || !bytes.Equal(n[0], sps) {
		t.Errorf("splitAnnexB with 3-byte start codes = %x", n)
	}
	if s, p := parameterSets([]byte{1, 2, 3}); s != nil || p != nil {
		t.Errorf("parameterSets(junk) = %x, %x", s, p)
	}
}
