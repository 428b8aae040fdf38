package transcoder

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/asticode/go-astiav"
	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/packager"
)

// clipDir holds the clips the tests generate, once per test binary.
var clipDir string

func TestMain(m *testing.M) {
	// FFmpeg logs to stderr; the garbage inputs make it loud. Set REELAY_FFMPEG_LOG=1 to see it.
	if os.Getenv("REELAY_FFMPEG_LOG") == "" {
		astiav.SetLogLevel(astiav.LogLevelQuiet)
	}
	dir, err := os.MkdirTemp("", "transcoder-clips-")
	if err != nil {
		panic(err)
	}
	clipDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// clipSpecs are the ffmpeg arguments (after -y, before the output path) of each test clip. All
// are made from lavfi sources, short and small.
var clipSpecs = map[string][]string{
	// 9:16 1080x1920 30 fps with a 440 Hz tone: the full ladder.
	"portrait.mp4": {"-f", "lavfi", "-i", "testsrc2=s=1080x1920:r=30:d=4", "-f", "lavfi", "-i", "sine=f=440:d=4",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"},
	// 720x1280 with audio: three rungs, cheap enough for the IDR alignment tests.
	"medium.mp4": {"-f", "lavfi", "-i", "testsrc2=s=720x1280:r=30:d=4", "-f", "lavfi", "-i", "sine=f=440:d=4:sample_rate=44100",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"},
	// A small portrait clip with audio.
	"small.mp4": {"-f", "lavfi", "-i", "testsrc2=s=360x640:r=30:d=3", "-f", "lavfi", "-i", "sine=f=440:d=3",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"},
	"small_faststart.mp4": {"-f", "lavfi", "-i", "testsrc2=s=360x640:r=30:d=3", "-f", "lavfi", "-i", "sine=f=440:d=3",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", "-movflags", "+faststart"},
	// Landscape 1920x1080, 1 s; rotated copies are remuxed from it.
	"landscape.mp4": {"-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=30:d=1", "-f", "lavfi", "-i", "sine=d=1",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"},
	// 640x480 without audio.
	"vga_noaudio.mp4": {"-f", "lavfi", "-i", "testsrc2=s=640x480:r=30:d=2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"},
	// Variable frame rate: of every 5 frames of a 30 fps source, 3 are kept, so frames last 1/30 or 3/30 s.
	"vfr.mp4": {"-f", "lavfi", "-i", "testsrc2=s=360x640:r=30:d=3", "-vf", "select='lt(mod(n\\,5)\\,3)'", "-fps_mode", "vfr",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"},
	// 59.94 fps and 120 fps, tiny.
	"ntsc60.mp4":  {"-f", "lavfi", "-i", "testsrc2=s=180x320:r=60000/1001:d=2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"},
	"fast120.mp4": {"-f", "lavfi", "-i", "testsrc2=s=180x320:r=120:d=1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"},
	"pal25.mp4":   {"-f", "lavfi", "-i", "testsrc2=s=180x320:r=25:d=2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"},
	// Interlaced, field-coded (as camcorders make it).
	"interlaced.mp4": {"-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=2,interlace", "-flags", "+ildct+ilme",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"},
	// A black 320x180 picture with a red square in the top-left corner, to check orientation.
	"marker.mp4": {"-f", "lavfi", "-i", "color=c=black:s=320x180:r=30:d=1,drawbox=x=0:y=0:w=60:h=60:color=red:t=fill",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"},
	// Fades in from black over 1.5 s: the poster must not be one of the dark frames.
	"fadein.mp4": {"-f", "lavfi", "-i", "testsrc2=s=360x640:r=30:d=3,fade=t=in:st=0:d=1.5",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"},
	// 720p at a low bitrate, below the 720p and 540p rungs': the ladder caps them at it.
	"lowrate720.mp4": {"-f", "lavfi", "-i", "testsrc2=s=720x1280:r=30:d=2", "-c:v", "libx264", "-preset", "ultrafast",
		"-b:v", "400k", "-maxrate", "400k", "-bufsize", "800k", "-pix_fmt", "yuv420p"},
	// Audio only.
	"tone.m4a": {"-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac"},
	// Tiny seeds for FuzzProbe.
	"fuzz_tiny.mp4": {"-f", "lavfi", "-i", "testsrc2=s=32x32:r=10:d=0.3", "-f", "lavfi", "-i", "sine=d=0.3",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "16k", "-shortest"},
	"fuzz_tiny.mkv": {"-f", "lavfi", "-i", "testsrc2=s=32x32:r=10:d=0.3", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"},
	"fuzz_tiny.ts":  {"-f", "lavfi", "-i", "testsrc2=s=32x32:r=10:d=0.3", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"},
	// Parts of the clips that change size midway (see joined), 1 s each, in MPEG-TS as broadcast
	// and cameras write it. Without audio: joined with their audio, parts leave gaps of a few
	// milliseconds between them, which the timeline checks would take for the transcoder's.
	"part_960x540.ts":    {"-f", "lavfi", "-i", "testsrc2=s=960x540:r=30:d=1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"},
	"part_480x360.ts":    {"-f", "lavfi", "-i", "testsrc2=s=480x360:r=30:d=1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"},
	"part_320x240.ts":    {"-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"},
	"part_1280x720.ts":   {"-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"},
	"part_320x240.webm":  {"-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=1", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"},
	"part_1280x720.webm": {"-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=1", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"},
	// 60 s, tiny, 15 fps.
	"long.mp4": {"-f", "lavfi", "-i", "testsrc2=s=144x256:r=15:d=60", "-f", "lavfi", "-i", "sine=d=60",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"},
}

// derivedClip returns how to make a clip from another clip, or nil.
func derivedClip(name string) func(t testing.TB, path string) {
	switch name {
	case "landscape_rot90.mp4":
		return remux("landscape.mp4", "-metadata:s:v", "rotate=90")
	case "marker_rot90.mp4":
		return remux("marker.mp4", "-metadata:s:v", "rotate=90")
	case "marker_rot180.mp4":
		return remux("marker.mp4", "-metadata:s:v", "rotate=180")
	case "marker_rot270.mp4":
		return remux("marker.mp4", "-metadata:s:v", "rotate=270")
	case "truncated.mp4":
		return truncate("small.mp4")
	case "truncated_faststart.mp4":
		return truncate("small_faststart.mp4")
	case "joined.ts": // 960x540, then 480x360 (4:3), then 960x540 again
		return joined("part_960x540.ts", "part_480x360.ts", "part_960x540.ts")
	case "grows.ts": // 320x240, then 1280x720
		return joined("part_320x240.ts", "part_1280x720.ts")
	case "grows.webm": // the same in VP9
		return joined("part_320x240.webm", "part_1280x720.webm")
	case "text.mp4":
		return func(t testing.TB, path string) {
			writeFile(t, path, []byte(strings.Repeat("this is not a video, just some text\n", 100)))
		}
	}
	return nil
}

var clipMu sync.Mutex

// clip returns the path of a test clip, making it on first use.
func clip(t testing.TB, name string) string {
	t.Helper()
	clipMu.Lock()
	defer clipMu.Unlock()
	return clipLocked(t, name)
}

func clipLocked(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(clipDir, name)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if args, ok := clipSpecs[name]; ok {
		ffmpeg(t, append(append([]string{}, args...), path)...)
	} else if mk := derivedClip(name); mk != nil {
		mk(t, path)
	} else {
		t.Fatalf("no clip %s", name)
	}
	return path
}

func remux(src string, args ...string) func(testing.TB, string) {
	return func(t testing.TB, path string) {
		ffmpeg(t, append(append([]string{"-i", clipLocked(t, src), "-c", "copy"}, args...), path)...)
	}
}

// joined returns how to join clips end to end, as one stream whose pictures change size where
// a part of another size starts while its header gives the first part's size: FFmpeg's concat
// demuxer with the streams copied, the way joined clips are made, into the container of the
// first part.
func joined(parts ...string) func(testing.TB, string) {
	return func(t testing.TB, path string) {
		var list strings.Builder
		for _, p := range parts {
			fmt.Fprintf(&list, "file '%s'\n", clipLocked(t, p))
		}
		listPath := path + ".txt"
		writeFile(t, listPath, []byte(list.String()))
		defer os.Remove(listPath)
		ffmpeg(t, "-f", "concat", "-safe", "0", "-i", listPath, "-map", "0", "-c", "copy", path)
	}
}

func truncate(src string) func(testing.TB, string) {
	return func(t testing.TB, path string) {
		b, err := os.ReadFile(clipLocked(t, src))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, b[:len(b)/2])
	}
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ffmpeg runs the ffmpeg CLI, which the tests need to make clips and check output.
func ffmpeg(t testing.TB, args ...string) []byte {
	t.Helper()
	return command(t, "ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}, args...)...)
}

func ffprobe(t testing.TB, args ...string) []byte {
	t.Helper()
	return command(t, "ffprobe", append([]string{"-hide_banner", "-loglevel", "error"}, args...)...)
}

func command(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	testenv.RequireCommand(t, name)
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// fakeSink records what Run writes. Its function fields, when set, replace the default behaviour.
type fakeSink struct {
	mu          sync.Mutex
	videos      []*fakeTrack // in AddVideo order
	audio       *fakeTrack
	poster      []byte
	onSample    func(tr *fakeTrack, s packager.Sample) error // called before a sample is recorded
	posterCalls int
}

type fakeTrack struct {
	sink    *fakeSink
	name    string
	video   packager.VideoTrack
	audio   packager.AudioTrack
	bitrate int
	samples []packager.Sample
}

var _ Sink = (*fakeSink)(nil)

func (s *fakeSink) AddVideo(name string, t packager.VideoTrack, bitrate int) (SampleWriter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tr := &fakeTrack{sink: s, name: name, video: t, bitrate: bitrate}
	s.videos = append(s.videos, tr)
	return tr, nil
}

func (s *fakeSink) AddAudio(name string, t packager.AudioTrack, bitrate int) (SampleWriter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audio = &fakeTrack{sink: s, name: name, audio: t, bitrate: bitrate}
	return s.audio, nil
}

func (s *fakeSink) WritePoster(ctx context.Context, jpeg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.poster = slices.Clone(jpeg)
	s.posterCalls++
	return nil
}

func (tr *fakeTrack) WriteSample(ctx context.Context, smp packager.Sample) error {
	if f := tr.sink.onSample; f != nil {
		if err := f(tr, smp); err != nil {
			return err
		}
	}
	tr.sink.mu.Lock()
	defer tr.sink.mu.Unlock()
	tr.samples = append(tr.samples, smp)
	return nil
}

// annexB returns a rendition as a raw H.264 stream: the parameter sets, then every access unit.
func (tr *fakeTrack) annexB() []byte {
	var b []byte
	for _, n := range [][]byte{tr.video.SPS, tr.video.PPS} {
		b = append(append(b, 0, 0, 0, 1), n...)
	}
	for _, s := range tr.samples {
		b = append(b, s.Data...)
	}
	return b
}

// count returns the number of samples written so far.
func (s *fakeSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.videos {
		n += len(v.samples)
	}
	if s.audio != nil {
		n += len(s.audio.samples)
	}
	return n
}
