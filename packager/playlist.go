package packager

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/reelay/reelay/internal/httpsem"
	"github.com/reelay/reelay/internal/layout"
)

// summary is what the playlists and the Result say about a finished rendition.
type summary struct {
	result         RenditionResult
	segments       []segment
	durations      []time.Duration // EXTINF of each segment
	targetDuration int             // EXT-X-TARGETDURATION, seconds
	// I-frame playlist bit rates (video only).
	iframePeak, iframeAverage int
}

// span is a run of bytes played over a duration, for bit rate measurements.
type span struct {
	bytes int64
	dur   time.Duration
}

// summarize measures the rendition's written segments. Call it after finish.
func (r *Rendition) summarize() summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.summarizeLocked()
}

// summarizeLocked is summarize for a caller that holds r.mu.
func (r *Rendition) summarizeLocked() summary {
	s := summary{segments: slices.Clone(r.segments)}
	res := RenditionResult{
		Name:          r.name,
		Kind:          r.kind,
		InitKey:       r.p.key(layout.InRendition(r.name, layout.Init)),
		PlaylistKey:   r.p.key(layout.InRendition(r.name, layout.MediaPlaylist)),
		TargetBitrate: r.targetBitrate,
		Codecs:        r.codecs,
	}
	var ticks, samples int64
	spans := make([]span, len(s.segments))
	iframes := make([]span, len(s.segments))
	for i, seg := range s.segments {
		presented := seg.ticks
		if i == 0 {
			presented -= r.hidden // the edit list starts the presentation after them
		}
		d := r.duration(presented)
		s.durations = append(s.durations, d)
		res.Segments = append(res.Segments, SegmentResult{Key: seg.key, Duration: d, Size: seg.size})
		spans[i] = span{seg.size, d}
		iframes[i] = span{seg.iframeLen, d}
		ticks += presented
		samples += int64(seg.samples)
	}
	res.Duration = r.duration(ticks)
	s.targetDuration = targetDuration(s.durations)
	if r.p.cfg.Progressive {
		// An EVENT playlist's target duration may not change as it grows (RFC 8216 §6.2.1), and
		// the final playlist follows it: it is at least the configured segment duration.
		s.targetDuration = max(s.targetDuration, int(math.Round(r.p.cfg.SegmentDuration.Seconds())))
	}
	res.PeakBitrate, res.AverageBitrate = bitrates(spans, s.targetDuration)
	switch r.kind {
	case KindVideo:
		res.IFramePlaylistKey = r.p.key(layout.InRendition(r.name, layout.IFramePlaylist))
		res.Width, res.Height = r.width, r.height
		res.FrameRate = r.frameRate
		if res.FrameRate == 0 && res.Duration > 0 {
			res.FrameRate = float64(samples) / res.Duration.Seconds()
		}
		s.iframePeak, s.iframeAverage = bitrates(iframes, s.targetDuration)
	case KindAudio:
		res.Channels = r.asc.ChannelCount
	}
	s.result = res
	return s
}

// targetDuration is EXT-X-TARGETDURATION for segments of these durations: the largest of them
// rounded to the nearest second (RFC 8216 §4.3.3.1), at least 1.
func targetDuration(ds []time.Duration) int {
	td := 1
	for _, d := range ds {
		td = max(td, int(math.Round(d.Seconds())))
	}
	return td
}

// bitrates returns the peak and average segment bit rates of a media playlist in bit/s, as
// RFC 8216bis §4.1 defines them: the average is the total size over the total duration; the peak
// is the largest bit rate of any run of consecutive segments lasting between 0.5 and 1.5 times the
// target duration (so a short last segment is measured with its neighbour, not alone). The peak
// is never below the average. Both are rounded up.
func bitrates(spans []span, targetDuration int) (peak, average int) {
	rate := func(b int64, d time.Duration) int {
		if d <= 0 {
			return 0
		}
		return int(math.Ceil(float64(b) * 8 / d.Seconds()))
	}
	var total span
	for _, s := range spans {
		total.bytes += s.bytes
		total.dur += s.dur
	}
	average = rate(total.bytes, total.dur)
	lo := time.Duration(targetDuration) * time.Second / 2
	hi := time.Duration(targetDuration) * time.Second * 3 / 2
	for i := range spans {
		var run span
		for _, s := range spans[i:] {
			run.bytes += s.bytes
			run.dur += s.dur
			if run.dur > hi {
				break
			}
			if run.dur >= lo {
				peak = max(peak, rate(run.bytes, run.dur))
			}
		}
	}
	return max(peak, average), average
}

// writePlaylists writes the rendition's media playlist and, for video, its I-frame playlist: the
// final VOD ones, or with event the EVENT ones of a progressive publication.
func (r *Rendition) writePlaylists(ctx context.Context, s summary, event bool) error {
	cache := httpsem.CachePlaylist
	if event {
		cache = httpsem.CacheLivePlaylist
	}
	media, err := mediaPlaylist(s, false, event)
	if err != nil {
		return fmt.Errorf("packager: %s: %w", r.name, err)
	}
	if err := r.p.put(ctx, s.result.PlaylistKey, media, httpsem.ContentTypePlaylist, cache); err != nil {
		return err
	}
	if r.kind != KindVideo {
		return nil
	}
	iframes, err := mediaPlaylist(s, true, event)
	if err != nil {
		return fmt.Errorf("packager: %s: %w", r.name, err)
	}
	return r.p.put(ctx, s.result.IFramePlaylistKey, iframes, httpsem.ContentTypePlaylist, cache)
}

// expectedBitrates returns what master.m3u8 advertises for a rendition while it is being
// packaged: as peak the larger of the peak measured so far and the target bit rate plus 10 %
// (the VBV maxrate of reelay's encoder), as average the target bit rate, or what was measured
// when there is no target.
func (s summary) expectedBitrates() (peak, average int) {
	peak, average = s.result.PeakBitrate, s.result.AverageBitrate
	if t := s.result.TargetBitrate; t > 0 {
		peak, average = max(peak, t+t/10), t
	}
	return peak, average
}

// eventStart is the EXT-X-START tag of EVENT playlists: play from the beginning, not from the
// newest segments as players do by default with a playlist that has no EXT-X-ENDLIST. gohlslib
// does not write it with a zero offset (and refuses one when parsing), so it is added here.
const eventStart = "#EXT-X-START:TIME-OFFSET=0\n"

// mediaPlaylist builds the media playlist of a rendition, or its I-frame playlist: VOD, or with
// event the EVENT playlist of a progressive publication (no EXT-X-ENDLIST; EXT-X-START at 0).
//
// An I-frame playlist has one entry per segment: every segment starts with an IDR, and its entry
// is the byte range from the start of the segment through the end of that IDR's sample, which
// covers the moof box, the mdat header and the picture (RFC 8216 §4.3.3.6 and Apple's HLS
// authoring specification for fMP4). Its duration is the time until the next entry, which is
// the segment's duration. IDR frames inside a segment, if any, are not listed.
func mediaPlaylist(s summary, iframes, event bool) ([]byte, error) {
	typ := playlist.MediaPlaylistTypeVOD
	if event {
		typ = playlist.MediaPlaylistTypeEvent
	}
	m := playlist.Media{
		Version:             hlsVersion,
		IndependentSegments: true,
		TargetDuration:      s.targetDuration,
		PlaylistType:        &typ,
		Map:                 &playlist.MediaMap{URI: layout.Init},
		Endlist:             !event,
	}
	for i, seg := range s.segments {
		ms := &playlist.MediaSegment{Duration: s.durations[i], URI: path.Base(seg.key)}
		if iframes {
			length, start := uint64(seg.iframeLen), uint64(0)
			ms.ByteRangeLength, ms.ByteRangeStart = &length, &start
		}
		m.Segments = append(m.Segments, ms)
	}
	b, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	// gohlslib's Media has no EXT-X-I-FRAMES-ONLY, nor a zero EXT-X-START; they go among the
	// playlist tags, right after EXT-X-VERSION.
	var tags string
	if iframes {
		tags += "#EXT-X-I-FRAMES-ONLY\n"
	}
	if event {
		tags += eventStart
	}
	if tags == "" {
		return b, nil
	}
	version := []byte("#EXT-X-VERSION:" + strconv.Itoa(hlsVersion) + "\n")
	i := bytes.Index(b, version)
	if i < 0 {
		return nil, fmt.Errorf("unexpected playlist from gohlslib: no %q", version)
	}
	i += len(version)
	return slices.Concat(b[:i], []byte(tags), b[i:]), nil
}

// variant is a video rendition as master.m3u8 lists it.
type variant struct {
	s                  summary
	bandwidth, average int
}

// orderVariants sorts variants by increasing BANDWIDTH, then moves to the front the highest one
// whose BANDWIDTH is at most start (the lowest when none is); a negative start leaves the order
// increasing. Players that start with the first listed variant thus start at a rung that most
// networks sustain, then adapt.
func orderVariants(vs []variant, start int) []variant {
	vs = slices.Clone(vs)
	slices.SortStableFunc(vs, func(a, b variant) int { return a.bandwidth - b.bandwidth })
	if start < 0 || len(vs) == 0 {
		return vs
	}
	pick := 0
	for i, v := range vs {
		if v.bandwidth <= start {
			pick = i
		}
	}
	first := vs[pick]
	vs = slices.Delete(vs, pick, pick+1)
	return slices.Insert(vs, 0, first)
}

// buildMultivariant builds master.m3u8: the audio rendition group if there is audio, one
// EXT-X-STREAM-INF per video variant in the order given, then one EXT-X-I-FRAME-STREAM-INF each.
// uri makes the URI of a rendition's playlist from its name under the presentation.
func buildMultivariant(vs []variant, audio *summary, uri func(name string) string) ([]byte, error) {
	m := playlist.Multivariant{Version: hlsVersion, IndependentSegments: true}
	var group string
	if audio != nil {
		group = AudioGroupID
		channels := strconv.Itoa(audio.result.Channels)
		audioURI := uri(layout.InRendition(audio.result.Name, layout.MediaPlaylist))
		m.Renditions = append(m.Renditions, &playlist.MultivariantRendition{
			Type:       playlist.MultivariantRenditionTypeAudio,
			GroupID:    group,
			Name:       audio.result.Name,
			Default:    true,
			Autoselect: true,
			Channels:   &channels,
			URI:        &audioURI,
		})
	}
	for _, v := range vs {
		codecs := []string{v.s.result.Codecs}
		if audio != nil {
			codecs = append(codecs, audio.result.Codecs)
		}
		mv := &playlist.MultivariantVariant{
			Bandwidth:        v.bandwidth,
			AverageBandwidth: &v.average,
			Codecs:           codecs,
			URI:              uri(layout.InRendition(v.s.result.Name, layout.MediaPlaylist)),
			Resolution:       fmt.Sprintf("%dx%d", v.s.result.Width, v.s.result.Height),
			Audio:            group,
		}
		if fr := v.s.result.FrameRate; fr > 0 {
			mv.FrameRate = &fr
		}
		m.Variants = append(m.Variants, mv)
	}
	b, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("packager: multivariant playlist: %w", err)
	}
	// gohlslib's Multivariant has no EXT-X-I-FRAME-STREAM-INF, so those tags are written here.
	var sb strings.Builder
	sb.Write(b)
	sb.WriteString("\n")
	for _, v := range vs {
		fmt.Fprintf(&sb, "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,CODECS=\"%s\",RESOLUTION=%dx%d,URI=\"%s\"\n",
			v.s.iframePeak, v.s.iframeAverage, v.s.result.Codecs, v.s.result.Width, v.s.result.Height,
			uri(layout.InRendition(v.s.result.Name, layout.IFramePlaylist)))
	}
	return []byte(sb.String()), nil
}
