package packager

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/reelay/reelay/internal/httpsem"
	"github.com/reelay/reelay/internal/layout"
)

// DefaultVideoTimeScale is the time scale of a VideoTrack whose TimeScale is zero.
const DefaultVideoTimeScale = 90000

// trackID is the ID of the only track of every init segment and fragment.
const trackID = 1

// Rendition is one video rung or the audio of a Packager; it cuts the samples given to
// WriteSample into segments and writes each one as soon as it is complete. Its methods may be
// called from any goroutine, but samples must come in decode order.
type Rendition struct {
	p             *Packager
	name          string
	kind          Kind
	timeScale     uint32
	targetBitrate int

	// Video: parameter sets (maybe filled from the first sample), codec string, picture size.
	sps, pps      []byte
	width, height int
	frameRate     float64 // from the track, 0 if it did not say
	// Audio: the AudioSpecificConfig.
	asc mpeg4audio.AudioSpecificConfig

	mu       sync.Mutex
	codecs   string
	closed   bool  // finish has been called: no more samples
	err      error // a segment could not be written; the rendition cannot go on
	pending  *sample
	lastDTS  int64 // input DTS of pending
	lastStep int64 // DTS step before pending, 0 if none yet
	// Output times are input times plus these shifts (see the package comment on timestamps).
	dtsShift, ptsShift int64
	// hidden is how many ticks of the media precede the presentation (the audio encoder's
	// priming samples, which the init segment's edit list skips); presentation times are
	// output PTS less hidden.
	hidden       int64
	startDTS     int64         // output DTS of the first sample
	nextBoundary time.Duration // presentation time at which the next segment may start
	cur          []*sample     // samples of the segment being built, in decode order
	segments     []segment     // segments written so far
	final        *builtSegment // last segment, built by finish but not yet written
}

// sample is a sample on the output timeline, in fMP4 form.
type sample struct {
	dts, pts int64 // output decode and presentation times, in the rendition's time scale
	dur      int64 // decode duration: next DTS minus this one
	declared int64 // Sample.Duration as given, used for the last sample
	sync     bool
	payload  []byte // AVCC access unit or raw AAC frame
}

// segment is a media segment that has been written.
type segment struct {
	key       string
	ticks     int64 // duration in the time scale
	size      int64
	samples   int
	iframeLen int64 // bytes from the start of the segment to the end of its first sample
}

// builtSegment is a marshalled media segment waiting to be written.
type builtSegment struct {
	index     int
	data      []byte
	ticks     int64
	samples   int
	iframeLen int64
}

// AddVideo adds an H.264 video rendition named name (a directory under the prefix, e.g. "720p").
// targetBitrate, in bit/s, is recorded in the init segment's btrt box and in the Result; 0 means
// unknown. The track's SPS and PPS may be left empty when the first sample carries them in-band.
func (p *Packager) AddVideo(name string, t VideoTrack, targetBitrate int) (*Rendition, error) {
	bad := func(format string, args ...any) (*Rendition, error) {
		return nil, fmt.Errorf("%w: video %q: %s", ErrInvalidRendition, name, fmt.Sprintf(format, args...))
	}
	if targetBitrate < 0 || t.Width < 0 || t.Height < 0 || t.FrameRateNum < 0 || t.FrameRateDen < 0 {
		return bad("negative bitrate, size or frame rate")
	}
	if (t.FrameRateNum > 0) != (t.FrameRateDen > 0) {
		return bad("frame rate %d/%d", t.FrameRateNum, t.FrameRateDen)
	}
	r := &Rendition{
		p: p, name: name, kind: KindVideo, targetBitrate: targetBitrate,
		timeScale: cmp.Or(t.TimeScale, DefaultVideoTimeScale),
		width:     t.Width, height: t.Height,
	}
	if t.FrameRateNum > 0 {
		r.frameRate = float64(t.FrameRateNum) / float64(t.FrameRateDen)
	}
	sps, pps := trimStartCode(t.SPS), trimStartCode(t.PPS)
	switch {
	case len(sps) > 0 && len(pps) > 0:
		if err := r.setParams(sps, pps); err != nil {
			return bad("%v", err)
		}
	case len(sps) > 0 || len(pps) > 0:
		return bad("give both SPS and PPS, or neither (then the first sample must carry them)")
	}
	if err := p.add(r); err != nil {
		return nil, err
	}
	return r, nil
}

// AddAudio adds the AAC audio rendition (at most one) named name; by convention "audio".
// t.Config is the AudioSpecificConfig; when it is empty an AAC-LC one is made from t.SampleRate
// and t.Channels. targetBitrate is as for AddVideo.
func (p *Packager) AddAudio(name string, t AudioTrack, targetBitrate int) (*Rendition, error) {
	bad := func(format string, args ...any) (*Rendition, error) {
		return nil, fmt.Errorf("%w: audio %q: %s", ErrInvalidRendition, name, fmt.Sprintf(format, args...))
	}
	if targetBitrate < 0 {
		return bad("negative bitrate")
	}
	var asc mpeg4audio.AudioSpecificConfig
	if len(t.Config) > 0 {
		if err := asc.Unmarshal(t.Config); err != nil {
			return bad("AudioSpecificConfig: %v", err)
		}
		if asc.ChannelCount == 0 {
			asc.ChannelCount = t.Channels
		}
	} else {
		asc = mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: t.SampleRate, ChannelCount: t.Channels}
	}
	if t.SampleRate != 0 && t.SampleRate != asc.SampleRate {
		return bad("sample rate %d differs from the AudioSpecificConfig's %d", t.SampleRate, asc.SampleRate)
	}
	if asc.SampleRate <= 0 || asc.ChannelCount <= 0 {
		return bad("sample rate %d, %d channels", asc.SampleRate, asc.ChannelCount)
	}
	if _, err := asc.Marshal(); err != nil {
		return bad("AudioSpecificConfig: %v", err)
	}
	r := &Rendition{
		p: p, name: name, kind: KindAudio, targetBitrate: targetBitrate,
		timeScale: cmp.Or(t.TimeScale, uint32(asc.SampleRate)),
		asc:       asc,
		codecs:    fmt.Sprintf("mp4a.40.%d", int(asc.Type)),
	}
	if err := p.add(r); err != nil {
		return nil, err
	}
	return r, nil
}

// setParams sets the video parameter sets and what follows from them.
func (r *Rendition) setParams(sps, pps []byte) error {
	codecs, err := CodecString(sps)
	if err != nil {
		return err
	}
	if h264.NALUType(pps[0]&0x1F) != h264.NALUTypePPS {
		return fmt.Errorf("PPS: NAL unit type %d", pps[0]&0x1F)
	}
	var parsed h264.SPS
	if err := parsed.Unmarshal(sps); err != nil {
		return fmt.Errorf("SPS: %w", err)
	}
	// The picture size after cropping is what RESOLUTION means; the track's size is a fallback.
	if w, h := parsed.Width(), parsed.Height(); w > 0 && h > 0 {
		r.width, r.height = w, h
	}
	if r.width == 0 || r.height == 0 {
		return fmt.Errorf("unknown picture size")
	}
	r.sps, r.pps, r.codecs = bytes.Clone(sps), bytes.Clone(pps), codecs
	return nil
}

// Name returns the rendition's name.
func (r *Rendition) Name() string { return r.name }

// Kind returns whether the rendition is video or audio.
func (r *Rendition) Kind() Kind { return r.kind }

// WriteSample adds the next sample in decode order. When the sample starts a new segment the
// previous one is written to the store before WriteSample returns. s.Data is not retained.
//
// A sample's duration is the step to the next sample's DTS; s.Duration is used only for the last
// sample (give it, or the step before it is used). A video sample is a sync sample when it holds
// an IDR slice, whatever s.Keyframe says; the first video sample must be one.
//
// A sample that is refused (ErrInvalidSample, ErrOutOfOrder) leaves the rendition as it was; a
// store error while writing a segment is final for the rendition, and Close will report it.
func (r *Rendition) WriteSample(ctx context.Context, s Sample) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return ErrClosed
	case r.err != nil:
		return fmt.Errorf("packager: %s: an earlier segment failed: %w", r.name, r.err)
	case len(s.Data) == 0:
		return fmt.Errorf("%w: %s: empty sample", ErrInvalidSample, r.name)
	case s.PTS < s.DTS:
		return fmt.Errorf("%w: %s: PTS %d before DTS %d", ErrInvalidSample, r.name, s.PTS, s.DTS)
	case s.Duration < 0 || s.Duration > math.MaxUint32:
		return fmt.Errorf("%w: %s: duration %d", ErrInvalidSample, r.name, s.Duration)
	case r.pending != nil && s.DTS <= r.lastDTS:
		return fmt.Errorf("%w: %s: DTS %d after %d", ErrOutOfOrder, r.name, s.DTS, r.lastDTS)
	}
	payload, sync, err := r.payload(s)
	if err != nil {
		return err
	}
	if r.pending == nil {
		return r.start(ctx, s, payload, sync)
	}

	step := s.DTS - r.lastDTS
	if step > math.MaxUint32 {
		return fmt.Errorf("%w: %s: DTS jumps by %d", ErrInvalidSample, r.name, step)
	}
	next, err := r.convert(s, payload, sync)
	if err != nil {
		return err
	}
	r.pending.dur = step
	r.cur = append(r.cur, r.pending)
	r.pending, r.lastDTS, r.lastStep = next, s.DTS, step
	if !next.sync {
		return nil
	}
	// An IDR (or any audio frame) starting within half a sample of the boundary begins a new segment.
	at := r.present(next.pts) + r.duration(step)/2
	if at < r.nextBoundary {
		return nil
	}
	b, err := r.build()
	if err == nil {
		err = r.publish(ctx, b)
	}
	if err != nil {
		r.err = err
		return err
	}
	r.advance(at)
	return nil
}

// start handles the first sample: it fixes the output timeline and writes the init segment.
func (r *Rendition) start(ctx context.Context, s Sample, payload []byte, sync bool) error {
	if r.kind == KindVideo && !sync {
		return fmt.Errorf("%w: %s: the first video sample is not an IDR", ErrInvalidSample, r.name)
	}
	init, err := r.initSegment()
	if err != nil {
		return err
	}
	r.ptsShift = max(0, -s.PTS)
	if r.kind == KindAudio && r.ptsShift > 0 && r.ptsShift <= math.MaxUint32 {
		// The priming samples stay in the media, before the presentation starts, so that
		// the first real sample plays at 0 with the first picture.
		if init, err = withEditList(init, uint32(r.ptsShift)); err != nil {
			return err
		}
		r.hidden = r.ptsShift
	}
	ct := httpsem.ContentTypeVideoInit
	if r.kind == KindAudio {
		ct = httpsem.ContentTypeAudioInit
	}
	if err := r.p.put(ctx, r.p.key(layout.InRendition(r.name, layout.Init)), init, ct, httpsem.CacheImmutable); err != nil {
		return err
	}
	r.dtsShift = s.PTS + r.ptsShift - s.DTS // the first sample decodes when it is presented
	first, err := r.convert(s, payload, sync)
	if err != nil {
		return err
	}
	r.pending, r.lastDTS, r.startDTS = first, s.DTS, first.dts
	r.advance(r.present(first.pts))
	return nil
}

// convert returns s on the output timeline.
func (r *Rendition) convert(s Sample, payload []byte, sync bool) (*sample, error) {
	out := &sample{dts: s.DTS + r.dtsShift, pts: s.PTS + r.ptsShift, declared: s.Duration, sync: sync, payload: payload}
	if off := out.pts - out.dts; off < math.MinInt32 || off > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %s: composition offset %d out of range", ErrInvalidSample, r.name, off)
	}
	return out, nil
}

// advance sets the next segment boundary to the first multiple of the segment duration after t.
func (r *Rendition) advance(t time.Duration) {
	d := r.p.cfg.SegmentDuration
	r.nextBoundary = (t/d + 1) * d
}

// duration converts ticks of the rendition's time scale to a duration.
func (r *Rendition) duration(ticks int64) time.Duration {
	ts := int64(r.timeScale)
	return time.Duration(ticks/ts)*time.Second + time.Duration(ticks%ts*int64(time.Second)/ts)
}

// payload checks s.Data and returns it in fMP4 form, and whether it is a sync sample. For video
// it converts Annex-B to AVCC, drops access unit delimiters and the parameter sets that the init
// segment already holds, and takes the parameter sets from the first sample if the track had none.
func (r *Rendition) payload(s Sample) ([]byte, bool, error) {
	if r.kind == KindAudio {
		return bytes.Clone(s.Data), true, nil
	}
	au, err := splitAnnexB(make([][]byte, 0, 8), s.Data)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %s: not an Annex-B access unit: %w", ErrInvalidSample, r.name, err)
	}
	var sps, pps []byte
	keep := make([][]byte, 0, len(au))
	idr := false
	for _, nalu := range au {
		if len(nalu) == 0 {
			continue
		}
		switch h264.NALUType(nalu[0] & 0x1F) {
		case h264.NALUTypeAccessUnitDelimiter:
			continue
		case h264.NALUTypeSPS:
			if sps == nil {
				sps = nalu
			}
			if bytes.Equal(nalu, r.sps) {
				continue
			}
		case h264.NALUTypePPS:
			if pps == nil {
				pps = nalu
			}
			if bytes.Equal(nalu, r.pps) {
				continue
			}
		case h264.NALUTypeIDR:
			idr = true
		}
		keep = append(keep, nalu)
	}
	if r.sps == nil {
		if sps == nil || pps == nil {
			return nil, false, fmt.Errorf("%w: %s: no SPS and PPS in the track nor in the first sample", ErrInvalidSample, r.name)
		}
		if err := r.setParams(sps, pps); err != nil {
			return nil, false, fmt.Errorf("%w: %s: %w", ErrInvalidSample, r.name, err)
		}
		// The in-band copies now duplicate the init segment's.
		keep = slices.DeleteFunc(keep, func(n []byte) bool { return bytes.Equal(n, r.sps) || bytes.Equal(n, r.pps) })
	}
	if len(keep) == 0 {
		return nil, false, fmt.Errorf("%w: %s: access unit without a picture", ErrInvalidSample, r.name)
	}
	size := 0
	for _, n := range keep {
		size += 4 + len(n)
	}
	return appendAVCC(make([]byte, 0, size), keep), idr, nil
}

// initSegment marshals the rendition's init segment.
func (r *Rendition) initSegment() ([]byte, error) {
	var codec fmp4.Codec
	if r.kind == KindVideo {
		codec = &fmp4.CodecH264{SPS: r.sps, PPS: r.pps}
	} else {
		codec = &fmp4.CodecMPEG4Audio{Config: r.asc}
	}
	rate := uint32(min(r.targetBitrate, math.MaxUint32))
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{
		ID: trackID, TimeScale: r.timeScale, AvgBitrate: rate, MaxBitrate: rate, Codec: codec,
	}}}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("packager: %s: init segment: %w", r.name, err)
	}
	return buf.Bytes(), nil
}

// build marshals the samples in r.cur into the next media segment and empties r.cur.
func (r *Rendition) build() (*builtSegment, error) {
	b := &builtSegment{index: len(r.segments) + 1, samples: len(r.cur)}
	samples := make([]*fmp4.Sample, len(r.cur))
	for i, s := range r.cur {
		samples[i] = &fmp4.Sample{
			Duration:        uint32(s.dur),
			PTSOffset:       int32(s.pts - s.dts),
			IsNonSyncSample: !s.sync,
			Payload:         s.payload,
		}
		b.ticks += s.dur
	}
	part := fmp4.Part{SequenceNumber: uint32(b.index), Tracks: []*fmp4.PartTrack{{
		ID: trackID, BaseTime: uint64(r.cur[0].dts), Samples: samples,
	}}}
	var buf seekablebuffer.Buffer
	if err := part.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("packager: %s: segment %d: %w", r.name, b.index, err)
	}
	b.data = buf.Bytes()
	n, err := firstSampleEnd(b.data, len(r.cur[0].payload))
	if err != nil {
		return nil, fmt.Errorf("packager: %s: segment %d: %w", r.name, b.index, err)
	}
	b.iframeLen = n
	clear(r.cur)
	r.cur = r.cur[:0]
	return b, nil
}

// firstSampleEnd returns the offset in a moof+mdat fragment of the end of its first sample, whose
// n bytes open the mdat payload: the byte range of an I-frame playlist entry.
func firstSampleEnd(frag []byte, n int) (int64, error) {
	box := func(off uint64, typ string) (size, header uint64, err error) {
		if uint64(len(frag)) < off+8 || string(frag[off+4:off+8]) != typ {
			return 0, 0, fmt.Errorf("no %s box at offset %d", typ, off)
		}
		size, header = uint64(binary.BigEndian.Uint32(frag[off:])), 8
		if size == 1 {
			if uint64(len(frag)) < off+16 {
				return 0, 0, fmt.Errorf("short %s box", typ)
			}
			size, header = binary.BigEndian.Uint64(frag[off+8:]), 16
		}
		return size, header, nil
	}
	moofSize, _, err := box(0, "moof")
	if err != nil {
		return 0, err
	}
	_, mdatHeader, err := box(moofSize, "mdat")
	if err != nil {
		return 0, err
	}
	end := moofSize + mdatHeader + uint64(n)
	if end > uint64(len(frag)) {
		return 0, fmt.Errorf("first sample ends past the fragment")
	}
	return int64(end), nil
}

// publish writes a built segment and records it.
func (r *Rendition) publish(ctx context.Context, b *builtSegment) error {
	key := r.p.key(layout.InRendition(r.name, layout.SegmentName(b.index)))
	ct := httpsem.ContentTypeVideoSegment
	if r.kind == KindAudio {
		ct = httpsem.ContentTypeAudioSegment
	}
	if err := r.p.put(ctx, key, b.data, ct, httpsem.CacheImmutable); err != nil {
		return err
	}
	r.segments = append(r.segments, segment{key: key, ticks: b.ticks, size: int64(len(b.data)), samples: b.samples, iframeLen: b.iframeLen})
	r.p.log.Debug("segment written", "key", key, "duration", r.duration(b.ticks), "bytes", len(b.data))
	if r.p.cfg.Progressive && !r.closed { // Close writes the final playlists after the last segment
		return r.p.progress(ctx, r, r.summarizeLocked())
	}
	return nil
}

// finish stops the rendition and writes its last segment. It may be called again after an error.
// If end is positive, a last segment that would start at or after end (the end of the video) is
// dropped rather than written: it only holds the few audio frames that the encoder's priming
// delay and padding push past the last picture, and would leave the audio playlist with one more
// segment than the video's.
func (r *Rendition) finish(ctx context.Context, end time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.err != nil {
		return fmt.Errorf("packager: %s: %w", r.name, r.err)
	}
	if r.pending != nil {
		r.pending.dur = r.lastDuration()
		r.cur = append(r.cur, r.pending)
		r.pending = nil
		if first := r.cur[0]; end > 0 && len(r.segments) > 0 && r.present(first.pts)+r.duration(first.dur)/2 >= end {
			r.p.log.Debug("dropping samples after the end of the video", "rendition", r.name,
				"samples", len(r.cur), "from", r.present(first.pts), "end", end)
			clear(r.cur)
			r.cur = r.cur[:0]
		} else {
			b, err := r.build()
			if err != nil {
				r.err = err
				return err
			}
			r.final = b
		}
	}
	if r.final != nil {
		if err := r.publish(ctx, r.final); err != nil {
			return err
		}
		r.final = nil
	}
	if len(r.segments) == 0 {
		return fmt.Errorf("%w: rendition %q has no samples", ErrIncomplete, r.name)
	}
	return nil
}

// end returns the presentation time at which the rendition's written segments end.
func (r *Rendition) end() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.startDTS
	for _, s := range r.segments {
		t += s.ticks
	}
	return r.present(t)
}

// present returns the presentation time of the output time t: less the ticks the edit list
// hides.
func (r *Rendition) present(t int64) time.Duration { return r.duration(t - r.hidden) }

// lastDuration is the duration of the last sample: as the caller gave it, else the previous
// step, else one frame at the nominal rate.
func (r *Rendition) lastDuration() int64 {
	switch {
	case r.pending.declared > 0:
		return r.pending.declared
	case r.lastStep > 0:
		return r.lastStep
	case r.kind == KindAudio:
		return max(1, int64(mpeg4audio.SamplesPerAccessUnit)*int64(r.timeScale)/int64(r.asc.SampleRate))
	case r.frameRate > 0:
		return max(1, int64(math.Round(float64(r.timeScale)/r.frameRate)))
	}
	return 1
}
