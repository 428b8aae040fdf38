package packager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
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

	gomp4 "github.com/abema/go-mp4"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/reelay/reelay/internal/httpsem"
	"github.com/reelay/reelay/storage"
)

const testPrefix = "videos/abc123/"

func posterJPEG(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 16, 16)), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// parseMedia reads and parses a media playlist, checking the tags every one of ours must have.
func parseMedia(t testing.TB, s storage.Store, key string) (*playlist.Media, string) {
	t.Helper()
	raw := get(t, s, key)
	pl, err := playlist.Unmarshal(raw)
	if err != nil {
		t.Fatalf("%s: %v\n%s", key, err, raw)
	}
	m, ok := pl.(*playlist.Media)
	if !ok {
		t.Fatalf("%s is not a media playlist", key)
	}
	if m.Version != 7 || !m.IndependentSegments || !m.Endlist || m.PlaylistType == nil ||
		*m.PlaylistType != playlist.MediaPlaylistTypeVOD || m.Map == nil || m.Map.URI != "init.mp4" {
		t.Errorf("%s: missing or wrong playlist tags:\n%s", key, raw)
	}
	for _, seg := range m.Segments {
		if r := int(math.Round(seg.Duration.Seconds())); r > m.TargetDuration {
			t.Errorf("%s: EXTINF %v rounds to %d, above TARGETDURATION %d", key, seg.Duration, r, m.TargetDuration)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^#EXTINF:\d+\.\d{3,},`).FindAll(raw, -1)); n != len(m.Segments) {
		t.Errorf("%s: %d EXTINF with 3+ decimals for %d segments:\n%s", key, n, len(m.Segments), raw)
	}
	return m, string(raw)
}

// segmentInfo describes one media segment.
type segmentInfo struct {
	start   float64 // earliest presentation time in seconds, from the fMP4 boxes
	extinf  float64
	pts     []int64  // presentation times from the fMP4 boxes (tfdt, durations, signed offsets)
	packets []packet // as ffprobe demuxes the segment after its init segment
}

// probeSegments checks every segment of a rendition: its fMP4 boxes give the presentation times
// as ISO/IEC 14496-12 defines them, and ffprobe must demux it after the init segment and find a
// keyframe first.
func probeSegments(t testing.TB, s storage.Store, dir string, m *playlist.Media, stream string) []segmentInfo {
	t.Helper()
	initBytes := get(t, s, dir+"init.mp4")
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(initBytes)); err != nil || len(init.Tracks) != 1 {
		t.Fatalf("%sinit.mp4: %v", dir, err)
	}
	scale := float64(init.Tracks[0].TimeScale)
	hidden := editListStart(t, initBytes)
	var out []segmentInfo
	for i, seg := range m.Segments {
		if want := fmt.Sprintf("seg_%05d.m4s", i+1); seg.URI != want {
			t.Errorf("%s segment %d is %q, want %q", dir, i, seg.URI, want)
		}
		data := get(t, s, dir+seg.URI)
		var parts fmp4.Parts
		if err := parts.Unmarshal(data); err != nil || len(parts) != 1 || len(parts[0].Tracks) != 1 {
			t.Fatalf("%s%s: %v", dir, seg.URI, err)
		}
		info := segmentInfo{extinf: seg.Duration.Seconds()}
		tr := parts[0].Tracks[0]
		dts, ticks := int64(tr.BaseTime), int64(0)
		for _, smp := range tr.Samples {
			info.pts = append(info.pts, dts+int64(smp.PTSOffset))
			dts += int64(smp.Duration)
			ticks += int64(smp.Duration)
		}
		// Presented: the ticks that the edit list skips are not.
		info.start = float64(max(slices.Min(info.pts)-hidden, 0)) / scale
		if i == 0 {
			ticks -= hidden
		}
		if got := float64(ticks) / scale; math.Abs(got-info.extinf) > 1e-5 {
			t.Errorf("%s%s: EXTINF %.5f, samples last %.5f", dir, seg.URI, info.extinf, got)
		}
		info.packets = probePackets(t, writeTemp(t, initBytes, data), stream)
		if len(info.packets) != len(tr.Samples) || !info.packets[0].Keyframe || tr.Samples[0].IsNonSyncSample {
			t.Errorf("%s%s: %d packets, %d samples; does not start with a keyframe", dir, seg.URI, len(info.packets), len(tr.Samples))
		}
		out = append(out, info)
	}
	return out
}

// editListStart returns the media time at which the init segment's edit list starts the
// presentation, read with a parser of its own (go-mp4), or 0 without an edit list. An edit list
// must be what reelay writes: one edit, to the end of the media, at the normal rate.
func editListStart(t testing.TB, init []byte) int64 {
	t.Helper()
	boxes, err := gomp4.ExtractBoxWithPayload(bytes.NewReader(init), nil,
		gomp4.BoxPath{gomp4.BoxTypeMoov(), gomp4.BoxTypeTrak(), gomp4.BoxTypeEdts(), gomp4.BoxTypeElst()})
	if err != nil {
		t.Fatalf("init segment: %v", err)
	}
	if len(boxes) == 0 {
		return 0
	}
	elst := boxes[0].Payload.(*gomp4.Elst)
	if len(boxes) != 1 || elst.GetVersion() != 0 || len(elst.Entries) != 1 {
		t.Fatalf("edit list: %d boxes, version %d, %d entries; want one version 0 box of one edit", len(boxes), elst.GetVersion(), len(elst.Entries))
	}
	e := elst.Entries[0]
	if e.SegmentDurationV0 != 0 || e.MediaTimeV0 < 0 || e.MediaRateInteger != 1 {
		t.Fatalf("edit %+v: want duration 0 (to the end), media time 0 or more, rate 1", e)
	}
	return int64(e.MediaTimeV0)
}

func timeBase(t testing.TB, stream map[string]any) float64 {
	t.Helper()
	s, _ := stream["time_base"].(string)
	num, den, ok := strings.Cut(s, "/")
	n, err1 := strconv.ParseFloat(num, 64)
	d, err2 := strconv.ParseFloat(den, 64)
	if !ok || err1 != nil || err2 != nil || d == 0 {
		t.Fatalf("time base %q", s)
	}
	return n / d
}

// writeTemp writes the concatenation of parts to a temporary file and returns its name.
func writeTemp(t testing.TB, parts ...[]byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "*.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(slices.Concat(parts...)); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func totalExtinf(segs []segmentInfo) float64 {
	var d float64
	for _, s := range segs {
		d += s.extinf
	}
	return d
}

// checkAligned checks that video and audio segment N start within one AAC frame of each other.
func checkAligned(t testing.TB, video, audio []segmentInfo) {
	t.Helper()
	if len(video) != len(audio) {
		t.Fatalf("%d video segments, %d audio segments", len(video), len(audio))
	}
	for i := range video {
		if d := math.Abs(video[i].start - audio[i].start); d > 1024.0/48000+1e-6 {
			t.Errorf("segment %d: video starts at %.4f, audio at %.4f", i+1, video[i].start, audio[i].start)
		}
	}
}

// checkIFrames checks an I-frame playlist against the rendition's media playlist: one entry per
// segment, whose byte range is the moof, the mdat header and the whole first (IDR) sample, and
// which decodes on its own after the init segment.
func checkIFrames(t testing.TB, s storage.Store, dir string, media *playlist.Media) {
	t.Helper()
	key := dir + "iframes.m3u8"
	iframes, raw := parseMedia(t, s, key)
	if !strings.Contains(raw, "\n#EXT-X-I-FRAMES-ONLY\n") {
		t.Errorf("%s has no EXT-X-I-FRAMES-ONLY:\n%s", key, raw)
	}
	if len(iframes.Segments) != len(media.Segments) {
		t.Fatalf("%s: %d entries for %d segments", key, len(iframes.Segments), len(media.Segments))
	}
	init := get(t, s, dir+"init.mp4")
	for i, e := range iframes.Segments {
		if e.URI != media.Segments[i].URI || e.Duration != media.Segments[i].Duration {
			t.Errorf("%s entry %d: %s %v, want %s %v", key, i, e.URI, e.Duration, media.Segments[i].URI, media.Segments[i].Duration)
		}
		if e.ByteRangeLength == nil || e.ByteRangeStart == nil || *e.ByteRangeStart != 0 {
			t.Fatalf("%s entry %d: byte range %v@%v, want one from 0", key, i, e.ByteRangeLength, e.ByteRangeStart)
		}
		seg := get(t, s, dir+e.URI)
		var parts fmp4.Parts
		if err := parts.Unmarshal(seg); err != nil || len(parts) != 1 || len(parts[0].Tracks) != 1 {
			t.Fatalf("%s: %v (%d parts)", e.URI, err, len(parts))
		}
		first := parts[0].Tracks[0].Samples[0]
		moofSize := int(uint32(seg[0])<<24 | uint32(seg[1])<<16 | uint32(seg[2])<<8 | uint32(seg[3]))
		if want := uint64(moofSize + 8 + len(first.Payload)); *e.ByteRangeLength != want || first.IsNonSyncSample {
			t.Errorf("%s entry %d: length %d, want moof %d + mdat header 8 + IDR %d (sync %v)",
				key, i, *e.ByteRangeLength, moofSize, len(first.Payload), !first.IsNonSyncSample)
		}
		rangeBytes := seg[:*e.ByteRangeLength]
		if !bytes.Equal(rangeBytes[moofSize+4:moofSize+8], []byte("mdat")) ||
			!bytes.Equal(rangeBytes[len(rangeBytes)-len(first.Payload):], first.Payload) {
			t.Errorf("%s entry %d: the range does not end with the mdat header and the IDR", key, i)
		}
		// The range alone (as a player fetches it) decodes to one picture. ffprobe complains that
		// the file is partial: the moof lists the segment's other samples too.
		cmd := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
			"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", writeTemp(t, init, rangeBytes))
		out, err := cmd.Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != "1" {
			t.Errorf("%s entry %d: decoded %q frames (%v), want 1", key, i, got, err)
		}
	}
}

// wantObject is the content type and cache policy of an object key.
func wantObject(key string) (contentType, cacheControl string) {
	switch {
	case strings.HasSuffix(key, ".m3u8"):
		return httpsem.ContentTypePlaylist, httpsem.CachePlaylist
	case strings.HasSuffix(key, "poster.jpg"):
		return httpsem.ContentTypePoster, httpsem.CachePoster
	case strings.HasSuffix(key, "audio/init.mp4"):
		return "audio/mp4", httpsem.CacheImmutable
	case strings.HasSuffix(key, "init.mp4"):
		return "video/mp4", httpsem.CacheImmutable
	case strings.Contains(key, "audio/"):
		return "audio/mp4", httpsem.CacheImmutable
	default:
		return "video/iso.segment", httpsem.CacheImmutable
	}
}

// profileNames maps profile_idc to ffprobe's profile names.
var profileNames = map[uint64][]string{
	66: {"Baseline", "Constrained Baseline"}, 77: {"Main"}, 100: {"High"},
}

// checkCodecAgainstFFprobe checks an avc1 codec string against what ffprobe reports of the
// rendition's init segment.
func checkCodecAgainstFFprobe(t testing.TB, s storage.Store, dir, codec string) {
	t.Helper()
	st := probeStream(t, writeTemp(t, get(t, s, dir+"init.mp4"), get(t, s, dir+"seg_00001.m4s")), "v")
	hex, ok := strings.CutPrefix(codec, "avc1.")
	v, err := strconv.ParseUint(hex, 16, 32)
	if !ok || len(hex) != 6 || err != nil {
		t.Fatalf("codec %q", codec)
	}
	profile, level := v>>16, v&0xFF
	if p, _ := st["profile"].(string); !slices.Contains(profileNames[profile], p) {
		t.Errorf("%s: codec %s has profile_idc %d, ffprobe says %v", dir, codec, profile, st["profile"])
	}
	if got, _ := st["level"].(float64); got != float64(level) {
		t.Errorf("%s: codec %s has level_idc %d, ffprobe says %v", dir, codec, level, got)
	}
}

func TestLadderWithAudio(t *testing.T) {
	ctx := context.Background()
	hi := makeClip(t, clipOptions{width: 360, height: 640, seconds: 5, gop: 60, audio: true})
	lo := makeClip(t, clipOptions{width: 180, height: 320, seconds: 5, gop: 60})
	store, objects := newFSStore(t)
	p, err := New(Config{Store: store, Prefix: testPrefix})
	if err != nil {
		t.Fatal(err)
	}
	v360, err := p.AddVideo("360p", hi.video, 800_000)
	if err != nil {
		t.Fatal(err)
	}
	v180, err := p.AddVideo("180p", lo.video, 300_000)
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.AddAudio("audio", hi.audio, 96_000)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WritePoster(ctx, posterJPEG(t)); err != nil {
		t.Fatal(err)
	}
	writeAll(t, map[*Rendition][]Sample{v360: hi.videoPkts, v180: lo.videoPkts, a: hi.audioPkts})
	res, err := p.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// master.m3u8 is written once, last; every object has its content type and cache policy.
	keys := store.keys()
	if keys[len(keys)-1] != testPrefix+"master.m3u8" || slices.Index(keys, testPrefix+"master.m3u8") != len(keys)-1 {
		t.Errorf("master.m3u8 is not the last and only last object written: %v", keys)
	}
	for _, k := range keys {
		info, err := store.Stat(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if ct, cc := wantObject(k); info.ContentType != ct || info.CacheControl != cc {
			t.Errorf("%s: %q %q, want %q %q", k, info.ContentType, info.CacheControl, ct, cc)
		}
	}
	for _, k := range []string{"poster.jpg", "360p/init.mp4", "360p/index.m3u8", "360p/iframes.m3u8",
		"180p/seg_00001.m4s", "audio/init.mp4", "audio/seg_00001.m4s", "audio/index.m3u8"} {
		if !slices.Contains(keys, testPrefix+k) {
			t.Errorf("no object %s", k)
		}
	}

	// The multivariant playlist.
	raw := get(t, store, testPrefix+"master.m3u8")
	t.Logf("master.m3u8:\n%s\n360p/index.m3u8:\n%s\n360p/iframes.m3u8:\n%s\naudio/index.m3u8:\n%s", raw,
		get(t, store, testPrefix+"360p/index.m3u8"), get(t, store, testPrefix+"360p/iframes.m3u8"),
		get(t, store, testPrefix+"audio/index.m3u8"))
	pl, err := playlist.Unmarshal(raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	mv, ok := pl.(*playlist.Multivariant)
	if !ok || !mv.IndependentSegments || len(mv.Variants) != 2 || len(mv.Renditions) != 1 {
		t.Fatalf("unexpected multivariant playlist:\n%s", raw)
	}
	// Every advertised bit rate is the one recomputed from the segments; the clip's audio and
	// video both have a peak above their average, so that a peak measured as an average shows.
	rates := checkBandwidth(t, store, testPrefix, mv, raw)
	t.Logf("measured: %v", rates)
	for _, uri := range []string{"360p/index.m3u8", "180p/index.m3u8", "audio/index.m3u8"} {
		if m := rates[uri]; m.peak-m.average < 100 {
			t.Errorf("%s: %v; the clip is too even to tell the peak from the average", uri, m)
		}
	}
	// Both rungs are under the default start bandwidth, so the higher is listed first.
	if mv.Variants[0].URI != "360p/index.m3u8" || mv.Variants[1].URI != "180p/index.m3u8" {
		t.Errorf("variant order %s, %s", mv.Variants[0].URI, mv.Variants[1].URI)
	}
	sps := map[string][]byte{"360p": hi.video.SPS, "180p": lo.video.SPS}
	res360 := map[string]string{"360p": "360x640", "180p": "180x320"}
	for _, v := range mv.Variants {
		name := path.Dir(v.URI)
		codec, err := CodecString(sps[name])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(v.Codecs, []string{codec, "mp4a.40.2"}) || v.Audio != "audio" || v.Resolution != res360[name] ||
			v.FrameRate == nil || *v.FrameRate != 30 {
			t.Errorf("variant %s: codecs %v audio %q resolution %q frame rate %v", name, v.Codecs, v.Audio, v.Resolution, v.FrameRate)
		}
		if v.AverageBandwidth == nil || *v.AverageBandwidth <= 0 || v.Bandwidth < *v.AverageBandwidth {
			t.Errorf("variant %s: BANDWIDTH %d AVERAGE-BANDWIDTH %v", name, v.Bandwidth, v.AverageBandwidth)
		}
		checkCodecAgainstFFprobe(t, store, testPrefix+name+"/", codec)
		if !regexp.MustCompile(`#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=[1-9]\d*,AVERAGE-BANDWIDTH=[1-9]\d*,CODECS="` + codec + `",RESOLUTION=` + res360[name] + `,URI="` + name + `/iframes.m3u8"\n`).Match(raw) {
			t.Errorf("no I-frame stream for %s:\n%s", name, raw)
		}
	}
	r := mv.Renditions[0]
	if r.Type != playlist.MultivariantRenditionTypeAudio || r.GroupID != "audio" || !r.Default || !r.Autoselect ||
		r.Channels == nil || *r.Channels != "2" || r.URI == nil || *r.URI != "audio/index.m3u8" || r.Name == "" {
		t.Errorf("audio rendition %+v", r)
	}

	// Media playlists and segments.
	var segs = map[string][]segmentInfo{}
	for _, name := range []string{"360p", "180p", "audio"} {
		dir := testPrefix + name + "/"
		m, _ := parseMedia(t, store, dir+"index.m3u8")
		stream := "v"
		if name == "audio" {
			stream = "a"
		} else {
			checkIFrames(t, store, dir, m)
		}
		segs[name] = probeSegments(t, store, dir, m, stream)
		if len(segs[name]) != 3 {
			t.Errorf("%s: %d segments, want 3", name, len(segs[name]))
		}
	}
	for _, name := range []string{"360p", "180p"} {
		if d := totalExtinf(segs[name]); math.Abs(d-5) > 1.0/30 {
			t.Errorf("%s lasts %.4f s, want 5", name, d)
		}
		checkAligned(t, segs[name], segs["audio"])
	}
	// Every AAC frame but the encoder's priming one, which the edit list keeps from being
	// presented, so that the source's first sample plays at 0 (priming at -1024 in the clip).
	if d, want := totalExtinf(segs["audio"]), float64(len(hi.audioPkts)-1)*1024/48000; math.Abs(d-want) > 1e-4 {
		t.Errorf("audio lasts %.4f s, want %.4f", d, want)
	}
	if start := editListStart(t, get(t, store, testPrefix+"audio/init.mp4")); start != 1024 {
		t.Errorf("the audio's edit list starts at %d, want after the 1024 priming samples", start)
	}
	if start := editListStart(t, get(t, store, testPrefix+"360p/init.mp4")); start != 0 {
		t.Errorf("the video's edit list starts at %d, want none", start)
	}

	// The Result agrees with the playlists.
	if res.MasterKey != testPrefix+"master.m3u8" || res.PosterKey != testPrefix+"poster.jpg" ||
		math.Abs(res.Duration.Seconds()-5) > 1.0/30 || len(res.Renditions) != 3 {
		t.Errorf("result %+v", res)
	}
	for _, rr := range res.Renditions {
		if rr.Kind == KindVideo {
			v := mv.Variants[slices.IndexFunc(mv.Variants, func(v *playlist.MultivariantVariant) bool { return v.URI == rr.Name+"/index.m3u8" })]
			if rr.Bandwidth != v.Bandwidth || rr.AverageBandwidth != *v.AverageBandwidth || rr.Codecs != v.Codecs[0] ||
				rr.PeakBitrate < rr.AverageBitrate || rr.Bandwidth <= rr.PeakBitrate {
				t.Errorf("result %s: %+v, master says %d %d", rr.Name, rr, v.Bandwidth, *v.AverageBandwidth)
			}
		}
		if len(rr.Segments) != 3 || rr.Segments[0].Size <= 0 || rr.PlaylistKey != testPrefix+rr.Name+"/index.m3u8" {
			t.Errorf("result %s: %+v", rr.Name, rr)
		}
	}

	// A real player decodes everything.
	run(t, "ffmpeg", "-v", "error", "-i", filepath.Join(objects, testPrefix, "master.m3u8"), "-map", "0", "-f", "null", "-")

	// Close again returns the same result and writes nothing.
	n := len(store.keys())
	again, err := p.Close(ctx)
	if err != nil || len(store.keys()) != n || again.Duration != res.Duration || len(again.Renditions) != len(res.Renditions) {
		t.Errorf("second Close: %v, %d more puts", err, len(store.keys())-n)
	}
}

func TestBFrames(t *testing.T) {
	ctx := context.Background()
	c := makeClip(t, clipOptions{width: 180, height: 320, seconds: 4, gop: 60, bframes: 2, audio: true})
	if c.videoPkts[0].DTS >= c.videoPkts[0].PTS {
		t.Fatalf("the clip has no B-frame delay: first PTS %d DTS %d", c.videoPkts[0].PTS, c.videoPkts[0].DTS)
	}
	store, objects := newFSStore(t)
	p, err := New(Config{Store: store, Prefix: testPrefix})
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.AddVideo("320p", c.video, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.AddAudio("audio", c.audio, 0)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, map[*Rendition][]Sample{v: c.videoPkts, a: c.audioPkts})
	if _, err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}

	dir := testPrefix + "320p/"
	m, _ := parseMedia(t, store, dir+"index.m3u8")
	video := probeSegments(t, store, dir, m, "v")
	am, _ := parseMedia(t, store, testPrefix+"audio/index.m3u8")
	checkAligned(t, video, probeSegments(t, store, testPrefix+"audio/", am, "a"))
	checkIFrames(t, store, dir, m)

	// Every frame is presented exactly when the encoder said, in the same 90 kHz scale, and
	// decode times only increase.
	var got, probed, want []int64
	var lastDTS int64 = math.MinInt64
	for _, s := range video {
		got = append(got, s.pts...)
		for _, p := range s.packets {
			probed = append(probed, p.PTS)
			if p.DTS <= lastDTS {
				t.Errorf("DTS %d after %d", p.DTS, lastDTS)
			}
			lastDTS = p.DTS
		}
	}
	for _, s := range c.videoPkts {
		want = append(want, s.PTS)
	}
	if !slices.Equal(got, want) {
		t.Errorf("presentation times differ:\n got %v\nwant %v", got, want)
	}
	// FFmpeg's mov demuxer moves presentation times later by the most negative composition
	// offset (to keep PTS >= DTS) but must see the same order and spacing.
	for i := range probed {
		if probed[i]-probed[0] != want[i]-want[0] {
			t.Fatalf("ffprobe presentation times differ:\n got %v\nwant %v", probed, want)
		}
	}
	if video[0].start != 0 {
		t.Errorf("video starts at %v, want 0", video[0].start)
	}

	run(t, "ffmpeg", "-v", "error", "-i", filepath.Join(objects, testPrefix, "master.m3u8"), "-map", "0", "-f", "null", "-")
	out := run(t, "ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", filepath.Join(objects, dir, "index.m3u8"))
	if f := strings.Fields(string(out)); len(f) == 0 || f[0] != strconv.Itoa(c.frameCount) {
		t.Errorf("decoded %s frames, want %d", out, c.frameCount)
	}
}

func TestVideoOnly(t *testing.T) {
	ctx := context.Background()
	c := makeClip(t, clipOptions{width: 180, height: 320, seconds: 3, gop: 60})
	store, objects := newFSStore(t)
	p, err := New(Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	// No parameter sets in the track: they come from the first sample.
	track := c.video
	track.SPS, track.PPS, track.Width, track.Height = nil, nil, 0, 0
	v, err := p.AddVideo("320p", track, 0)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, map[*Rendition][]Sample{v: c.videoPkts})
	res, err := p.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw := get(t, store, "master.m3u8")
	pl, err := playlist.Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	mv := pl.(*playlist.Multivariant)
	codec, _ := CodecString(c.video.SPS)
	if len(mv.Renditions) != 0 || len(mv.Variants) != 1 || !slices.Equal(mv.Variants[0].Codecs, []string{codec}) ||
		mv.Variants[0].Audio != "" || mv.Variants[0].Resolution != "180x320" || bytes.Contains(raw, []byte("mp4a")) {
		t.Errorf("video-only master:\n%s", raw)
	}
	if len(res.Renditions) != 1 || res.Renditions[0].Bandwidth != res.Renditions[0].PeakBitrate {
		t.Errorf("result %+v", res)
	}
	m, _ := parseMedia(t, store, "320p/index.m3u8")
	segs := probeSegments(t, store, "320p/", m, "v")
	if len(segs) != 2 || math.Abs(totalExtinf(segs)-3) > 1.0/30 {
		t.Errorf("%d segments lasting %.3f s, want 2 lasting 3 s", len(segs), totalExtinf(segs))
	}
	// The in-band parameter sets were moved to the init segment.
	var parts fmp4.Parts
	if err := parts.Unmarshal(get(t, store, "320p/seg_00002.m4s")); err != nil {
		t.Fatal(err)
	}
	au, err := parts[0].Tracks[0].Samples[0].GetH264()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range au {
		if typ := n[0] & 0x1F; typ == 7 || typ == 8 || typ == 9 {
			t.Errorf("NAL unit of type %d left in a sample", typ)
		}
	}
	run(t, "ffmpeg", "-v", "error", "-i", filepath.Join(objects, "master.m3u8"), "-map", "0", "-f", "null", "-")
}

func TestSegmentBoundaries(t *testing.T) {
	for _, tc := range []struct {
		gop     int // frames between IDRs at 30 fps
		segment time.Duration
		want    []float64 // segment durations, seconds
	}{
		{gop: 30, segment: 2 * time.Second, want: []float64{2, 2, 1}},
		{gop: 30, segment: time.Second, want: []float64{1, 1, 1, 1, 1}},
		{gop: 60, segment: time.Second, want: []float64{2, 2, 1}},         // IDRs are too rare for 1 s
		{gop: 45, segment: 2 * time.Second, want: []float64{3, 1.5, 0.5}}, // first IDR after each boundary
	} {
		t.Run(fmt.Sprintf("gop%d_%v", tc.gop, tc.segment), func(t *testing.T) {
			c := makeClip(t, clipOptions{width: 64, height: 64, seconds: 5, gop: tc.gop})
			store, _ := newFSStore(t)
			p, err := New(Config{Store: store, SegmentDuration: tc.segment})
			if err != nil {
				t.Fatal(err)
			}
			v, err := p.AddVideo("v", c.video, 0)
			if err != nil {
				t.Fatal(err)
			}
			writeAll(t, map[*Rendition][]Sample{v: c.videoPkts})
			if _, err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			m, _ := parseMedia(t, store, "v/index.m3u8")
			var got []float64
			for _, s := range m.Segments {
				got = append(got, math.Round(s.Duration.Seconds()*1000)/1000)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("segments %v, want %v", got, tc.want)
			}
			if want := int(math.Round(slices.Max(tc.want))); m.TargetDuration != want {
				t.Errorf("TARGETDURATION %d, want %d", m.TargetDuration, want)
			}
		})
	}
}

func TestWriteSampleErrors(t *testing.T) {
	ctx := context.Background()
	c := makeClip(t, clipOptions{width: 64, height: 64, seconds: 1, gop: 30, audio: true})
	store, _ := newFSStore(t)
	p, err := New(Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.AddVideo("v", c.video, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.AddAudio("audio", c.audio, 0)
	if err != nil {
		t.Fatal(err)
	}
	idr, next := c.videoPkts[0], c.videoPkts[1]
	withData := func(s Sample, b []byte) Sample { s.Data = b; return s }
	withPTS := func(s Sample, pts int64) Sample { s.PTS = pts; return s }
	for _, tc := range []struct {
		name   string
		r      *Rendition
		sample Sample
		want   error
	}{
		{"first video sample not an IDR", v, next, ErrInvalidSample},
		{"empty", v, withData(idr, nil), ErrInvalidSample},
		{"not Annex-B", v, withData(idr, []byte{1, 2, 3, 4, 5}), ErrInvalidSample},
		{"only a delimiter", v, withData(idr, []byte{0, 0, 0, 1, 9, 0xF0}), ErrInvalidSample},
		{"PTS before DTS", v, withPTS(idr, idr.DTS-1), ErrInvalidSample},
		{"empty audio", a, withData(c.audioPkts[0], nil), ErrInvalidSample},
	} {
		if err := tc.r.WriteSample(ctx, tc.sample); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Nothing was accepted, so the rendition still starts cleanly.
	if err := v.WriteSample(ctx, idr); err != nil {
		t.Fatal(err)
	}
	if err := v.WriteSample(ctx, idr); !errors.Is(err, ErrOutOfOrder) {
		t.Errorf("same DTS twice: %v", err)
	}
	if err := v.WriteSample(ctx, c.videoPkts[2]); err != nil {
		t.Fatal(err)
	}
	if err := v.WriteSample(ctx, next); !errors.Is(err, ErrOutOfOrder) {
		t.Errorf("earlier DTS: %v", err)
	}
	for _, s := range c.videoPkts[3:] {
		if err := v.WriteSample(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range c.audioPkts {
		if err := a.WriteSample(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	m, _ := parseMedia(t, store, "v/index.m3u8")
	// The refused sample's time went to the one before it.
	if len(m.Segments) != 1 || m.Segments[0].Duration != time.Second {
		t.Errorf("segments after refused samples: %+v", m.Segments[0])
	}

	if err := v.WriteSample(ctx, c.videoPkts[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteSample after Close: %v", err)
	}
	if _, err := p.AddVideo("w", c.video, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("AddVideo after Close: %v", err)
	}
	if err := p.WritePoster(ctx, posterJPEG(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("WritePoster after Close: %v", err)
	}
}

func TestCloseIncomplete(t *testing.T) {
	c := makeClip(t, clipOptions{width: 64, height: 64, seconds: 1, gop: 30, audio: true})
	store, _ := newFSStore(t)

	p, _ := New(Config{Store: store})
	a, _ := p.AddAudio("audio", c.audio, 0)
	for _, s := range c.audioPkts {
		if err := a.WriteSample(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Close(context.Background()); !errors.Is(err, ErrIncomplete) {
		t.Errorf("Close with audio only: %v", err)
	}

	p, _ = New(Config{Store: store})
	if _, err := p.AddVideo("v", c.video, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Close(context.Background()); !errors.Is(err, ErrIncomplete) {
		t.Errorf("Close of a rendition without samples: %v", err)
	}
	if slices.Contains(store.keys(), "master.m3u8") {
		t.Error("master.m3u8 written for an incomplete video")
	}
}

func TestCloseRetry(t *testing.T) {
	ctx := context.Background()
	c := makeClip(t, clipOptions{width: 64, height: 64, seconds: 3, gop: 30, audio: true})
	store, _ := newFSStore(t)
	injected := errors.New("injected")
	failing := map[string]bool{"v/seg_00002.m4s": true, "audio/index.m3u8": true, "master.m3u8": true}
	store.fail = func(key string) error {
		if failing[key] {
			return injected
		}
		return nil
	}
	p, _ := New(Config{Store: store})
	v, _ := p.AddVideo("v", c.video, 0)
	a, _ := p.AddAudio("audio", c.audio, 0)
	writeAll(t, map[*Rendition][]Sample{v: c.videoPkts, a: c.audioPkts})
	for _, key := range []string{"v/seg_00002.m4s", "audio/index.m3u8", "master.m3u8"} {
		if _, err := p.Close(ctx); !errors.Is(err, injected) {
			t.Fatalf("Close while %s fails: %v", key, err)
		}
		delete(failing, key)
	}
	res, err := p.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys := store.keys()
	if keys[len(keys)-1] != "master.m3u8" || !slices.Contains(keys, "v/seg_00002.m4s") || len(res.Renditions) != 2 {
		t.Errorf("after retries: %v, %+v", keys, res)
	}
	m, _ := parseMedia(t, store, "v/index.m3u8")
	if len(m.Segments) != 2 || len(res.Renditions[0].Segments) != 2 {
		t.Errorf("%d segments, want 2", len(m.Segments))
	}
}

func TestSegmentWriteFailureIsFinal(t *testing.T) {
	ctx := context.Background()
	c := makeClip(t, clipOptions{width: 64, height: 64, seconds: 3, gop: 30})
	store, _ := newFSStore(t)
	injected := errors.New("injected")
	store.fail = func(key string) error {
		if key == "v/seg_00001.m4s" {
			return injected
		}
		return nil
	}
	p, _ := New(Config{Store: store})
	v, _ := p.AddVideo("v", c.video, 0)
	var first error
	for _, s := range c.videoPkts {
		if err := v.WriteSample(ctx, s); err != nil {
			first = err
			break
		}
	}
	if !errors.Is(first, injected) {
		t.Fatalf("WriteSample: %v", first)
	}
	store.fail = nil
	if err := v.WriteSample(ctx, c.videoPkts[len(c.videoPkts)-1]); !errors.Is(err, injected) {
		t.Errorf("WriteSample after a failed segment: %v", err)
	}
	if _, err := p.Close(ctx); !errors.Is(err, injected) {
		t.Errorf("Close after a failed segment: %v", err)
	}
}

func TestNewConfig(t *testing.T) {
	store, _ := newFSStore(t)
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Store: store}, true},
		{"prefix", Config{Store: store, Prefix: "videos/abc123/"}, true},
		{"no store", Config{}, false},
		{"prefix without slash", Config{Store: store, Prefix: "videos/abc"}, false},
		{"bad prefix", Config{Store: store, Prefix: "videos//"}, false},
		{"absolute prefix", Config{Store: store, Prefix: "/videos/"}, false},
		{"negative segment", Config{Store: store, SegmentDuration: -time.Second}, false},
		{"tiny segment", Config{Store: store, SegmentDuration: time.Millisecond}, false},
	} {
		p, err := New(tc.cfg)
		if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, ErrInvalidConfig)) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if tc.ok && (p.cfg.SegmentDuration != DefaultSegmentDuration || p.cfg.StartBandwidth != DefaultStartBandwidth) {
			t.Errorf("%s: defaults not applied: %+v", tc.name, p.cfg)
		}
	}
}

func TestAddRenditionErrors(t *testing.T) {
	store, _ := newFSStore(t)
	p, _ := New(Config{Store: store})
	sps, pps := baselineSPS, baselinePPS
	track := VideoTrack{SPS: sps, PPS: pps, FrameRateNum: 30, FrameRateDen: 1}
	if _, err := p.AddVideo("240p", track, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AddAudio("audio", AudioTrack{SampleRate: 48000, Channels: 2}, 0); err != nil {
		t.Fatal(err)
	}
	withSPS := track
	withSPS.SPS = append([]byte{0, 0, 0, 1}, sps...) // start codes are tolerated
	if _, err := p.AddVideo("240p-b", withSPS, 0); err != nil {
		t.Errorf("SPS with a start code: %v", err)
	}
	for _, tc := range []struct {
		name string
		add  func() error
	}{
		{"duplicate name", func() error { _, err := p.AddVideo("240p", track, 0); return err }},
		{"name with a slash", func() error { _, err := p.AddVideo("a/b", track, 0); return err }},
		{"empty name", func() error { _, err := p.AddVideo("", track, 0); return err }},
		{"dot name", func() error { _, err := p.AddVideo("..", track, 0); return err }},
		{"reserved name", func() error { _, err := p.AddVideo("master.m3u8", track, 0); return err }},
		{"second audio", func() error {
			_, err := p.AddAudio("audio2", AudioTrack{SampleRate: 48000, Channels: 2}, 0)
			return err
		}},
		{"SPS without PPS", func() error {
			tr := track
			tr.PPS = nil
			_, err := p.AddVideo("x1", tr, 0)
			return err
		}},
		{"PPS given as SPS", func() error {
			tr := track
			tr.SPS = pps
			_, err := p.AddVideo("x2", tr, 0)
			return err
		}},
		{"half a frame rate", func() error {
			tr := track
			tr.FrameRateDen = 0
			_, err := p.AddVideo("x3", tr, 0)
			return err
		}},
		{"negative bitrate", func() error { _, err := p.AddVideo("x4", track, -1); return err }},
		{"bad audio config", func() error {
			_, err := p.AddAudio("x5", AudioTrack{Config: []byte{0xFF}}, 0)
			return err
		}},
		{"audio without rate", func() error { _, err := p.AddAudio("x6", AudioTrack{Channels: 2}, 0); return err }},
	} {
		if err := tc.add(); !errors.Is(err, ErrInvalidRendition) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if err := p.WritePoster(context.Background(), []byte("GIF89a")); !errors.Is(err, ErrInvalidPoster) {
		t.Errorf("WritePoster of a GIF: %v", err)
	}
}
