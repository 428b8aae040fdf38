package demo

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/asticode/go-astiav"
)

// Clip is a generated video: a picture and a sound from FFmpeg's lavfi sources (testsrc2,
// smptebars, mandelbrot, life, cellauto, gradients, sine, anoisesrc...), encoded as H.264 and
// AAC in an MP4, as a phone would send it.
type Clip struct {
	// Video is a lavfi filter chain that makes the picture, of Width×Height at 30 frames a
	// second, e.g. "testsrc2=s=540x960:r=30". It may end in filters of its own (hue, scale).
	Video string
	// Audio is a lavfi filter chain that makes the sound, e.g. "sine=f=440".
	Audio string
	// Width and Height are the picture's size (what Video makes). Both even.
	Width, Height int
	// Seconds is how long the clip lasts.
	Seconds float64
}

// clip encoding constants: 30 fps, AAC-LC 48 kHz stereo in frames of 1024 samples.
const (
	clipFPS        = 30
	clipSampleRate = 48000
	clipAACFrame   = 1024
)

// Generate writes c to path as an MP4 through go-astiav: one filter graph makes the picture
// and the sound, libx264 (ultrafast) and FFmpeg's AAC encoder encode them, and the mp4 muxer
// interleaves them. It stops early when ctx ends. On error path may hold a partial file.
func Generate(ctx context.Context, c Clip, path string) (err error) {
	if c.Width <= 0 || c.Height <= 0 || c.Width%2 != 0 || c.Height%2 != 0 || c.Seconds <= 0 {
		return fmt.Errorf("demo: clip of %dx%d for %gs: want an even size and a duration", c.Width, c.Height, c.Seconds)
	}
	g, err := newClipGraph(c)
	if err != nil {
		return err
	}
	defer g.Free()

	venc, err := openClipVideoEncoder(c)
	if err != nil {
		return err
	}
	defer venc.Free()
	aenc, err := openClipAudioEncoder()
	if err != nil {
		return err
	}
	defer aenc.Free()

	fc, err := astiav.AllocOutputFormatContext(nil, "mp4", path)
	if err != nil || fc == nil {
		return fmt.Errorf("demo: mp4 muxer: %v", err)
	}
	defer fc.Free()
	var streams []*astiav.Stream
	for _, enc := range []*astiav.CodecContext{venc, aenc} {
		st := fc.NewStream(nil)
		if st == nil {
			return errors.New("demo: allocating a stream failed")
		}
		if err := st.CodecParameters().FromCodecContext(enc); err != nil {
			return fmt.Errorf("demo: stream parameters: %w", err)
		}
		st.SetTimeBase(enc.TimeBase())
		streams = append(streams, st)
	}
	ioc, err := astiav.OpenIOContext(path, astiav.NewIOContextFlags(astiav.IOContextFlagWrite))
	if err != nil {
		return fmt.Errorf("demo: creating %s: %w", path, err)
	}
	defer func() {
		if cerr := ioc.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("demo: closing %s: %w", path, cerr)
		}
	}()
	fc.SetPb(ioc)
	if err := fc.WriteHeader(nil); err != nil {
		return fmt.Errorf("demo: mp4 header: %w", err)
	}

	frame, pkt := astiav.AllocFrame(), astiav.AllocPacket()
	defer frame.Free()
	defer pkt.Free()
	// drain writes what enc has ready as packets of stream i.
	drain := func(enc *astiav.CodecContext, i int) error {
		for {
			if err := enc.ReceivePacket(pkt); errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return nil
			} else if err != nil {
				return fmt.Errorf("demo: encoding: %w", err)
			}
			pkt.SetStreamIndex(i)
			pkt.RescaleTs(enc.TimeBase(), streams[i].TimeBase())
			if err := fc.WriteInterleavedFrame(pkt); err != nil {
				return fmt.Errorf("demo: writing: %w", err)
			}
		}
	}
	// Pull from the sink that is behind, so that the muxer gets the streams interleaved.
	sinks := []*astiav.FilterContext{g.video, g.audio}
	encs := []*astiav.CodecContext{venc, aenc}
	done := []bool{false, false}
	at := []float64{0, 0} // seconds each stream has reached
	for !done[0] || !done[1] {
		if err := ctx.Err(); err != nil {
			return err
		}
		i := 0
		if done[0] || !done[1] && at[1] < at[0] {
			i = 1
		}
		err := sinks[i].BuffersinkGetFrame(frame, astiav.NewBuffersinkFlags())
		if errors.Is(err, astiav.ErrEof) {
			done[i] = true
			if err := encs[i].SendFrame(nil); err != nil {
				return fmt.Errorf("demo: flushing: %w", err)
			}
			if err := drain(encs[i], i); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("demo: filter graph: %w", err)
		}
		at[i] = float64(frame.Pts()) * encs[i].TimeBase().Float64()
		frame.SetPictureType(astiav.PictureTypeNone)
		err = encs[i].SendFrame(frame)
		frame.Unref()
		if err != nil {
			return fmt.Errorf("demo: encoding: %w", err)
		}
		if err := drain(encs[i], i); err != nil {
			return err
		}
	}
	if err := fc.WriteTrailer(); err != nil {
		return fmt.Errorf("demo: mp4 trailer: %w", err)
	}
	return nil
}

// clipGraph is the filter graph of a clip: two sources, two sinks.
type clipGraph struct {
	*astiav.FilterGraph
	video, audio *astiav.FilterContext
}

// newClipGraph builds c's graph: its picture cut to its duration in yuv420p at 30 fps with
// timestamps in frames, and its sound cut likewise as stereo 48 kHz planar float in frames of
// 1024 samples, as the encoders take them.
func newClipGraph(c Clip) (_ *clipGraph, err error) {
	g := &clipGraph{FilterGraph: astiav.AllocFilterGraph()}
	if g.FilterGraph == nil {
		return nil, errors.New("demo: allocating a filter graph failed")
	}
	defer func() {
		if err != nil {
			g.Free()
		}
	}()
	g.SetThreadCount(1)
	buffersink, abuffersink := astiav.FindFilterByName("buffersink"), astiav.FindFilterByName("abuffersink")
	if buffersink == nil || abuffersink == nil {
		return nil, errors.New("demo: FFmpeg has no buffersink or abuffersink filter")
	}
	if g.video, err = g.NewFilterContext(buffersink, "vout", nil); err != nil {
		return nil, fmt.Errorf("demo: video sink: %w", err)
	}
	if g.audio, err = g.NewFilterContext(abuffersink, "aout", nil); err != nil {
		return nil, fmt.Errorf("demo: audio sink: %w", err)
	}
	d := strconv.FormatFloat(c.Seconds, 'f', 3, 64)
	desc := fmt.Sprintf("%s,fps=%d,scale=%d:%d,setsar=1,format=yuv420p,trim=duration=%s,setpts=N[vout];"+
		"%s,aresample=%d,aformat=sample_fmts=fltp:channel_layouts=stereo,atrim=duration=%s,asetnsamples=n=%d:p=0,asetpts=N[aout]",
		c.Video, clipFPS, c.Width, c.Height, d, c.Audio, clipSampleRate, d, clipAACFrame)
	vin, ain := astiav.AllocFilterInOut(), astiav.AllocFilterInOut()
	if vin == nil || ain == nil {
		if vin != nil {
			vin.Free()
		}
		if ain != nil {
			ain.Free()
		}
		return nil, errors.New("demo: allocating filter in/outs failed")
	}
	vin.SetName("vout")
	vin.SetFilterContext(g.video)
	vin.SetPadIdx(0)
	vin.SetNext(ain)
	ain.SetName("aout")
	ain.SetFilterContext(g.audio)
	ain.SetPadIdx(0)
	ain.SetNext(nil)
	inputs := vin
	defer func() {
		if inputs != nil {
			inputs.Free()
		}
	}()
	if err := g.Parse(desc, inputs, nil); err != nil {
		return nil, fmt.Errorf("demo: parsing %q: %w", desc, err)
	}
	inputs = nil // Parse consumed the list
	if err := g.Configure(); err != nil {
		return nil, fmt.Errorf("demo: configuring %q: %w", desc, err)
	}
	return g, nil
}

// openClipVideoEncoder opens libx264 at its fastest preset: the clip is transcoded again by
// the pipeline, so only its size matters, not its quality.
func openClipVideoEncoder(c Clip) (*astiav.CodecContext, error) {
	codec := astiav.FindEncoderByName("libx264")
	if codec == nil {
		return nil, errors.New("demo: FFmpeg has no libx264 encoder")
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, errors.New("demo: allocating the video encoder failed")
	}
	cc.SetWidth(c.Width)
	cc.SetHeight(c.Height)
	cc.SetPixelFormat(astiav.PixelFormatYuv420P)
	cc.SetSampleAspectRatio(astiav.NewRational(1, 1))
	cc.SetTimeBase(astiav.NewRational(1, clipFPS))
	cc.SetFramerate(astiav.NewRational(clipFPS, 1))
	cc.SetGopSize(2 * clipFPS)
	cc.SetThreadCount(1)
	cc.SetFlags(cc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	opts := astiav.NewDictionary()
	defer opts.Free()
	for _, kv := range [][2]string{{"preset", "ultrafast"}, {"crf", "26"}} {
		if err := opts.Set(kv[0], kv[1], 0); err != nil {
			cc.Free()
			return nil, fmt.Errorf("demo: x264 option %s: %w", kv[0], err)
		}
	}
	if err := cc.Open(codec, opts); err != nil {
		cc.Free()
		return nil, fmt.Errorf("demo: opening libx264: %w", err)
	}
	return cc, nil
}

// openClipAudioEncoder opens FFmpeg's AAC encoder, stereo 48 kHz at 96 kb/s.
func openClipAudioEncoder() (*astiav.CodecContext, error) {
	codec := astiav.FindEncoderByName("aac")
	if codec == nil {
		return nil, errors.New("demo: FFmpeg has no aac encoder")
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, errors.New("demo: allocating the audio encoder failed")
	}
	cc.SetSampleRate(clipSampleRate)
	cc.SetSampleFormat(astiav.SampleFormatFltp)
	cc.SetChannelLayout(astiav.ChannelLayoutStereo)
	cc.SetChannels(2)
	cc.SetBitRate(96_000)
	cc.SetTimeBase(astiav.NewRational(1, clipSampleRate))
	cc.SetFlags(cc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	if err := cc.Open(codec, nil); err != nil {
		cc.Free()
		return nil, fmt.Errorf("demo: opening aac: %w", err)
	}
	return cc, nil
}
