package transcoder

import (
	"errors"
	"fmt"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/reelay/reelay/packager"
)

// run demuxes, decodes, filters and encodes to the end, then flushes every stage.
func (j *job) run() error {
	if err := j.startEncoders(); err != nil {
		j.stopEncoders(false)
		return err
	}
	err := j.pipe()
	if err != nil {
		j.stopEncoders(false)
		return err
	}
	if err := j.stopEncoders(true); err != nil {
		return err
	}
	if err := j.ctx.Err(); err != nil {
		return err
	}
	jpeg, err := j.poster.jpeg()
	if err != nil {
		return err
	}
	if jpeg != nil {
		if err := j.sink.WritePoster(j.ctx, jpeg); err != nil {
			return fmt.Errorf("transcoder: writing poster: %w", err)
		}
	}
	j.report(100)
	return nil
}

// pipe demuxes, decodes and filters to the end, handing video frames to the rungs' encoders
// and encoding audio, and flushes the decoders, the graph and the audio encoder; run flushes
// the video encoders.
func (j *job) pipe() error {
	j.report(0)
	for {
		if err := j.ctx.Err(); err != nil {
			return err
		}
		err := j.d.fc.ReadFrame(j.pkt)
		if errors.Is(err, astiav.ErrEof) {
			break
		}
		if err != nil {
			if e := j.d.failure(); e != nil {
				return e
			}
			// Corrupt data past the header: keep what was decoded, judged below.
			j.t.log.Warn("reading input", "error", err)
			break
		}
		switch {
		case j.pkt.StreamIndex() == j.vst.Index():
			j.vPackets++
			err = j.decode(j.vdec, j.pkt, j.pushVideo)
		case j.ast != nil && j.pkt.StreamIndex() == j.ast.Index():
			err = j.decode(j.adec, j.pkt, j.pushAudio)
		}
		j.pkt.Unref()
		if err != nil {
			return err
		}
	}

	// Flush the decoders, then the graph, then the encoders.
	if err := j.decode(j.vdec, nil, j.pushVideo); err != nil {
		return err
	}
	if j.adec != nil {
		if err := j.decode(j.adec, nil, j.pushAudio); err != nil {
			return err
		}
	}
	if j.vFrames == 0 {
		return reject(ReasonUndecodable, "no video frame could be decoded (%d decode errors)", j.decodeErrors)
	}
	if err := j.checkComplete(); err != nil {
		return err
	}
	if err := j.closeVideo(); err != nil {
		return err
	}
	if j.audio != nil {
		if err := j.graph.asrc.BuffersrcAddFrame(nil, astiav.NewBuffersrcFlags()); err != nil {
			return fmt.Errorf("transcoder: closing audio source: %w", err)
		}
	}
	if err := j.drain(true); err != nil {
		return err
	}
	if j.audio != nil {
		if err := j.encodeAudio(nil); err != nil {
			return err
		}
	}
	return nil
}

// checkComplete refuses an input that ends before its index does: a truncated upload whose
// header survived (an MP4 with the moov box first, cut short). It relies on the sample count the
// container declares (MP4 does; Matroska and MPEG-TS do not). The duration is not used: a
// screen recording may legitimately show its last frame for seconds.
func (j *job) checkComplete() error {
	declared := j.vst.NbFrames()
	if declared <= 0 || j.vPackets >= declared-declared/50 {
		return nil
	}
	return reject(ReasonUndecodable, "the input ends after %d of its %d video frames: truncated or corrupt",
		j.vPackets, declared)
}

// closeVideo ends the video input of the graph. The fps filter would otherwise drop the last
// picture, not knowing how long it lasts: so the last picture is sent again one frame duration
// later, which marks the end of the stream.
func (j *job) closeVideo() error {
	if f := j.lastFrame; f != nil {
		dur := max(astiav.RescaleQ(1, astiav.NewRational(j.srcRate.Den, j.srcRate.Num), j.vst.TimeBase()), 1)
		f.SetPts(f.Pts() + dur)
		j.lastFrame = nil
		err := j.graph.vsrc.BuffersrcAddFrame(f, astiav.NewBuffersrcFlags())
		f.Free()
		if err != nil {
			return fmt.Errorf("transcoder: feeding video to the filter graph: %w", err)
		}
	}
	if err := j.graph.vsrc.BuffersrcAddFrame(nil, astiav.NewBuffersrcFlags()); err != nil {
		return fmt.Errorf("transcoder: closing video source: %w", err)
	}
	return nil
}

// decode sends pkt (nil to flush) to a decoder and pushes every frame it returns. A packet the
// decoder refuses is skipped, as FFmpeg does: a few corrupt packets should not fail a video.
func (j *job) decode(dec *astiav.CodecContext, pkt *astiav.Packet, push func(*astiav.Frame) error) error {
	if err := dec.SendPacket(pkt); err != nil && !errors.Is(err, astiav.ErrEof) {
		if rej := j.decoderRefused(dec); rej != nil {
			return rej
		}
		j.decodeErrors++
		j.t.log.Debug("decoding packet", "error", err)
	}
	for {
		err := dec.ReceiveFrame(j.frame)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			if rej := j.decoderRefused(dec); rej != nil {
				return rej
			}
			j.decodeErrors++
			j.t.log.Debug("decoding frame", "error", err)
			return nil
		}
		err = push(j.frame)
		j.frame.Unref()
		if err != nil {
			return err
		}
	}
}

// decoderRefused explains a failure of the video decoder by the picture size, when it refused
// a picture past maxPixels: the input is refused as too large, where its pictures would
// otherwise be dropped as corrupt one after the other, and the video silently cut short.
// FFmpeg's decoders show the refusal in their context in one of two ways. Most (H.264, HEVC)
// take the new size from the bitstream into their context before they ask for the picture's
// memory, which max_pixels denies: the size is there, beyond the limits. Those that check the
// size as they set it (ff_set_dimensions: VP9, AV1) leave 0x0 instead, which no valid size is.
func (j *job) decoderRefused(dec *astiav.CodecContext) *RejectError {
	if dec != j.vdec {
		return nil
	}
	sw, sh := dec.Width(), dec.Height()
	if sw <= 0 || sh <= 0 {
		return reject(ReasonTooLarge, "the stream changes to pictures the decoder refuses, larger than %d pixels or invalid (its header says %dx%d)",
			j.maxPixels, j.info.Width, j.info.Height)
	}
	w, h := displaySize(sw, sh, dec.SampleAspectRatio(), j.info.Rotation)
	if !j.t.tooLarge(w, h) && int64(sw)*int64(sh) <= j.maxPixels {
		return nil
	}
	return reject(ReasonTooLarge, "the stream changes to %dx%d pictures, beyond %dx%d (its header says %dx%d)",
		w, h, j.t.cfg.MaxWidth, j.t.cfg.MaxHeight, j.info.Width, j.info.Height)
}

// checkPicture refuses a decoded picture beyond the limits, as check refuses a header beyond
// them: a stream may change size midway. sar is the aspect ratio the picture is displayed with:
// the stream's, else the picture's.
func (j *job) checkPicture(f *astiav.Frame, sar astiav.Rational, at time.Duration) error {
	w, h := displaySize(f.Width(), f.Height(), sar, j.info.Rotation)
	if !j.t.tooLarge(w, h) {
		return nil
	}
	return reject(ReasonTooLarge, "a picture of %dx%d at %v exceeds %dx%d (the header says %dx%d)",
		w, h, at.Round(time.Millisecond), j.t.cfg.MaxWidth, j.t.cfg.MaxHeight, j.info.Width, j.info.Height)
}

// pushVideo feeds a decoded picture to the graph and drains the graph. A picture of another
// size than the header's is refused beyond the limits, and otherwise fitted to the graph.
func (j *job) pushVideo(f *astiav.Frame) error {
	pts := f.Pts()
	if pts == astiav.NoPtsValue {
		pts = f.PktDts()
	}
	if pts == astiav.NoPtsValue { // extrapolate by one nominal frame
		pts = 0
		if j.lastVPts != astiav.NoPtsValue {
			pts = j.lastVPts + max(astiav.RescaleQ(1, astiav.NewRational(j.srcRate.Den, j.srcRate.Num), j.vst.TimeBase()), 1)
		}
	}
	j.lastVPts = pts
	j.vFrames++
	f.SetPts(pts - j.vOrigin)
	f.SetPictureType(astiav.PictureTypeNone)

	at := j.streamTime(pts - j.vOrigin)
	sar := j.d.fc.GuessSampleAspectRatio(j.vst, f)
	if err := j.checkPicture(f, sar, at); err != nil {
		return err
	}
	if at > j.t.cfg.MaxDuration+time.Second {
		return reject(ReasonTooLong, "video runs past %v although its header says %v", j.t.cfg.MaxDuration, j.info.Duration)
	}
	if j.info.Duration > 0 {
		j.report(100 * at.Seconds() / j.info.Duration.Seconds())
	}
	pic, err := j.fitter.fit(f, sar)
	if err != nil {
		return err
	}
	if j.lastFrame != nil {
		j.lastFrame.Free()
	}
	if j.lastFrame = pic.Clone(); j.lastFrame == nil {
		return errors.New("transcoder: referencing frame failed")
	}
	if err := j.graph.vsrc.BuffersrcAddFrame(pic, astiav.NewBuffersrcFlags()); err != nil {
		return fmt.Errorf("transcoder: feeding video to the filter graph: %w", err)
	}
	return j.drain(false)
}

// pushAudio feeds decoded samples to the graph and drains the graph.
func (j *job) pushAudio(f *astiav.Frame) error {
	if pts := f.Pts(); pts != astiav.NoPtsValue {
		f.SetPts(pts - j.aOrigin)
	}
	if err := j.graph.asrc.BuffersrcAddFrame(f, astiav.NewBuffersrcFlags()); err != nil {
		return fmt.Errorf("transcoder: feeding audio to the filter graph: %w", err)
	}
	return j.drain(false)
}

// streamTime converts a video stream timestamp to a duration.
func (j *job) streamTime(pts int64) time.Duration {
	return time.Duration(astiav.RescaleQ(pts, j.vst.TimeBase(), nanosecond))
}

// drain takes every frame the graph's sinks have ready and encodes it. At the end (final) it
// goes on until every sink has reported the end of its stream.
func (j *job) drain(final bool) error {
	for {
		progress := false
		for _, o := range j.outs {
			n, err := j.drainVideo(o)
			if err != nil {
				return err
			}
			progress = progress || n > 0
		}
		if j.audio != nil {
			n, err := j.drainAudio()
			if err != nil {
				return err
			}
			progress = progress || n > 0
		}
		if !final || !progress || j.allEOF() {
			return nil
		}
	}
}

func (j *job) allEOF() bool {
	for _, o := range j.outs {
		if !o.eof {
			return false
		}
	}
	return j.audio == nil || j.audio.eof
}

func (j *job) drainVideo(o *videoOut) (int, error) {
	n := 0
	for !o.eof {
		err := o.sink.BuffersinkGetFrame(j.filtered, astiav.NewBuffersinkFlags())
		if errors.Is(err, astiav.ErrEagain) {
			break
		}
		if errors.Is(err, astiav.ErrEof) {
			o.eof = true
			break
		}
		if err != nil {
			return n, fmt.Errorf("transcoder: filtering video for %s: %w", o.Name, err)
		}
		n++
		err = o.encode(j.filtered)
		j.filtered.Unref()
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (j *job) drainAudio() (int, error) {
	a, n := j.audio, 0
	for !a.eof {
		err := a.sink.BuffersinkGetFrame(j.filtered, astiav.NewBuffersinkFlags())
		if errors.Is(err, astiav.ErrEagain) {
			break
		}
		if errors.Is(err, astiav.ErrEof) {
			a.eof = true
			break
		}
		if err != nil {
			return n, fmt.Errorf("transcoder: filtering audio: %w", err)
		}
		n++
		err = j.encodeAudio(j.filtered)
		j.filtered.Unref()
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// encodeVideo encodes one constant-rate frame of a rung (nil to flush) and writes its packets.
// It runs in the rung's encoder goroutine (see rungEncoder).
// A frame is forced to be an IDR frame when it is the first of its segment: the first frame whose
// timestamp reaches the next multiple of the segment duration. The frames of all rungs carry the
// same timestamps (they come from one fps filter through split), so every rung decides alike.
func (j *job) encodeVideo(o *videoOut, f *astiav.Frame) error {
	if f != nil {
		at := time.Duration(astiav.RescaleQ(f.Pts(), o.tb, nanosecond))
		seg := int64(at / j.t.cfg.SegmentDuration)
		if at < 0 {
			seg = -1
		}
		if seg > o.lastSeg {
			f.SetPictureType(astiav.PictureTypeI)
			o.lastSeg = seg
		} else {
			f.SetPictureType(astiav.PictureTypeNone)
		}
		if o == j.posterOut {
			if err := j.poster.consider(f, at); err != nil {
				return err
			}
		}
	}
	if err := o.enc.SendFrame(f); err != nil {
		return fmt.Errorf("transcoder: encoding %s: %w", o.Name, err)
	}
	scale := astiav.NewRational(1, videoTimeScale)
	for {
		err := o.enc.ReceivePacket(o.pkt)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("transcoder: encoding %s: %w", o.Name, err)
		}
		pts, dts := o.pkt.Pts(), o.pkt.Dts()
		dur := max(o.pkt.Duration(), 1)
		s := packager.Sample{
			PTS:      astiav.RescaleQ(pts, o.tb, scale),
			DTS:      astiav.RescaleQ(dts, o.tb, scale),
			Keyframe: o.pkt.Flags().Has(astiav.PacketFlagKey),
			Data:     o.pkt.Data(),
		}
		s.Duration = astiav.RescaleQ(pts+dur, o.tb, scale) - s.PTS
		o.pkt.Unref()
		o.frames++
		o.bytes += int64(len(s.Data))
		if err := o.w.WriteSample(j.ctx, s); err != nil {
			return fmt.Errorf("transcoder: writing %s sample: %w", o.Name, err)
		}
	}
}

// encodeAudio encodes one 1024-sample frame (nil to flush) and writes its packets.
func (j *job) encodeAudio(f *astiav.Frame) error {
	a := j.audio
	if err := a.enc.SendFrame(f); err != nil {
		return fmt.Errorf("transcoder: encoding audio: %w", err)
	}
	for {
		err := a.enc.ReceivePacket(a.pkt)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("transcoder: encoding audio: %w", err)
		}
		s := packager.Sample{
			PTS:      a.pkt.Pts(),
			DTS:      a.pkt.Dts(),
			Duration: a.pkt.Duration(),
			Keyframe: true,
			Data:     a.pkt.Data(),
		}
		if s.Duration <= 0 {
			s.Duration = aacFrameSize
		}
		a.pkt.Unref()
		if err := a.w.WriteSample(j.ctx, s); err != nil {
			return fmt.Errorf("transcoder: writing audio sample: %w", err)
		}
	}
}

// report calls the progress callback when the percentage has grown by at least a half.
func (j *job) report(pct float64) {
	if j.progress == nil {
		return
	}
	if pct < 100 {
		pct = min(pct, 99.5)
		if pct < j.lastPct+0.5 {
			return
		}
	} else if j.lastPct >= 100 {
		return
	}
	j.lastPct = pct
	j.progress(pct)
}
