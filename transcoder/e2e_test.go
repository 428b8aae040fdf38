package transcoder

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"image/jpeg"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/packager"
	"github.com/reelay/reelay/storage"
)

// Tolerances of the timeline checks, in seconds.
const (
	// aacFrame is the length of one AAC frame at the output sample rate.
	aacFrame = float64(aacFrameSize) / audioSampleRate
	// epsilon absorbs the rounding of ffprobe's times (1 µs) and of EXTINF (10 µs).
	epsilon = 0.001
)

// TestEndToEnd transcodes clips into the real packager over the real file store and checks each
// presentation as a player would: every playlist parses and says what the clip is; every segment
// starts with a keyframe, the rungs and the audio start their segments together, and the whole
// lasts as long as the source; and FFmpeg plays master.m3u8 through without an error.
func TestEndToEnd(t *testing.T) {
	portrait := map[string]string{"1080p": "1080x1920", "720p": "720x1280", "540p": "540x960", "360p": "360x640"}
	for _, tc := range []struct {
		clip      string
		variants  map[string]string // rendition name → RESOLUTION
		frameRate float64           // FRAME-RATE of every variant
		audio     bool
		segment   time.Duration // 0 for DefaultSegmentDuration
		long      bool          // skipped with -short
	}{
		{clip: "portrait.mp4", variants: portrait, frameRate: 30, audio: true},
		// Stored 1920x1080 and turned upright by its display matrix: the rungs are portrait. The
		// clip lasts 1 s: short segments give the rungs and the audio a cut to agree on.
		{clip: "landscape_rot90.mp4", variants: portrait, frameRate: 30, audio: true, segment: 500 * time.Millisecond},
		{clip: "vga_noaudio.mp4", variants: map[string]string{"360p": "480x360"}, frameRate: 30},
		// Frames of 1/30 and 3/30 s, made constant at the stream's base rate.
		{clip: "vfr.mp4", variants: map[string]string{"360p": "360x640"}, frameRate: 30},
		// 2 s at 59.94 fps: in 500 ms segments, a cut falls between two frames (the 30th is at
		// 500.5 ms), so segments last 29 or 30 frames.
		{clip: "ntsc60.mp4", variants: map[string]string{"180p": "180x320"}, frameRate: 59.94, segment: 500 * time.Millisecond},
		{clip: "long.mp4", variants: map[string]string{"144p": "144x256"}, frameRate: 15, audio: true, long: true},
	} {
		t.Run(strings.TrimSuffix(tc.clip, ".mp4"), func(t *testing.T) {
			if tc.long && testing.Short() {
				t.Skip("60 s clip")
			}
			src := clip(t, tc.clip)
			seg := cmp.Or(tc.segment, DefaultSegmentDuration)
			dir := transcodeToHLS(t, src, seg)
			p := checkPlaylists(t, dir, tc.variants, tc.frameRate, tc.audio)
			checkTimeline(t, p, seg.Seconds(), 1/tc.frameRate, sourceDuration(t, src))

			poster, err := os.ReadFile(filepath.Join(dir, layout.Poster))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jpeg.DecodeConfig(bytes.NewReader(poster)); err != nil {
				t.Errorf("poster: %v", err)
			}
			// A player's view: FFmpeg reads the whole presentation without a single error.
			if stderr := ffmpegErrors(t, filepath.Join(dir, layout.Master)); stderr != "" {
				t.Errorf("ffmpeg playing master.m3u8:\n%s", stderr)
			}
		})
	}
}

// TestAudioStartsOnTime: the source's first audio sample plays at 0, with the first picture,
// not one AAC frame (21 ms) late behind the encoder's priming samples. FFmpeg decodes the audio
// rendition on its own timeline (-copyts: as a player that honours the edit list places it) from
// 0, and the sine starts where the source's does.
func TestAudioStartsOnTime(t *testing.T) {
	src := clip(t, "small.mp4")
	dir := transcodeToHLS(t, src, 0)
	audio := filepath.Join(dir, "audio")
	var whole []byte
	whole = append(whole, readFile(t, filepath.Join(audio, layout.Init))...)
	for i := 1; ; i++ {
		b, err := os.ReadFile(filepath.Join(audio, layout.SegmentName(i)))
		if errors.Is(err, fs.ErrNotExist) && i > 1 {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		whole = append(whole, b...)
	}
	packaged := filepath.Join(t.TempDir(), "audio.mp4")
	writeFile(t, packaged, whole)

	want, got := audioOnset(t, src), audioOnset(t, packaged)
	t.Logf("the sine starts at %.2f ms in the source, %.2f ms in the packaged audio", want*1000, got*1000)
	if math.Abs(got-want) > 0.002 { // the priming frame is 21.3 ms: 2 ms tells them apart
		t.Errorf("the audio starts at %.2f ms, the source's at %.2f ms", got*1000, want*1000)
	}
}

// audioOnset decodes the first audio stream of file from time 0 on its own timeline, and returns
// when its first sample louder than -26 dBFS plays, in seconds.
func audioOnset(t *testing.T, file string) float64 {
	t.Helper()
	const rate = 48000
	pcm := ffmpeg(t, "-copyts", "-i", file, "-vn", "-af", "atrim=start=0,asetpts=PTS-STARTPTS",
		"-ac", "1", "-ar", strconv.Itoa(rate), "-f", "s16le", "-")
	for i := 0; i+1 < len(pcm); i += 2 {
		if v := int16(binary.LittleEndian.Uint16(pcm[i:])); v > 1600 || v < -1600 {
			return float64(i/2) / rate
		}
	}
	t.Fatalf("%s: no sound", file)
	return 0
}

// transcodeToHLS transcodes src with the default configuration but for the segment duration
// into a packager writing to a file store, and returns the directory of the presentation.
func transcodeToHLS(t *testing.T, src string, seg time.Duration) string {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	store, err := storage.NewFSWith(root, storage.FSOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "videos/v1/"
	p, err := packager.New(packager.Config{Store: store, Prefix: prefix, SegmentDuration: seg})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(Config{SegmentDuration: seg})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Run(ctx, Input{Path: src}, PackagerSink(p), nil)
	if err != nil {
		t.Fatal(err)
	}
	pres, err := p.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := len(res.Renditions)
	if res.Audio {
		want++
	}
	if len(pres.Renditions) != want {
		t.Errorf("packager result %+v for %d video renditions, audio %v", pres, len(res.Renditions), res.Audio)
	}
	return filepath.Join(root, "objects", prefix)
}

// presentation is a packaged video as its playlists describe it.
type presentation struct {
	dir    string
	videos []hlsRendition // in master.m3u8 order
	audio  *hlsRendition  // nil without audio
}

type hlsRendition struct {
	name    string // its directory
	media   *playlist.Media
	iframes *playlist.Media // I-frame playlist; nil for audio
}

// checkPlaylists parses every playlist of the presentation in dir, checks what a player relies
// on, and returns them. variants maps each expected rendition name to its RESOLUTION.
func checkPlaylists(t *testing.T, dir string, variants map[string]string, frameRate float64, audio bool) *presentation {
	t.Helper()
	raw := readFile(t, filepath.Join(dir, layout.Master))
	pl, err := playlist.Unmarshal(raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	mv, ok := pl.(*playlist.Multivariant)
	if !ok || !mv.IndependentSegments || len(mv.Variants) != len(variants) {
		t.Fatalf("multivariant playlist, want %d variants:\n%s", len(variants), raw)
	}
	p := &presentation{dir: dir}
	if audio {
		r := mv.Renditions
		if len(r) != 1 || r[0].Type != playlist.MultivariantRenditionTypeAudio || r[0].GroupID != packager.AudioGroupID || r[0].URI == nil {
			t.Fatalf("want one audio rendition in group %q:\n%s", packager.AudioGroupID, raw)
		}
		media, _ := mediaPlaylist(t, dir, *r[0].URI)
		p.audio = &hlsRendition{name: path.Dir(*r[0].URI), media: media}
	} else if len(mv.Renditions) != 0 {
		t.Errorf("a clip without audio has renditions %+v", mv.Renditions)
	}

	iframes := iframeStreams(raw)
	if len(iframes) != len(mv.Variants) {
		t.Errorf("%d I-frame streams for %d variants:\n%s", len(iframes), len(mv.Variants), raw)
	}
	seen := map[string]bool{}
	for _, v := range mv.Variants {
		name := path.Dir(v.URI)
		want, ok := variants[name]
		if !ok || seen[name] {
			t.Fatalf("variant %s unexpected or listed twice:\n%s", name, raw)
		}
		seen[name] = true
		checkVariant(t, v, want, frameRate, audio)
		r := hlsRendition{name: name}
		r.media, _ = mediaPlaylist(t, dir, v.URI)
		uri := name + "/" + layout.IFramePlaylist
		if attrs := iframes[uri]; len(v.Codecs) == 0 || attrs["RESOLUTION"] != v.Resolution || attrs["CODECS"] != `"`+v.Codecs[0]+`"` {
			t.Errorf("variant %s: I-frame stream %v, want %s at %s with the video's CODECS of %q", name, attrs, uri, v.Resolution, v.Codecs)
		}
		r.iframes = iframePlaylist(t, dir, uri, r.media)
		p.videos = append(p.videos, r)
	}
	return p
}

// checkVariant checks the EXT-X-STREAM-INF of a video variant.
func checkVariant(t *testing.T, v *playlist.MultivariantVariant, resolution string, frameRate float64, audio bool) {
	t.Helper()
	codecs, group := 1, ""
	if audio {
		codecs, group = 2, packager.AudioGroupID
	}
	var fr float64
	if v.FrameRate != nil {
		fr = *v.FrameRate
	}
	// avc1.64: High profile, as libx264 makes it with the default preset.
	if v.Resolution != resolution || len(v.Codecs) != codecs || !strings.HasPrefix(v.Codecs[0], "avc1.64") ||
		(audio && v.Codecs[1] != "mp4a.40.2") || v.Audio != group || math.Abs(fr-frameRate) > 0.001 || v.Bandwidth <= 0 {
		t.Errorf("variant %s: RESOLUTION %s, CODECS %q, AUDIO %q, FRAME-RATE %v, BANDWIDTH %d; want %s, %d codecs, audio %v, %v",
			v.URI, v.Resolution, v.Codecs, v.Audio, fr, v.Bandwidth, resolution, codecs, audio, frameRate)
	}
}

// iframePlaylist parses and checks the I-frame playlist at uri under dir: one entry per media
// segment, a byte range from the start of each.
func iframePlaylist(t *testing.T, dir, uri string, media *playlist.Media) *playlist.Media {
	t.Helper()
	m, raw := mediaPlaylist(t, dir, uri)
	if !bytes.Contains(raw, []byte("\n#EXT-X-I-FRAMES-ONLY\n")) || len(m.Segments) != len(media.Segments) {
		t.Fatalf("%s: want EXT-X-I-FRAMES-ONLY and %d entries:\n%s", uri, len(media.Segments), raw)
	}
	for i, s := range m.Segments {
		if s.ByteRangeLength == nil || *s.ByteRangeLength == 0 || s.ByteRangeStart == nil || *s.ByteRangeStart != 0 ||
			s.URI != media.Segments[i].URI || s.Duration != media.Segments[i].Duration {
			t.Errorf("%s entry %d: %+v; want a byte range from 0 of media segment %+v", uri, i, s, media.Segments[i])
		}
	}
	return m
}

var (
	iframeStreamTag = regexp.MustCompile(`(?m)^#EXT-X-I-FRAME-STREAM-INF:(.*)$`)
	attribute       = regexp.MustCompile(`([A-Z0-9-]+)=("[^"]*"|[^,]*)`)
)

// iframeStreams returns the attributes of each EXT-X-I-FRAME-STREAM-INF of a multivariant
// playlist by URI (gohlslib ignores the tag). Quoted values keep their quotes.
func iframeStreams(master []byte) map[string]map[string]string {
	streams := map[string]map[string]string{}
	for _, m := range iframeStreamTag.FindAllSubmatch(master, -1) {
		attrs := map[string]string{}
		for _, a := range attribute.FindAllSubmatch(m[1], -1) {
			attrs[string(a[1])] = string(a[2])
		}
		streams[strings.Trim(attrs["URI"], `"`)] = attrs
	}
	return streams
}

// mediaPlaylist parses the media or I-frame playlist at uri under dir and checks that it is a
// finished VOD playlist of fMP4 segments whose EXT-X-TARGETDURATION covers every segment.
func mediaPlaylist(t *testing.T, dir, uri string) (*playlist.Media, []byte) {
	t.Helper()
	raw := readFile(t, filepath.Join(dir, uri))
	pl, err := playlist.Unmarshal(raw)
	if err != nil {
		t.Fatalf("%s: %v\n%s", uri, err, raw)
	}
	m, ok := pl.(*playlist.Media)
	if !ok || m.PlaylistType == nil || *m.PlaylistType != playlist.MediaPlaylistTypeVOD || !m.Endlist ||
		m.Map == nil || m.Map.URI != layout.Init || len(m.Segments) == 0 {
		t.Fatalf("%s: want a VOD playlist with EXT-X-MAP and EXT-X-ENDLIST:\n%s", uri, raw)
	}
	for _, s := range m.Segments {
		// RFC 8216 §4.3.3.1: each EXTINF, rounded to the nearest integer, is at most the target.
		if s.Duration <= 0 || int(math.Round(s.Duration.Seconds())) > m.TargetDuration {
			t.Errorf("%s: %s lasts %v, EXT-X-TARGETDURATION is %d", uri, s.URI, s.Duration, m.TargetDuration)
		}
	}
	return m, raw
}

// checkTimeline probes every segment of p with ffprobe and checks the timeline they make: the
// rungs cut at the same times, the audio with them, and the whole as long as the source.
func checkTimeline(t *testing.T, p *presentation, segDur, frameDur, srcDur float64) {
	t.Helper()
	var first []segmentProbe // of the first video rendition
	for _, v := range p.videos {
		probes := probeRendition(t, p.dir, v, true)
		checkSegmentDurations(t, v, segDur, frameDur)
		for i, s := range v.iframes.Segments {
			// The I-frame entry is the moof, the mdat header and the IDR picture: the first sample.
			if i < len(probes) && s.ByteRangeLength != nil && int64(*s.ByteRangeLength) != probes[i].firstSampleEnd {
				t.Errorf("%s I-frame entry %d: %d bytes, the segment's first sample ends at %d",
					v.name, i, *s.ByteRangeLength, probes[i].firstSampleEnd)
			}
		}
		if first == nil {
			first = probes
			continue
		}
		if len(probes) != len(first) {
			t.Errorf("%s has %d segments, %s %d", v.name, len(probes), p.videos[0].name, len(first))
		}
		for i := range min(len(probes), len(first)) {
			if d := probes[i].start - first[i].start; math.Abs(d) > frameDur+epsilon {
				t.Errorf("%s segment %d starts at %.6f s, %s's at %.6f s", v.name, i+1, probes[i].start, p.videos[0].name, first[i].start)
			}
		}
	}

	// The picture lasts as long as the source's video stream (an audio stream that runs on does
	// not make the output video longer), to the nearest frame of the constant output rate: half
	// a frame either way, so that a frame too many or too few shows.
	end := first[len(first)-1].end
	var total float64
	for _, s := range p.videos[0].media.Segments {
		total += s.Duration.Seconds()
	}
	if math.Abs(end-srcDur) > frameDur/2+epsilon || math.Abs(end-total) > epsilon {
		t.Errorf("video ends at %.6f s, EXTINF add up to %.6f s; the source lasts %.6f s", end, total, srcDur)
	}

	if p.audio == nil {
		return
	}
	probes := probeRendition(t, p.dir, *p.audio, false)
	checkSegmentDurations(t, *p.audio, segDur, aacFrame)
	if len(probes) != len(first) {
		t.Errorf("audio has %d segments, video %d", len(probes), len(first))
	}
	// An audio segment starts with the AAC frame nearest the cut (half a frame away at most), a
	// video segment with the first picture at or after it (up to a frame late where frames do
	// not fall on the cut): allow one AAC frame. (That the audio content starts on time, the
	// encoder's priming frame hidden by the edit list, TestAudioStartsOnTime checks.)
	for i := range min(len(probes), len(first)) {
		if d := probes[i].start - first[i].start; math.Abs(d) > aacFrame+epsilon {
			t.Errorf("audio segment %d starts at %.6f s, video segment at %.6f s", i+1, probes[i].start, first[i].start)
		}
	}
	// The audio ends with the video, give or take what is explained: the packager drops a last
	// audio segment that starts less than half a frame before the video's end; and FFmpeg
	// decodes the source's last AAC frame whole, its encoder padding included (FFmpeg 5.1's mov
	// demuxer does not trim it, and the ffmpeg CLI keeps it too): up to 1024 samples at the
	// clips' 44.1 kHz, and the last output frame may run past it by up to one frame.
	var aend float64
	for _, s := range p.audio.media.Segments {
		aend += s.Duration.Seconds()
	}
	if d := aend - end; d < -aacFrame/2-epsilon || d > aacFrame+1024.0/44100+epsilon {
		t.Errorf("audio ends at %.6f s (EXTINF), video at %.6f s", aend, end)
	}
}

// checkSegmentDurations checks that every segment of r but the last lasts the segment duration
// (segments are cut at the first sample at or after each boundary, which may be up to a sample
// late, or for audio the nearest one), and the last one at most that.
func checkSegmentDurations(t *testing.T, r hlsRendition, segDur, sampleDur float64) {
	t.Helper()
	for i, s := range r.media.Segments {
		d := s.Duration.Seconds()
		if i < len(r.media.Segments)-1 && math.Abs(d-segDur) > sampleDur+epsilon || d > segDur+sampleDur+epsilon {
			t.Errorf("%s %s lasts %v, want %v s give or take %.6f s", r.name, s.URI, s.Duration, segDur, sampleDur)
		}
	}
}

// segmentProbe is what ffprobe finds in one media segment, read behind its init segment.
type segmentProbe struct {
	start, end     float64 // presentation time of the first sample and of the end of the last, s
	firstSampleEnd int64   // offset in the segment of the end of its first sample
}

// probeRendition probes each segment of r. A video segment must open with a keyframe; and each
// segment must start where the one before ends, by its samples and by the EXTINF before it, so
// that the timeline starts at 0 and has no gap. (A segment's end is not compared with its own
// EXTINF here: ffprobe makes every AAC packet 1024 samples long, also a shorter last one.)
func probeRendition(t *testing.T, dir string, r hlsRendition, video bool) []segmentProbe {
	t.Helper()
	init := readFile(t, filepath.Join(dir, r.name, r.media.Map.URI))
	file := filepath.Join(t.TempDir(), "seg.mp4")
	var probes []segmentProbe
	prevEnd, extinf := 0.0, 0.0
	for i, seg := range r.media.Segments {
		writeFile(t, file, append(slices.Clone(init), readFile(t, filepath.Join(dir, r.name, seg.URI))...))
		s, keyframe := probeSegment(t, file, int64(len(init)))
		if video && !keyframe {
			t.Errorf("%s %s does not start with a keyframe", r.name, seg.URI)
		}
		if i == 0 && !video && s.start < 0 {
			// The encoder's priming frame, decoded before 0 and not presented: the init
			// segment's edit list starts the presentation after it.
			if s.start < -aacFrame-epsilon {
				t.Errorf("%s %s starts at %.6f s: more than the priming frame before 0", r.name, seg.URI, s.start)
			}
			s.start = 0
		}
		if math.Abs(s.start-prevEnd) > epsilon || math.Abs(s.start-extinf) > epsilon {
			t.Errorf("%s %s starts at %.6f s; the segment before ends at %.6f s, the EXTINF before it add up to %.6f s",
				r.name, seg.URI, s.start, prevEnd, extinf)
		}
		probes = append(probes, s)
		prevEnd, extinf = s.end, extinf+seg.Duration.Seconds()
	}
	return probes
}

// probeSegment probes a file holding an init segment of initLen bytes and one media segment;
// keyframe reports whether the first picture (or audio frame) decoded is a keyframe.
//
// Times come from the packets, not the decoded frames: FFmpeg's mov demuxer presents a fragment
// with negative composition offsets (trun version 1, which the packager writes for B-frames)
// shifted later by the largest of them, so FFmpeg's pts is not the presentation time. Its dts is
// the decode time of the file, and the first sample of a video segment, an IDR picture, decodes
// when it is presented (package packager, "Timestamps"): so the shift is the first packet's
// pts - dts, which is 0 without B-frames and for audio.
func probeSegment(t *testing.T, file string, initLen int64) (s segmentProbe, keyframe bool) {
	t.Helper()
	var probe struct {
		Items []struct {
			Type     string `json:"type"`
			PTS      string `json:"pts_time"`
			DTS      string `json:"dts_time"`
			Duration string `json:"duration_time"`
			Pos      string `json:"pos"`
			Size     string `json:"size"`
			KeyFrame int    `json:"key_frame"`
		} `json:"packets_and_frames"`
	}
	out := ffprobe(t, "-show_packets", "-show_frames", "-show_entries",
		"packet=pts_time,dts_time,duration_time,pos,size:frame=key_frame", "-of", "json", file)
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatalf("ffprobe %s: %v", out, err)
	}
	seconds := func(v string) float64 {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("ffprobe time %q: %v", v, err)
		}
		return f
	}
	var shift float64
	packets, frames := 0, 0
	for _, it := range probe.Items {
		switch it.Type {
		case "frame":
			if frames++; frames == 1 {
				keyframe = it.KeyFrame == 1
			}
		case "packet":
			// ffprobe reports no duration for the first AAC packet of a segment.
			pts, end := seconds(it.PTS), seconds(it.PTS)
			if it.Duration != "" {
				end += seconds(it.Duration)
			}
			if packets++; packets == 1 {
				shift = pts - seconds(it.DTS)
				s.start, s.end = pts, end
				pos, _ := strconv.ParseInt(it.Pos, 10, 64)
				size, _ := strconv.ParseInt(it.Size, 10, 64)
				s.firstSampleEnd = pos + size - initLen
			}
			s.start, s.end = min(s.start, pts), max(s.end, end)
		}
	}
	if packets == 0 || frames != packets {
		t.Fatalf("%s: %d packets, %d frames decoded:\n%s", file, packets, frames, out)
	}
	s.start -= shift
	s.end -= shift
	return s, keyframe
}

// ffmpegErrors plays a playlist with FFmpeg and returns what it reports at level error.
func ffmpegErrors(t *testing.T, playlist string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", playlist, "-map", "0", "-f", "null", "-")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(stderr.String())
}

// sourceDuration returns the duration of a clip's video stream per ffprobe, in seconds.
func sourceDuration(t *testing.T, path string) float64 {
	t.Helper()
	var probe struct {
		Streams []struct {
			Duration string `json:"duration"`
		} `json:"streams"`
	}
	out := ffprobe(t, "-select_streams", "v:0", "-show_entries", "stream=duration", "-of", "json", path)
	if err := json.Unmarshal(out, &probe); err != nil || len(probe.Streams) != 1 {
		t.Fatalf("ffprobe %s: %s, %v", path, out, err)
	}
	d, err := strconv.ParseFloat(probe.Streams[0].Duration, 64)
	if err != nil {
		t.Fatalf("ffprobe duration of %s: %v", path, err)
	}
	return d
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
