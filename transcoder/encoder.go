package transcoder

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/asticode/go-astiav"
)

// videoTimeScale is the time scale of video sample timestamps.
const videoTimeScale = 90000

// openDecoder opens a decoder for st. A video decoder refuses pictures of more than maxPixels
// stored pixels (0: FFmpeg's default, no limit to speak of) before it allocates them. Failures
// are the input's fault: *RejectError undecodable.
func openDecoder(fc *astiav.FormatContext, st *astiav.Stream, threads int, maxPixels int64) (*astiav.CodecContext, error) {
	cp := st.CodecParameters()
	codec := astiav.FindDecoder(cp.CodecID())
	if codec == nil {
		return nil, reject(ReasonUndecodable, "no decoder for %s", cp.CodecID().Name())
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, errors.New("transcoder: allocating decoder failed")
	}
	if err := cp.ToCodecContext(cc); err != nil {
		cc.Free()
		return nil, reject(ReasonUndecodable, "%s parameters: %v", cp.CodecID().Name(), err)
	}
	if cp.MediaType() == astiav.MediaTypeVideo {
		cc.SetFramerate(fc.GuessFrameRate(st, nil))
		cc.SetThreadCount(threads)
		cc.SetThreadType(astiav.ThreadTypeFrame | astiav.ThreadTypeSlice)
	}
	opts := astiav.NewDictionary()
	defer opts.Free()
	// The packet time base lets the decoder shift timestamps when it drops encoder priming samples.
	if err := opts.Set("pkt_timebase", st.TimeBase().String(), 0); err != nil {
		cc.Free()
		return nil, fmt.Errorf("transcoder: decoder options: %w", err)
	}
	if maxPixels > 0 {
		if err := opts.Set("max_pixels", strconv.FormatInt(maxPixels, 10), 0); err != nil {
			cc.Free()
			return nil, fmt.Errorf("transcoder: decoder options: %w", err)
		}
	}
	if err := cc.Open(codec, opts); err != nil {
		cc.Free()
		return nil, reject(ReasonUndecodable, "opening %s decoder: %v", codec.Name(), err)
	}
	if e := opts.Get("", nil, astiav.NewDictionaryFlags(astiav.DictionaryFlagIgnoreSuffix)); e != nil {
		cc.Free()
		return nil, fmt.Errorf("transcoder: %s decoder ignored option %s", codec.Name(), e.Key())
	}
	return cc, nil
}

// videoEncoderSpec is what a rung's encoder is opened with.
type videoEncoderSpec struct {
	target
	timeBase astiav.Rational // of the frames from the rung's sink: 1/frame rate
	rate     Rate
	preset   string
	keyint   int // maximum GOP length in frames; the forced IDRs come sooner
	threads  int
}

// openVideoEncoder opens libx264 for one rung: High profile, closed GOPs without scene-cut
// keyframes (IDR frames come only where Run forces them; keyint is only a safety net), the rung's
// bitrate as an average capped by a VBV of maxrate 1.1× and bufsize 2× the bitrate, yuv420p, and
// the parameter sets in the extradata (global header) rather than repeated in band.
func openVideoEncoder(s videoEncoderSpec) (*astiav.CodecContext, error) {
	codec := astiav.FindEncoderByName("libx264")
	if codec == nil {
		return nil, errors.New("transcoder: FFmpeg has no libx264 encoder")
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, errors.New("transcoder: allocating video encoder failed")
	}
	cc.SetWidth(s.Width)
	cc.SetHeight(s.Height)
	cc.SetPixelFormat(astiav.PixelFormatYuv420P)
	cc.SetSampleAspectRatio(astiav.NewRational(1, 1))
	cc.SetTimeBase(s.timeBase)
	cc.SetFramerate(s.rate.rational())
	cc.SetBitRate(int64(s.Bitrate))
	cc.SetProfile(astiav.ProfileH264High)
	cc.SetGopSize(s.keyint)
	cc.SetThreadCount(s.threads)
	cc.SetFlags(cc.Flags().Add(astiav.CodecContextFlagGlobalHeader).Add(astiav.CodecContextFlagClosedGop))

	preset, params := s.preset, "scenecut=0:open-gop=0:keyint="+strconv.Itoa(s.keyint)
	if preset == ReelayPreset {
		preset, params = "veryfast", params+":"+reelayParams
	}
	opts := astiav.NewDictionary()
	defer opts.Free()
	for _, kv := range [][2]string{
		{"preset", preset},
		{"forced-idr", "1"}, // a frame forced to I becomes an IDR frame
		{"x264-params", params},
		{"maxrate", strconv.Itoa(s.Bitrate * 11 / 10)},
		{"bufsize", strconv.Itoa(s.Bitrate * 2)},
	} {
		if err := opts.Set(kv[0], kv[1], 0); err != nil {
			cc.Free()
			return nil, fmt.Errorf("transcoder: x264 option %s: %w", kv[0], err)
		}
	}
	if err := cc.Open(codec, opts); err != nil {
		cc.Free()
		return nil, fmt.Errorf("transcoder: opening libx264 for %s (%dx%d): %w", s.Name, s.Width, s.Height, err)
	}
	if e := opts.Get("", nil, astiav.NewDictionaryFlags(astiav.DictionaryFlagIgnoreSuffix)); e != nil {
		cc.Free()
		return nil, fmt.Errorf("transcoder: libx264 ignored option %s", e.Key())
	}
	return cc, nil
}

// openAudioEncoder opens FFmpeg's native AAC encoder: AAC-LC, 48 kHz stereo, with the
// AudioSpecificConfig in the extradata (global header).
func openAudioEncoder(bitrate int) (*astiav.CodecContext, error) {
	codec := astiav.FindEncoderByName("aac")
	if codec == nil {
		return nil, errors.New("transcoder: FFmpeg has no aac encoder")
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, errors.New("transcoder: allocating audio encoder failed")
	}
	cc.SetSampleRate(audioSampleRate)
	cc.SetSampleFormat(astiav.SampleFormatFltp)
	cc.SetChannelLayout(astiav.ChannelLayoutStereo)
	cc.SetChannels(audioChannels)
	cc.SetBitRate(int64(bitrate))
	cc.SetTimeBase(astiav.NewRational(1, audioSampleRate))
	cc.SetFlags(cc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	if err := cc.Open(codec, nil); err != nil {
		cc.Free()
		return nil, fmt.Errorf("transcoder: opening aac encoder: %w", err)
	}
	if len(cc.ExtraData()) == 0 {
		cc.Free()
		return nil, errors.New("transcoder: aac encoder gave no AudioSpecificConfig")
	}
	return cc, nil
}
