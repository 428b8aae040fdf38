package transcoder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
)

func TestProbe(t *testing.T) {
	for _, tc := range []struct {
		clip          string
		width, height int
		rate          Rate
		audio         bool
		duration      time.Duration
	}{
		{"portrait.mp4", 1080, 1920, Rate{30, 1}, true, 4 * time.Second},
		{"vga_noaudio.mp4", 640, 480, Rate{30, 1}, false, 2 * time.Second},
		{"ntsc60.mp4", 180, 320, Rate{60000, 1001}, false, 2 * time.Second},
		{"landscape_rot90.mp4", 1080, 1920, Rate{30, 1}, true, time.Second},
		{"small_faststart.mp4", 360, 640, Rate{30, 1}, true, 3 * time.Second},
	} {
		t.Run(tc.clip, func(t *testing.T) {
			path := clip(t, tc.clip)
			info, err := Probe(context.Background(), Input{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			if info.Width != tc.width || info.Height != tc.height || info.FrameRate != tc.rate || info.HasAudio != tc.audio ||
				info.VideoCodec != "h264" || info.PixelFormat != "yuv420p" || !strings.Contains(info.Format, "mp4") {
				t.Errorf("Probe = %+v, want %dx%d at %v, audio %v", info, tc.width, tc.height, tc.rate, tc.audio)
			}
			if d := info.Duration - tc.duration; d < -50*time.Millisecond || d > 50*time.Millisecond {
				t.Errorf("duration %v, want %v", info.Duration, tc.duration)
			}
			if tc.audio && (info.AudioCodec != "aac" || info.SampleRate == 0 || info.Channels == 0) {
				t.Errorf("audio: %+v", info)
			}
			if want := ffprobeRotation(t, path); info.Rotation != want {
				t.Errorf("rotation %d, want %d as FFmpeg applies it", info.Rotation, want)
			}
		})
	}
}

// ffprobeRotation returns the clockwise rotation FFmpeg applies to a clip for display:
// the negated counter-clockwise angle of its display matrix, as ffmpeg's autorotate computes it.
func ffprobeRotation(t *testing.T, path string) int {
	t.Helper()
	out := strings.TrimSpace(string(ffprobe(t, "-select_streams", "v:0", "-show_entries", "stream_side_data=rotation", "-of", "csv=p=0", path)))
	if out == "" {
		return 0
	}
	ccw, err := strconv.Atoi(strings.Split(out, ",")[0])
	if err != nil {
		t.Fatalf("ffprobe rotation %q: %v", out, err)
	}
	return ((-ccw)%360 + 360) % 360
}

func TestProbeRejects(t *testing.T) {
	empty := t.TempDir() + "/empty.mp4"
	writeFile(t, empty, nil)
	for _, tc := range []struct {
		name string
		path string
		cfg  Config
		want Reason
	}{
		{"text file named .mp4", clip(t, "text.mp4"), Config{}, ReasonNotVideo},
		{"empty file", empty, Config{}, ReasonNotVideo},
		{"audio only", clip(t, "tone.m4a"), Config{}, ReasonNoVideoStream},
		// With the moov box at the end, the first half holds no index: nothing can be read.
		{"truncated, moov at end", clip(t, "truncated.mp4"), Config{}, ReasonUndecodable},
		{"too long", clip(t, "small.mp4"), Config{MaxDuration: 2 * time.Second}, ReasonTooLong},
		{"too wide", clip(t, "vga_noaudio.mp4"), Config{MaxWidth: 320}, ReasonTooLarge},
		{"too high", clip(t, "small.mp4"), Config{MaxHeight: 320}, ReasonTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tr.Probe(context.Background(), Input{Path: tc.path})
			var rej *RejectError
			if !errors.As(err, &rej) || rej.Reason != tc.want {
				t.Fatalf("Probe error = %v, want RejectError %s", err, tc.want)
			}
			// Run refuses the same way, before it touches the sink.
			var sink fakeSink
			_, err = tr.Run(context.Background(), Input{Path: tc.path}, &sink, nil)
			if !errors.As(err, &rej) || rej.Reason != tc.want {
				t.Fatalf("Run error = %v, want RejectError %s", err, tc.want)
			}
			if len(sink.videos) != 0 || sink.audio != nil {
				t.Errorf("Run added renditions for a refused input")
			}
		})
	}
}

func TestCheckZeroDuration(t *testing.T) {
	tr, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var rej *RejectError
	if err := tr.check(Info{Width: 100, Height: 100}); !errors.As(err, &rej) || rej.Reason != ReasonZeroDuration {
		t.Errorf("check(no duration) = %v, want zero_duration", err)
	}
	if err := tr.check(Info{Width: 4096, Height: 4096, Duration: 10 * time.Minute}); err != nil {
		t.Errorf("check(at the limits) = %v", err)
	}
}

func TestProbeReader(t *testing.T) {
	// The default MP4 has its moov box at the end: the reader must seek.
	b, err := os.ReadFile(clip(t, "small.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b[len(b)/2:], []byte("moov")) || bytes.Contains(b[:64], []byte("moov")) {
		t.Fatal("small.mp4 does not have its moov box at the end")
	}
	for _, size := range []int64{0, int64(len(b))} { // unknown size: found by seeking
		info, err := Probe(context.Background(), Input{Reader: bytes.NewReader(b), Size: size})
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if info.Width != 360 || info.Height != 640 || !info.HasAudio {
			t.Errorf("size %d: Probe = %+v", size, info)
		}
	}
}

// failingReader fails every read after the first n bytes.
type failingReader struct {
	*bytes.Reader
	n   int64
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	pos, _ := r.Seek(0, io.SeekCurrent)
	if pos >= r.n {
		return 0, r.err
	}
	if rem := r.n - pos; int64(len(p)) > rem {
		p = p[:rem]
	}
	return r.Reader.Read(p)
}

func TestProbeReaderError(t *testing.T) {
	b, err := os.ReadFile(clip(t, "small.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("store unavailable")
	_, err = Probe(context.Background(), Input{Reader: &failingReader{bytes.NewReader(b), 1000, boom}})
	var rej *RejectError
	if !errors.Is(err, boom) || errors.As(err, &rej) {
		t.Errorf("Probe error = %v, want the reader's error, not a rejection", err)
	}
}

func TestProbeInput(t *testing.T) {
	for _, in := range []Input{{}, {Path: "x", Reader: bytes.NewReader(nil)}} {
		if _, err := Probe(context.Background(), in); err == nil {
			t.Errorf("Probe(%+v) succeeded", in)
		}
	}
	if _, err := Probe(context.Background(), Input{Path: t.TempDir() + "/missing.mp4"}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Probe(ctx, Input{Path: clip(t, "small.mp4")}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

func TestNormalizeRotation(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want int
	}{{0, 0}, {90, 90}, {-90, 270}, {180, 180}, {-180, 180}, {270, 270}, {450, 90}, {89.6, 90}, {-0.0001, 0}, {359.9, 0}} {
		if got := normalizeRotation(tc.in); got != tc.want {
			t.Errorf("normalizeRotation(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestDisplaySize: the size the limits apply to, of a header and of every decoded picture.
func TestDisplaySize(t *testing.T) {
	for _, tc := range []struct {
		w, h     int
		sar      astiav.Rational
		rotation int
		want     string
	}{
		{1920, 1080, astiav.NewRational(0, 1), 0, "1920x1080"}, // unknown aspect: square
		{1920, 1080, astiav.NewRational(1, 1), 90, "1080x1920"},
		{1920, 1080, astiav.NewRational(1, 1), 180, "1920x1080"},
		{1280, 720, astiav.NewRational(1, 1), 270, "720x1280"},
		{720, 576, astiav.NewRational(64, 45), 0, "1024x576"},
		{720, 576, astiav.NewRational(64, 45), 90, "576x1024"},
		{1440, 1080, astiav.NewRational(4, 3), 0, "1920x1080"},
	} {
		if w, h := displaySize(tc.w, tc.h, tc.sar, tc.rotation); fmt.Sprintf("%dx%d", w, h) != tc.want {
			t.Errorf("displaySize(%dx%d, sar %s, %d°) = %dx%d, want %s", tc.w, tc.h, tc.sar, tc.rotation, w, h, tc.want)
		}
	}
	// A 1280x720 picture turned upright fits 800x1400; the same picture unturned does not.
	tr, err := New(Config{MaxWidth: 800, MaxHeight: 1400})
	if err != nil {
		t.Fatal(err)
	}
	if tr.tooLarge(displaySize(1280, 720, astiav.NewRational(1, 1), 90)) || !tr.tooLarge(displaySize(1280, 720, astiav.NewRational(1, 1), 0)) {
		t.Error("tooLarge does not follow the rotation")
	}
}

func TestOutputRate(t *testing.T) {
	for _, tc := range []struct {
		src  Rate
		max  int
		want Rate
	}{
		{Rate{30, 1}, 60, Rate{30, 1}},
		{Rate{30000, 1001}, 60, Rate{30000, 1001}},
		{Rate{60000, 1001}, 60, Rate{60000, 1001}},
		{Rate{120, 1}, 60, Rate{60, 1}},
		{Rate{240, 1}, 60, Rate{60, 1}},
		{Rate{25, 1}, 60, Rate{25, 1}},
		{Rate{2997, 100}, 60, Rate{30000, 1001}}, // measured averages snap to the common rate
		{Rate{8960, 300}, 60, Rate{30000, 1001}}, // 29.87: a phone's VFR average
		{Rate{2999, 100}, 60, Rate{30, 1}},
		{Rate{15, 1}, 60, Rate{15, 1}},
		{Rate{12345, 1000}, 60, Rate{2469, 200}}, // uncommon but exact: kept
		{Rate{1234567, 100000}, 60, Rate{12, 1}}, // an odd measurement: whole frames
		{Rate{0, 0}, 60, Rate{30, 1}},
		{Rate{60, 1}, 30, Rate{30, 1}},
		{Rate{90000, 1}, 60, Rate{30, 1}}, // nonsense: the default
	} {
		if got := outputRate(tc.src, tc.max); got != tc.want {
			t.Errorf("outputRate(%v, %d) = %v, want %v", tc.src, tc.max, got, tc.want)
		}
	}
}

func TestSniffMedia(t *testing.T) {
	for _, tc := range []struct {
		head string
		want bool
	}{
		{"\x00\x00\x00\x20ftypisom", true},
		{"\x1a\x45\xdf\xa3\x01", true},
		{"RIFF\x00\x00\x00\x00AVI LIST", true},
		{"RIFF\x00\x00\x00\x00WEBPVP8 ", false},
		{"OggS\x00", true},
		{"hello world, this is text", false},
		{"\xff\xd8\xff\xe0JFIF", false},
		{"", false},
		{"G" + strings.Repeat("x", 200), false},
	} {
		if got := sniffMedia([]byte(tc.head)); got != tc.want {
			t.Errorf("sniffMedia(%q) = %v, want %v", tc.head, got, tc.want)
		}
	}
}

// FuzzProbe feeds arbitrary bytes through the io.ReadSeeker input: Probe must return, never
// crash, and anything refused must be refused with a RejectError.
func FuzzProbe(f *testing.F) {
	for _, name := range []string{"fuzz_tiny.mp4", "fuzz_tiny.mkv", "fuzz_tiny.ts"} {
		b, err := os.ReadFile(clip(f, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom\x00\x00\x00\x08moov"))
	f.Add([]byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01"))
	f.Add([]byte("#EXTM3U\n#EXTINF:1,\nhttp://127.0.0.1:1/x.ts\n"))
	f.Add(bytes.Repeat([]byte{0x47, 0x40, 0x00, 0x10}, 200))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := Probe(context.Background(), Input{Reader: bytes.NewReader(b)})
		if err != nil {
			var rej *RejectError
			if !errors.As(err, &rej) {
				t.Fatalf("Probe error %v is not a RejectError", err)
			}
			return
		}
		if info.Width <= 0 || info.Height <= 0 || info.Duration <= 0 {
			t.Fatalf("Probe accepted %+v", info)
		}
	})
}
