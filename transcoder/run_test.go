package transcoder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reelay/reelay/packager"
)

// run transcodes a clip into a fake sink and checks what every transcode must give.
func run(t *testing.T, cfg Config, in Input) (Result, *fakeSink) {
	t.Helper()
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sink := &fakeSink{}
	var pcts []float64
	res, err := tr.Run(context.Background(), in, sink, func(p float64) { pcts = append(pcts, p) })
	if err != nil {
		t.Fatal(err)
	}
	checkProgress(t, pcts)
	checkVideo(t, tr.Config().SegmentDuration, tr.Config().Preset, res, sink)
	if res.Audio {
		checkAudio(t, res, sink)
	} else if sink.audio != nil {
		t.Error("Result.Audio is false but an audio rendition was added")
	}
	if !res.Poster || sink.posterCalls != 1 {
		t.Errorf("poster: Result.Poster %v, %d WritePoster calls", res.Poster, sink.posterCalls)
	}
	return res, sink
}

func checkProgress(t *testing.T, pcts []float64) {
	t.Helper()
	if len(pcts) < 2 || pcts[0] != 0 || pcts[len(pcts)-1] != 100 {
		t.Errorf("progress %v: want 0 first and 100 last", pcts)
	}
	for i, p := range pcts {
		if p < 0 || p > 100 || (i > 0 && p < pcts[i-1]) {
			t.Fatalf("progress %v is not monotonic within 0..100", pcts)
		}
	}
}

// checkVideo checks the video renditions: H.264 High parameter sets, constant frame duration,
// decode order, and IDR frames exactly at the first frame of every segment, on every rung alike.
func checkVideo(t *testing.T, segDur time.Duration, preset string, res Result, sink *fakeSink) {
	t.Helper()
	if len(sink.videos) == 0 || len(sink.videos) != len(res.Renditions) {
		t.Fatalf("%d renditions added, Result has %d", len(sink.videos), len(res.Renditions))
	}
	frameDur := float64(videoTimeScale) * float64(res.FrameRate.Den) / float64(res.FrameRate.Num)
	var firstKeys []int64
	for i, tr := range sink.videos {
		r := res.Renditions[i]
		v := tr.video
		if tr.name != r.Name || v.Width != r.Width || v.Height != r.Height || v.TimeScale != videoTimeScale ||
			v.FrameRateNum != res.FrameRate.Num || v.FrameRateDen != res.FrameRate.Den || tr.bitrate != r.Bitrate {
			t.Errorf("track %s %+v does not match %+v at %v", tr.name, v, r, res.FrameRate)
		}
		// profile_idc: High (100), or Constrained Baseline (66) when the ultrafast preset leaves out
		// every High tool (x264's profile is a ceiling).
		if len(v.SPS) < 4 || v.SPS[0]&0x1f != nalSPS || (v.SPS[1] != 100 && !(preset == "ultrafast" && v.SPS[1] == 66)) ||
			len(v.PPS) < 1 || v.PPS[0]&0x1f != nalPPS {
			t.Errorf("%s: SPS %x PPS %x: want H.264 High profile parameter sets", tr.name, v.SPS, v.PPS)
		}
		if len(tr.samples) != r.Frames || len(tr.samples) != len(sink.videos[0].samples) {
			t.Errorf("%s: %d samples, Result says %d, first rung has %d", tr.name, len(tr.samples), r.Frames, len(sink.videos[0].samples))
		}
		if !tr.samples[0].Keyframe {
			t.Errorf("%s: first sample is not a keyframe", tr.name)
		}
		byPTS := slices.Clone(tr.samples)
		slices.SortFunc(byPTS, func(a, b packager.Sample) int { return int(a.PTS - b.PTS) })
		var keys, want []int64
		nextBoundary := int64(0)
		seg := int64(segDur) * videoTimeScale / int64(time.Second)
		for j, s := range byPTS {
			if j > 0 && (s.PTS-byPTS[j-1].PTS < int64(frameDur)-1 || s.PTS-byPTS[j-1].PTS > int64(frameDur)+1) {
				t.Fatalf("%s: frames at %d and %d: not %v apart", tr.name, byPTS[j-1].PTS, s.PTS, frameDur)
			}
			if d := float64(s.Duration); d < frameDur-1 || d > frameDur+1 {
				t.Fatalf("%s: sample duration %d, want %v", tr.name, s.Duration, frameDur)
			}
			if s.Keyframe {
				keys = append(keys, s.PTS)
			}
			if s.PTS >= nextBoundary {
				want = append(want, s.PTS)
				nextBoundary = (s.PTS/seg + 1) * seg
			}
		}
		if !slices.Equal(keys, want) {
			t.Errorf("%s: keyframes at %v, want the first frame of each %v segment: %v", tr.name, keys, segDur, want)
		}
		if i == 0 {
			firstKeys = keys
		} else if !slices.Equal(keys, firstKeys) {
			t.Errorf("%s: keyframes at %v, %s has them at %v", tr.name, keys, sink.videos[0].name, firstKeys)
		}
		for j := 1; j < len(tr.samples); j++ {
			if tr.samples[j].DTS <= tr.samples[j-1].DTS {
				t.Fatalf("%s: DTS %d after %d", tr.name, tr.samples[j].DTS, tr.samples[j-1].DTS)
			}
			if tr.samples[j].DTS > tr.samples[j].PTS {
				t.Fatalf("%s: DTS %d after PTS %d", tr.name, tr.samples[j].DTS, tr.samples[j].PTS)
			}
		}
		if byPTS[0].PTS != 0 {
			t.Errorf("%s: first PTS %d, want 0", tr.name, byPTS[0].PTS)
		}
	}
	want := time.Duration(float64(len(sink.videos[0].samples)) * float64(time.Second) * float64(res.FrameRate.Den) / float64(res.FrameRate.Num))
	if d := res.Duration - want; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("Result.Duration %v, want %v", res.Duration, want)
	}
}

// checkAudio checks the audio rendition: AAC-LC 48 kHz stereo, 1024-sample frames back to back,
// as long as the video.
func checkAudio(t *testing.T, res Result, sink *fakeSink) {
	t.Helper()
	a := sink.audio
	if a == nil {
		t.Fatal("no audio rendition")
	}
	// AudioSpecificConfig: object type 2 (LC), frequency index 3 (48000), channel configuration 2;
	// FFmpeg's encoder may append the backward-compatible SBR signalling (sync extension 0x2b7).
	if !bytes.HasPrefix(a.audio.Config, []byte{0x11, 0x90}) || a.audio.SampleRate != 48000 || a.audio.Channels != 2 ||
		a.audio.TimeScale != 48000 || a.name != AudioName || a.bitrate != DefaultAudioBitrate {
		t.Errorf("audio track %+v config %x", a.audio, a.audio.Config)
	}
	for i, s := range a.samples {
		if !s.Keyframe || s.DTS != s.PTS || len(s.Data) == 0 {
			t.Fatalf("audio sample %d: %+v", i, s)
		}
		if i < len(a.samples)-1 && s.Duration != aacFrameSize {
			t.Fatalf("audio sample %d lasts %d, want 1024", i, s.Duration)
		}
		if i > 0 && s.PTS != a.samples[i-1].PTS+aacFrameSize {
			t.Fatalf("audio sample %d at %d, previous at %d", i, s.PTS, a.samples[i-1].PTS)
		}
	}
	// The encoder's priming frame comes first, before 0.
	if a.samples[0].PTS != -aacFrameSize {
		t.Errorf("first audio PTS %d, want -1024 (priming)", a.samples[0].PTS)
	}
	last := a.samples[len(a.samples)-1]
	end := time.Duration(last.PTS+last.Duration) * time.Second / 48000
	if d := end - res.Duration; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("audio ends at %v, video at %v", end, res.Duration)
	}
}

func TestRunPortrait(t *testing.T) {
	path := clip(t, "portrait.mp4")
	start := time.Now()
	res, sink := run(t, Config{}, Input{Path: path})
	t.Logf("transcoded a 4 s 1080x1920 clip to 4 rungs + audio in %v", time.Since(start).Round(time.Millisecond))

	var got []string
	for _, r := range res.Renditions {
		got = append(got, fmt.Sprintf("%s=%dx%d@%d", r.Name, r.Width, r.Height, r.Bitrate))
		if r.Frames != 120 || r.Bytes == 0 {
			t.Errorf("%s: %d frames, %d bytes; want 120 frames", r.Name, r.Frames, r.Bytes)
		}
	}
	want := []string{"1080p=1080x1920@4500000", "720p=720x1280@2500000", "540p=540x960@1200000", "360p=360x640@600000"}
	if !slices.Equal(got, want) || res.FrameRate != (Rate{30, 1}) || !res.Audio {
		t.Errorf("renditions %v at %v, audio %v; want %v at 30/1 with audio", got, res.FrameRate, res.Audio, want)
	}
	// Bitrates follow the ladder.
	for _, r := range res.Renditions {
		if kbps := float64(r.Bytes*8) / res.Duration.Seconds() / 1000; kbps > float64(r.Bitrate)/1000*1.6 {
			t.Errorf("%s: %.0f kb/s for a %d b/s target", r.Name, kbps, r.Bitrate)
		}
	}

	cfg, err := jpeg.DecodeConfig(bytes.NewReader(sink.poster))
	if err != nil || cfg.Width != 540 || cfg.Height != 960 {
		t.Errorf("poster: %+v, %v; want a 540x960 JPEG", cfg, err)
	}

	// What the packager gets is a stream any decoder plays: decode the 360p rung with FFmpeg.
	stream := filepath.Join(t.TempDir(), "360p.h264")
	writeFile(t, stream, sink.videos[3].annexB())
	var probe struct {
		Streams []struct {
			Profile      string `json:"profile"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			NbReadFrames string `json:"nb_read_frames"`
		} `json:"streams"`
	}
	out := ffprobe(t, "-count_frames", "-show_entries", "stream=profile,width,height,nb_read_frames", "-of", "json", stream)
	if err := json.Unmarshal(out, &probe); err != nil || len(probe.Streams) != 1 {
		t.Fatalf("ffprobe: %s, %v", out, err)
	}
	if s := probe.Streams[0]; s.Profile != "High" || s.Width != 360 || s.Height != 640 || s.NbReadFrames != "120" {
		t.Errorf("ffprobe of the 360p rung: %+v", s)
	}
}

// TestRunCapsBitrateAtSource: a 720p source at 400 kb/s gets no 1080p rung, and no rung that
// spends more bits than the source carries.
func TestRunCapsBitrateAtSource(t *testing.T) {
	res, _ := run(t, Config{}, Input{Path: clip(t, "lowrate720.mp4")})
	src := res.Info.VideoBitRate
	if src <= 0 || src >= 600_000 {
		t.Fatalf("the source's video bitrate probes as %d b/s, want about 400k", src)
	}
	var names []string
	for _, r := range res.Renditions {
		names = append(names, r.Name)
		if int64(r.Bitrate) != src { // every rung's target (600k and up) is above the source's
			t.Errorf("%s: target %d b/s for a source at %d b/s", r.Name, r.Bitrate, src)
		}
		if bps := float64(r.Bytes*8) / res.Duration.Seconds(); bps > float64(src)*1.6 {
			t.Errorf("%s: %.0f b/s encoded for a source at %d b/s", r.Name, bps, src)
		}
	}
	if !slices.Equal(names, []string{"720p", "540p", "360p"}) {
		t.Errorf("renditions %v, want 720p, 540p and 360p", names)
	}
}

func TestRunIDRAlignment(t *testing.T) {
	for _, tc := range []struct {
		clip   string
		ladder string
		seg    time.Duration
		rate   Rate
		keys   int
	}{
		// Default preset (B-frames): three rungs, a segment a second.
		{"medium.mp4", "", time.Second, Rate{30, 1}, 4},
		// 59.94 fps: a segment is 29.97 frames, so IDR frames are 29 or 30 frames apart.
		{"ntsc60.mp4", "180p:400k,120p:200k", 500 * time.Millisecond, Rate{60000, 1001}, 4},
	} {
		t.Run(tc.clip, func(t *testing.T) {
			cfg := Config{SegmentDuration: tc.seg}
			if tc.ladder != "" {
				var err error
				if cfg.Ladder, err = ParseLadder(tc.ladder); err != nil {
					t.Fatal(err)
				}
			}
			res, sink := run(t, cfg, Input{Path: clip(t, tc.clip)})
			if res.FrameRate != tc.rate || len(res.Renditions) < 2 {
				t.Fatalf("%v with %d renditions", res.FrameRate, len(res.Renditions))
			}
			keys := 0
			for _, s := range sink.videos[0].samples {
				if s.Keyframe {
					keys++
				}
			}
			if keys != tc.keys {
				t.Errorf("%d keyframes, want %d", keys, tc.keys)
			}
		})
	}
}

func TestRunRotation(t *testing.T) {
	path := clip(t, "landscape_rot90.mp4")
	res, _ := run(t, Config{Preset: "ultrafast"}, Input{Path: path})
	if res.Info.Rotation != ffprobeRotation(t, path) || res.Info.Rotation%180 != 90 {
		t.Errorf("rotation %d", res.Info.Rotation)
	}
	var got []string
	for _, r := range res.Renditions {
		got = append(got, fmt.Sprintf("%dx%d", r.Width, r.Height))
	}
	if want := []string{"1080x1920", "720x1280", "540x960", "360x640"}; !slices.Equal(got, want) {
		t.Errorf("renditions of a rotated 1920x1080 source: %v, want %v", got, want)
	}
}

// TestRunOrientation checks that the picture is turned the way FFmpeg's own autorotation turns
// it: a red square in the top-left corner of the stored picture must end in the same corner.
func TestRunOrientation(t *testing.T) {
	for _, name := range []string{"marker.mp4", "marker_rot90.mp4", "marker_rot180.mp4", "marker_rot270.mp4"} {
		t.Run(name, func(t *testing.T) {
			path := clip(t, name)
			res, sink := run(t, Config{Preset: "ultrafast"}, Input{Path: path})
			w, h := res.Renditions[0].Width, res.Renditions[0].Height
			if w != res.Info.Width || h != res.Info.Height {
				t.Errorf("rendition %dx%d, display size %dx%d", w, h, res.Info.Width, res.Info.Height)
			}
			stream := filepath.Join(t.TempDir(), "out.h264")
			writeFile(t, stream, sink.videos[0].annexB())
			got := redCorner(t, ffmpeg(t, "-f", "h264", "-i", stream, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"), w, h)
			want := redCorner(t, ffmpeg(t, "-i", path, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"), w, h)
			if got != want {
				t.Errorf("red square in the %s corner, FFmpeg puts it in the %s corner", got, want)
			}
		})
	}
}

// redCorner returns the corner of a gray picture that holds the bright square.
func redCorner(t *testing.T, gray []byte, w, h int) string {
	t.Helper()
	if len(gray) != w*h {
		t.Fatalf("picture of %d bytes, want %dx%d", len(gray), w, h)
	}
	best, bestLuma := "", -1
	for _, c := range []struct {
		name string
		x, y int
	}{{"top-left", 10, 10}, {"top-right", w - 11, 10}, {"bottom-left", 10, h - 11}, {"bottom-right", w - 11, h - 11}} {
		if l := int(gray[c.y*w+c.x]); l > bestLuma {
			best, bestLuma = c.name, l
		}
	}
	return best
}

func TestRunVideoOnly(t *testing.T) {
	res, sink := run(t, Config{Preset: "ultrafast"}, Input{Path: clip(t, "vga_noaudio.mp4")})
	if res.Audio || sink.audio != nil || res.Info.HasAudio {
		t.Error("an input without audio gave an audio rendition")
	}
	if len(res.Renditions) != 1 || res.Renditions[0].Width != 480 || res.Renditions[0].Height != 360 {
		t.Errorf("renditions %+v, want 360p at 480x360", res.Renditions)
	}
}

func TestRunFrameRate(t *testing.T) {
	vfr := clip(t, "vfr.mp4")
	// The clip is really VFR: its frames last 1/30 s or 3/30 s.
	durs := map[string]bool{}
	for line := range strings.SplitSeq(string(ffprobe(t, "-select_streams", "v", "-show_entries", "packet=duration_time", "-of", "csv=p=0", vfr)), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			durs[line] = true
		}
	}
	if len(durs) < 2 {
		t.Fatalf("vfr.mp4 frame durations %v: not variable", durs)
	}
	for _, tc := range []struct {
		clip string
		rate Rate
	}{
		{"vfr.mp4", Rate{30, 1}},
		{"ntsc60.mp4", Rate{60000, 1001}},
		{"fast120.mp4", Rate{60, 1}}, // capped at MaxFrameRate
		{"pal25.mp4", Rate{25, 1}},
		{"interlaced.mp4", Rate{30, 1}}, // deinterlaced, one frame per frame
	} {
		t.Run(tc.clip, func(t *testing.T) {
			res, _ := run(t, Config{Preset: "ultrafast"}, Input{Path: clip(t, tc.clip)})
			if res.FrameRate != tc.rate {
				t.Errorf("output rate %v, want %v", res.FrameRate, tc.rate)
			}
			// Constant rate over the whole duration: frames dropped or repeated as needed.
			want := int(math.Round(res.Info.Duration.Seconds() * tc.rate.Float64()))
			if f := res.Renditions[0].Frames; f < want-1 || f > want+1 {
				t.Errorf("%d frames, want %d for %v at %v", f, want, res.Info.Duration, tc.rate)
			}
		})
	}
}

func TestRunReader(t *testing.T) {
	b, err := os.ReadFile(clip(t, "small.mp4")) // moov at the end
	if err != nil {
		t.Fatal(err)
	}
	res, sink := run(t, Config{Preset: "ultrafast"}, Input{Reader: bytes.NewReader(b)})
	if len(res.Renditions) != 1 || res.Renditions[0].Frames != 90 || len(sink.audio.samples) < 140 {
		t.Errorf("%+v", res)
	}
}

func TestRunReaderError(t *testing.T) {
	b, err := os.ReadFile(clip(t, "small_faststart.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("connection reset")
	tr, err := New(Config{Preset: "ultrafast"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.Run(context.Background(), Input{Reader: &failingReader{bytes.NewReader(b), int64(len(b)) * 6 / 10, boom}}, &fakeSink{}, nil)
	var rej *RejectError
	if !errors.Is(err, boom) || errors.As(err, &rej) {
		t.Errorf("Run error = %v, want the reader's error, not a rejection", err)
	}
}

// TestRunTruncated: a faststart MP4 cut in half keeps its index, so it probes well, but half
// of its frames are missing: Run refuses it rather than publish half a video.
func TestRunTruncated(t *testing.T) {
	path := clip(t, "truncated_faststart.mp4")
	if _, err := Probe(context.Background(), Input{Path: path}); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	tr, err := New(Config{Preset: "ultrafast"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.Run(context.Background(), Input{Path: path}, &fakeSink{}, nil)
	var rej *RejectError
	if !errors.As(err, &rej) || rej.Reason != ReasonUndecodable {
		t.Errorf("Run error = %v, want undecodable", err)
	}
}

func TestRunCancel(t *testing.T) {
	tr, err := New(Config{Preset: "ultrafast"})
	if err != nil {
		t.Fatal(err)
	}
	path := clip(t, "small.mp4")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sink := &fakeSink{}
	if _, err := tr.Run(ctx, Input{Path: path}, sink, nil); !errors.Is(err, context.Canceled) || sink.count() != 0 {
		t.Errorf("Run with a cancelled context: %v, %d samples", err, sink.count())
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	afterCancel := 0
	sink = &fakeSink{}
	sink.onSample = func(*fakeTrack, packager.Sample) error {
		if ctx.Err() != nil {
			afterCancel++
		} else if sink.count() == 10 {
			cancel()
		}
		return nil
	}
	if _, err := tr.Run(ctx, Input{Path: path}, sink, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Run cancelled midway: %v", err)
	}
	// Run stops before the next packet: at most the frames already in flight are written.
	if afterCancel > 8 {
		t.Errorf("%d samples written after cancellation", afterCancel)
	}
}

func TestRunSinkError(t *testing.T) {
	tr, err := New(Config{Preset: "ultrafast"})
	if err != nil {
		t.Fatal(err)
	}
	full := errors.New("disk full")
	sink := &fakeSink{onSample: func(tr *fakeTrack, s packager.Sample) error {
		if len(tr.samples) == 5 {
			return full
		}
		return nil
	}}
	if _, err := tr.Run(context.Background(), Input{Path: clip(t, "small.mp4")}, sink, nil); !errors.Is(err, full) {
		t.Errorf("Run error = %v, want the sink's error", err)
	}
}

func TestRunLong(t *testing.T) {
	if testing.Short() {
		t.Skip("60 s clip")
	}
	res, sink := run(t, Config{Preset: "ultrafast"}, Input{Path: clip(t, "long.mp4")})
	keys := 0
	for _, s := range sink.videos[0].samples {
		if s.Keyframe {
			keys++
		}
	}
	if res.Renditions[0].Name != "144p" || res.Renditions[0].Frames != 900 || keys != 30 {
		t.Errorf("%+v with %d keyframes; want 144p, 900 frames, 30 keyframes", res.Renditions, keys)
	}
	if got := strconv.Itoa(int(res.Duration.Seconds())); got != "60" {
		t.Errorf("duration %v", res.Duration)
	}
}

func TestRunPoster(t *testing.T) {
	_, sink := run(t, Config{Preset: "ultrafast"}, Input{Path: clip(t, "fadein.mp4")})
	img, err := jpeg.Decode(bytes.NewReader(sink.poster))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if b.Dx() != 360 || b.Dy() != 640 {
		t.Errorf("poster %v, want 360x640", b)
	}
	// The frame at 1 s is still dim (luma about 2/3 of full); the picker takes a later, brighter one.
	var sum, n float64
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bl, _ := img.At(x, y).RGBA()
			sum += (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
			n++
		}
	}
	full := lumaOfFrame(t, clip(t, "fadein.mp4"), "2.5")
	if mean := sum / n; mean < full*0.9 {
		t.Errorf("poster mean luma %.0f, a fully faded-in frame has %.0f", mean, full)
	}
}

// lumaOfFrame returns the mean luma (0..255, full range) of a clip's frame at a time, per FFmpeg.
func lumaOfFrame(t *testing.T, path, at string) float64 {
	t.Helper()
	gray := ffmpeg(t, "-ss", at, "-i", path, "-frames:v", "1", "-vf", "scale=out_range=full", "-f", "rawvideo", "-pix_fmt", "gray", "-")
	var sum float64
	for _, v := range gray {
		sum += float64(v)
	}
	return sum / float64(len(gray))
}

// frameSizes returns the sizes of a clip's decoded pictures per ffprobe, in order, each once
// per run of pictures of that size.
func frameSizes(t *testing.T, path string) []string {
	t.Helper()
	var probe struct {
		Frames []struct {
			Width  int `json:"width"`
			Height int `json:"height"`
		} `json:"frames"`
	}
	out := ffprobe(t, "-select_streams", "v:0", "-show_entries", "frame=width,height", "-of", "json", path)
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	var sizes []string
	for _, f := range probe.Frames {
		if s := fmt.Sprintf("%dx%d", f.Width, f.Height); len(sizes) == 0 || sizes[len(sizes)-1] != s {
			sizes = append(sizes, s)
		}
	}
	return sizes
}

// TestRunSizeChangeTooLarge: a stream whose header gives a size within the limits and whose
// pictures then grow past them is refused as too large, a final *RejectError, whichever way the
// growth shows: the decoder refusing the pictures (max_pixels; an H.264 decoder keeps the size
// it refused, a VP9 decoder 0x0) or the decoded picture beyond the limits. The limits are small
// so that the clip stays small: 320x240 then 1280x720 against 640.
func TestRunSizeChangeTooLarge(t *testing.T) {
	for _, tc := range []struct {
		name                string
		clip                string
		maxWidth, maxHeight int
		detail              string
	}{
		{"H.264 refused by the decoder", "grows.ts", 640, 640, "the stream changes to 1280x720 pictures, beyond 640x640"},
		{"VP9 refused by the decoder", "grows.webm", 640, 640, "the stream changes to pictures the decoder refuses"},
		// 640x1600 lets the decoder allocate 1280x720 pictures: the decoded picture is refused.
		{"H.264 picture", "grows.ts", 640, 1600, "a picture of 1280x720 at 1s exceeds 640x1600"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := clip(t, tc.clip)
			if got, want := frameSizes(t, path), []string{"320x240", "1280x720"}; !slices.Equal(got, want) {
				t.Fatalf("%s has pictures of %v, want %v", tc.clip, got, want)
			}
			tr, err := New(Config{Preset: "ultrafast", MaxWidth: tc.maxWidth, MaxHeight: tc.maxHeight})
			if err != nil {
				t.Fatal(err)
			}
			// The header passes: only the pictures tell.
			if info, err := tr.Probe(context.Background(), Input{Path: path}); err != nil || info.Width != 320 || info.Height != 240 {
				t.Fatalf("Probe = %v, %v; want 320x240 accepted", info, err)
			}
			_, err = tr.Run(context.Background(), Input{Path: path}, &fakeSink{}, nil)
			var rej *RejectError
			if !errors.As(err, &rej) || rej.Reason != ReasonTooLarge || !strings.Contains(rej.Detail, tc.detail) {
				t.Fatalf("Run error = %v, want too_large with %q", err, tc.detail)
			}
			t.Logf("%v", err)
		})
	}
}

// BenchmarkRun measures a full transcode of the 4 s 1080x1920 clip: four rungs and audio.
func BenchmarkRun(b *testing.B) {
	path := clip(b, "portrait.mp4")
	tr, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := tr.Run(context.Background(), Input{Path: path}, &fakeSink{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPresetOptions reads, from the options string libx264 writes into its first access unit,
// what each preset really asks of the encoder: the reelay preset is veryfast with a diamond
// motion search and at most two B-frames, and x264's own presets are left as x264 has them.
func TestPresetOptions(t *testing.T) {
	ladder, err := ParseLadder("180p:300k")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		preset string
		want   []string
	}{
		{"", []string{" me=dia ", " subme=2 ", " bframes=2 ", " rc_lookahead=10 "}},
		{"veryfast", []string{" me=hex ", " subme=2 ", " bframes=3 ", " rc_lookahead=10 "}},
		{"faster", []string{" me=hex ", " subme=4 ", " bframes=3 "}},
	} {
		t.Run(tc.preset, func(t *testing.T) {
			_, sink := run(t, Config{Preset: tc.preset, Ladder: ladder}, Input{Path: clip(t, "vga_noaudio.mp4")})
			first := sink.videos[0].samples[0].Data
			i := bytes.Index(first, []byte("x264 - core"))
			if i < 0 {
				t.Fatalf("no x264 options in the first sample (%d bytes)", len(first))
			}
			opts := string(first[i:])
			if end := strings.IndexByte(opts, 0); end >= 0 {
				opts = opts[:end]
			}
			for _, w := range tc.want {
				if !strings.Contains(opts, w) {
					t.Errorf("preset %q: x264 options lack %q: %s", tc.preset, w, opts)
				}
			}
		})
	}
}
