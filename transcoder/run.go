package transcoder

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/reelay/reelay/packager"
)

// AudioName is the rendition name Run gives the audio track.
const AudioName = "audio"

var nanosecond = astiav.NewRational(1, int(time.Second))

// Run transcodes in into sink: it probes the input (refusing it as Probe would), registers one
// video rendition per fitting rung and the audio rendition (when the input has audio), writes
// every encoded sample, and finally the poster. progress, when not nil, is called from Run's
// goroutine with a percentage that only grows and ends at 100. Run stops between frames when ctx
// is done and returns ctx's error. Run does not close the sink. Once it has freed what it used,
// Run returns the C heap's free memory to the system (see releaseFreedMemory).
func (t *Transcoder) Run(ctx context.Context, in Input, sink Sink, progress func(pct float64)) (Result, error) {
	if sink == nil {
		return Result{}, errors.New("transcoder: nil sink")
	}
	defer releaseFreedMemory() // after the deferred frees below
	d, err := openInput(ctx, in)
	if err != nil {
		return Result{}, err
	}
	defer d.close()
	info, vst, ast, err := describe(d)
	if err != nil {
		return Result{Info: info}, err
	}
	if err := t.check(info); err != nil {
		return Result{Info: info}, err
	}
	j := &job{t: t, ctx: ctx, d: d, info: info, vst: vst, ast: ast, sink: sink, progress: progress, lastPct: -1}
	defer j.free()
	start := time.Now()
	if err := j.setup(); err != nil {
		return Result{Info: info}, err
	}
	if err := j.run(); err != nil {
		return Result{Info: info}, err
	}
	res := j.result()
	t.log.Info("transcoded", "input", info.String(), "rate", res.FrameRate.String(), "renditions", len(res.Renditions),
		"audio", res.Audio, "duration", res.Duration, "resized", j.fitter.count, "elapsed", time.Since(start).Round(time.Millisecond))
	return res, nil
}

// job is one running transcode. All its FFmpeg objects are freed by free.
type job struct {
	t        *Transcoder
	ctx      context.Context // Run's context, for the duration of Run only
	d        *demuxer
	info     Info
	vst, ast *astiav.Stream // ast is nil without audio
	sink     Sink
	progress func(float64)
	lastPct  float64

	rate       Rate
	vdec, adec *astiav.CodecContext
	graph      *graph
	fitter     *fitter // conforms pictures of another size than the header's to the graph
	outs       []*videoOut
	audio      *audioOut
	poster     *posterPicker
	posterOut  *videoOut
	pkt        *astiav.Packet
	frame      *astiav.Frame // decoded
	filtered   *astiav.Frame
	lastFrame  *astiav.Frame // a reference to the last decoded picture
	srcRate    Rate          // the source's nominal frame rate, or the output rate when unknown

	vOrigin, aOrigin int64 // the input's start time in each stream's time base
	lastVPts         int64 // last decoded video timestamp, stream time base, before the origin shift
	vFrames          int   // decoded video frames
	vPackets         int64 // video packets read
	decodeErrors     int
	maxPixels        int64 // the video decoder's limit (FFmpeg's max_pixels)
	frees            []func()
}

// videoOut is one rung: its sink in the graph, its encoder and its rendition in the Sink.
type videoOut struct {
	target
	sink    *astiav.FilterContext
	enc     *astiav.CodecContext
	tb      astiav.Rational // of frames and packets
	w       SampleWriter
	pkt     *astiav.Packet
	lastSeg int64 // segment index of the last frame sent
	eof     bool
	frames  int
	bytes   int64
	encoder *rungEncoder // while the pipeline runs
}

type audioOut struct {
	sink *astiav.FilterContext
	enc  *astiav.CodecContext
	w    SampleWriter
	pkt  *astiav.Packet
	eof  bool
}

func (j *job) free() {
	for i := len(j.frees) - 1; i >= 0; i-- {
		j.frees[i]()
	}
	j.frees = nil
}

func (j *job) setup() error {
	cfg := j.t.cfg
	j.rate = outputRate(j.info.FrameRate, cfg.MaxFrameRate)
	if j.srcRate = j.info.FrameRate; j.srcRate.Float64() <= 0 {
		j.srcRate = j.rate
	}
	targets := selectRungs(cfg.Ladder, j.info.Width, j.info.Height, j.info.VideoBitRate)

	var err error
	j.maxPixels = j.t.maxPixels(j.info.CodedWidth, j.info.CodedHeight)
	if j.vdec, err = openDecoder(j.d.fc, j.vst, cfg.Threads, j.maxPixels); err != nil {
		return err
	}
	j.frees = append(j.frees, j.vdec.Free)
	if j.vdec.PixelFormat() == astiav.PixelFormatNone {
		return reject(ReasonUndecodable, "unknown pixel format")
	}
	var audio *audioParams
	if j.ast != nil {
		if j.adec, err = openDecoder(j.d.fc, j.ast, 1, 0); err != nil {
			// A broken audio stream should not lose the video.
			j.t.log.Warn("ignoring audio stream", "error", err)
			j.ast, j.adec = nil, nil
		} else {
			j.frees = append(j.frees, j.adec.Free)
			audio = &audioParams{
				sampleRate: j.adec.SampleRate(),
				sampleFmt:  j.adec.SampleFormat(),
				layout:     channelLayout(j.adec.ChannelLayout(), j.adec.ChannelLayout().NbChannels()),
				timeBase:   j.ast.TimeBase(),
			}
		}
	}
	if start := j.d.fc.StartTime(); start != astiav.NoPtsValue {
		j.vOrigin = astiav.RescaleQ(start, astiav.TimeBaseQ, j.vst.TimeBase())
		if j.ast != nil {
			j.aOrigin = astiav.RescaleQ(start, astiav.TimeBaseQ, j.ast.TimeBase())
		}
	}
	j.lastVPts = astiav.NoPtsValue

	video := videoParams{
		width: j.vdec.Width(), height: j.vdec.Height(), pixFmt: j.vdec.PixelFormat(),
		sar: j.d.fc.GuessSampleAspectRatio(j.vst, nil), timeBase: j.vst.TimeBase(),
	}
	if j.graph, err = newGraph(graphSpec{
		video: video, rotation: j.info.Rotation, rate: j.rate, targets: targets, audio: audio,
		threads: cfg.Threads, scaleFlag: "bicubic",
	}); err != nil {
		return err
	}
	j.frees = append(j.frees, j.graph.free)
	j.fitter = newFitter(video, cfg.Threads)
	j.frees = append(j.frees, j.fitter.free)

	segFrames := int(math.Ceil(cfg.SegmentDuration.Seconds() * j.rate.Float64()))
	bestPoster := math.MaxInt
	for i, tg := range targets {
		o := &videoOut{target: tg, sink: j.graph.vsink[i], tb: j.graph.vsink[i].Inputs()[0].TimeBase(), lastSeg: -1}
		if o.enc, err = openVideoEncoder(videoEncoderSpec{
			target: tg, timeBase: o.tb, rate: j.rate, preset: cfg.Preset, keyint: 2 * max(segFrames, 1), threads: cfg.Threads,
		}); err != nil {
			return err
		}
		j.frees = append(j.frees, o.enc.Free)
		if o.pkt = astiav.AllocPacket(); o.pkt == nil {
			return errors.New("transcoder: allocating packet failed")
		}
		j.frees = append(j.frees, o.pkt.Free)
		sps, pps := parameterSets(o.enc.ExtraData())
		if sps == nil || pps == nil {
			return fmt.Errorf("transcoder: libx264 gave no SPS/PPS for %s", tg.Name)
		}
		if o.w, err = j.sink.AddVideo(tg.Name, packager.VideoTrack{
			SPS: sps, PPS: pps, Width: tg.Width, Height: tg.Height,
			FrameRateNum: j.rate.Num, FrameRateDen: j.rate.Den, TimeScale: videoTimeScale,
		}, tg.Bitrate); err != nil {
			return fmt.Errorf("transcoder: adding rendition %s: %w", tg.Name, err)
		}
		j.outs = append(j.outs, o)
		if dist := abs(tg.ShortSide - posterShortSide); dist < bestPoster {
			bestPoster, j.posterOut = dist, o
		}
	}
	j.poster = newPosterPicker(j.info.Duration)
	j.frees = append(j.frees, j.poster.free)

	if audio != nil {
		a := &audioOut{sink: j.graph.asink}
		if a.enc, err = openAudioEncoder(cfg.AudioBitrate); err != nil {
			return err
		}
		j.frees = append(j.frees, a.enc.Free)
		if a.pkt = astiav.AllocPacket(); a.pkt == nil {
			return errors.New("transcoder: allocating packet failed")
		}
		j.frees = append(j.frees, a.pkt.Free)
		if a.w, err = j.sink.AddAudio(AudioName, packager.AudioTrack{
			Config: a.enc.ExtraData(), SampleRate: audioSampleRate, Channels: audioChannels, TimeScale: audioSampleRate,
		}, cfg.AudioBitrate); err != nil {
			return fmt.Errorf("transcoder: adding audio rendition: %w", err)
		}
		j.audio = a
	}

	if j.pkt = astiav.AllocPacket(); j.pkt == nil {
		return errors.New("transcoder: allocating packet failed")
	}
	j.frees = append(j.frees, j.pkt.Free)
	if j.frame = astiav.AllocFrame(); j.frame == nil {
		return errors.New("transcoder: allocating frame failed")
	}
	j.frees = append(j.frees, j.frame.Free)
	if j.filtered = astiav.AllocFrame(); j.filtered == nil {
		return errors.New("transcoder: allocating frame failed")
	}
	j.frees = append(j.frees, j.filtered.Free)
	j.frees = append(j.frees, func() {
		if j.lastFrame != nil {
			j.lastFrame.Free()
		}
	})
	return nil
}

func (j *job) result() Result {
	r := Result{Info: j.info, FrameRate: j.rate, Audio: j.audio != nil, Poster: j.poster.best != nil}
	for _, o := range j.outs {
		r.Renditions = append(r.Renditions, RenditionInfo{
			Name: o.Name, Width: o.Width, Height: o.Height, Bitrate: o.Bitrate, Frames: o.frames, Bytes: o.bytes,
		})
	}
	if len(j.outs) > 0 {
		r.Duration = time.Duration(float64(j.outs[0].frames) * float64(time.Second) / j.rate.Float64())
	}
	return r
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
