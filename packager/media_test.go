package packager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/reelay/reelay/internal/testenv"
	"github.com/reelay/reelay/storage"
)

// This file makes test input with the ffmpeg CLI and inspects output with ffprobe.

// needFFmpeg skips t when ffmpeg or ffprobe is missing, unless REELAY_TEST_SERVICES=require.
func needFFmpeg(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		testenv.RequireCommand(t, bin)
	}
}

// run runs a command and returns its stdout; it fails t on any error or stderr output.
func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// clipOptions describes a test clip.
type clipOptions struct {
	width, height int
	seconds       float64
	gop           int  // frames between IDRs (30 fps)
	bframes       int  // -bf
	audio         bool // also make 48 kHz stereo AAC-LC
}

// clip is encoded test input cut into packager Samples.
type clip struct {
	video      VideoTrack
	videoPkts  []Sample // decode order, 90 kHz, Annex-B with SPS/PPS before each IDR
	audio      AudioTrack
	audioPkts  []Sample // 48 kHz; the first one is the encoder's priming frame, at PTS -1024
	frameCount int
}

// makeClip encodes a clip with ffmpeg (libx264, native aac) and parses it into Samples. Video
// timestamps come from ffprobe on an MP4 with a 90 kHz track; the Annex-B access units come from
// the same packets through h264_mp4toannexb, with AUDs inserted to delimit them.
func makeClip(t testing.TB, o clipOptions) *clip {
	t.Helper()
	needFFmpeg(t)
	dir := t.TempDir()
	mp4, h264File, aacFile := filepath.Join(dir, "v.mp4"), filepath.Join(dir, "v.h264"), filepath.Join(dir, "a.aac")
	args := []string{"-v", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=30:duration=%g", o.width, o.height, o.seconds)}
	if o.audio {
		args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("sine=f=440:sample_rate=48000:duration=%g", o.seconds))
	}
	args = append(args, "-map", "0:v", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
		"-g", strconv.Itoa(o.gop), "-keyint_min", strconv.Itoa(o.gop), "-sc_threshold", "0",
		"-bf", strconv.Itoa(o.bframes), "-video_track_timescale", "90000", "-f", "mp4", mp4)
	if o.audio {
		args = append(args, "-map", "1:a", "-c:a", "aac", "-ac", "2", "-b:a", "96k", "-f", "adts", aacFile)
	}
	run(t, "ffmpeg", args...)
	run(t, "ffmpeg", "-v", "error", "-y", "-i", mp4, "-c", "copy",
		"-bsf:v", "h264_mp4toannexb,h264_metadata=aud=insert", "-f", "h264", h264File)

	c := &clip{video: VideoTrack{Width: o.width, Height: o.height, FrameRateNum: 30, FrameRateDen: 1, TimeScale: 90000}}
	pkts := probePackets(t, mp4, "v")
	raw, err := os.ReadFile(h264File)
	if err != nil {
		t.Fatal(err)
	}
	aus := splitAccessUnits(t, raw)
	if len(aus) != len(pkts) {
		t.Fatalf("%d access units in the Annex-B stream, %d packets in the MP4", len(aus), len(pkts))
	}
	for i, p := range pkts {
		au := aus[i]
		if i == 0 {
			for _, n := range au {
				switch h264.NALUType(n[0] & 0x1F) {
				case h264.NALUTypeSPS:
					c.video.SPS = n
				case h264.NALUTypePPS:
					c.video.PPS = n
				}
			}
		}
		data, err := h264.AnnexB(au).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		c.videoPkts = append(c.videoPkts, Sample{PTS: p.PTS, DTS: p.DTS, Duration: p.Duration, Keyframe: p.Keyframe, Data: data})
	}
	c.frameCount = len(c.videoPkts)

	if o.audio {
		raw, err := os.ReadFile(aacFile)
		if err != nil {
			t.Fatal(err)
		}
		var adts mpeg4audio.ADTSPackets
		if err := adts.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		asc, err := (&mpeg4audio.AudioSpecificConfig{Type: adts[0].Type, SampleRate: adts[0].SampleRate, ChannelCount: adts[0].ChannelCount}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		c.audio = AudioTrack{Config: asc, SampleRate: adts[0].SampleRate, Channels: adts[0].ChannelCount, TimeScale: 48000}
		for i, p := range adts {
			ts := int64(i-1) * 1024
			c.audioPkts = append(c.audioPkts, Sample{PTS: ts, DTS: ts, Duration: 1024, Keyframe: true, Data: p.AU})
		}
	}
	return c
}

// splitAccessUnits cuts an Annex-B stream into access units at its access unit delimiters, which
// it drops.
func splitAccessUnits(t testing.TB, stream []byte) [][][]byte {
	t.Helper()
	var nalus h264.AnnexB
	if err := nalus.Unmarshal(stream); err != nil {
		t.Fatal(err)
	}
	var aus [][][]byte
	for _, n := range nalus {
		if h264.NALUType(n[0]&0x1F) == h264.NALUTypeAccessUnitDelimiter {
			aus = append(aus, nil)
			continue
		}
		if len(aus) == 0 {
			t.Fatal("stream does not start with an access unit delimiter")
		}
		aus[len(aus)-1] = append(aus[len(aus)-1], n)
	}
	return aus
}

// packet is a packet as ffprobe reports it, in its stream's time base.
type packet struct {
	PTS, DTS, Duration int64
	Keyframe           bool
	Size               int
}

// probePackets returns the packets of the first stream of a type ("v" or "a") of a file.
func probePackets(t testing.TB, file, stream string) []packet {
	t.Helper()
	out := run(t, "ffprobe", "-v", "error", "-select_streams", stream+":0",
		"-show_entries", "packet=pts,dts,duration,flags,size", "-of", "json", file)
	var doc struct {
		Packets []struct {
			PTS      *int64 `json:"pts"`
			DTS      *int64 `json:"dts"`
			Duration int64  `json:"duration"`
			Flags    string `json:"flags"`
			Size     string `json:"size"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("ffprobe output: %v\n%s", err, out)
	}
	var pkts []packet
	for _, p := range doc.Packets {
		if p.PTS == nil || p.DTS == nil {
			t.Fatalf("%s: packet without timestamps", file)
		}
		size, _ := strconv.Atoi(p.Size)
		pkts = append(pkts, packet{PTS: *p.PTS, DTS: *p.DTS, Duration: p.Duration, Keyframe: len(p.Flags) > 0 && p.Flags[0] == 'K', Size: size})
	}
	return pkts
}

// probeStream returns ffprobe's description of the first stream of a type in a file.
func probeStream(t testing.TB, file, stream string) map[string]any {
	t.Helper()
	out := run(t, "ffprobe", "-v", "error", "-select_streams", stream+":0", "-show_streams", "-of", "json", file)
	var doc struct {
		Streams []map[string]any `json:"streams"`
	}
	if err := json.Unmarshal(out, &doc); err != nil || len(doc.Streams) != 1 {
		t.Fatalf("ffprobe output: %v\n%s", err, out)
	}
	return doc.Streams[0]
}

// writeAll writes every sample of each rendition from its own goroutine, as the transcoder does.
func writeAll(t testing.TB, work map[*Rendition][]Sample) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(work))
	for r, samples := range work {
		wg.Go(func() {
			for i, s := range samples {
				if err := r.WriteSample(context.Background(), s); err != nil {
					errs <- fmt.Errorf("%s sample %d: %w", r.Name(), i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// recordingStore is a Store that records the keys it is asked to Put, in order, and can be made
// to fail a Put.
type recordingStore struct {
	storage.Store
	fail func(key string) error // nil: never fail

	mu   sync.Mutex
	puts []string
}

func (s *recordingStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts storage.PutOptions) (storage.Info, error) {
	if s.fail != nil {
		if err := s.fail(key); err != nil {
			return storage.Info{}, err
		}
	}
	info, err := s.Store.Put(ctx, key, r, size, opts)
	if err == nil {
		s.mu.Lock()
		s.puts = append(s.puts, key)
		s.mu.Unlock()
	}
	return info, err
}

func (s *recordingStore) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.puts...)
}

// newFSStore returns a recording store over an fs store in a temporary directory, and the
// directory in which the fs store keeps object bytes (objects/<key>).
func newFSStore(t testing.TB) (*recordingStore, string) {
	t.Helper()
	root := t.TempDir()
	fs, err := storage.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	return &recordingStore{Store: fs}, filepath.Join(root, "objects")
}

// get reads a whole object.
func get(t testing.TB, s storage.Store, key string) []byte {
	t.Helper()
	rc, _, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
