// Package transcoder turns an uploaded video into the renditions of an HLS ladder. It decodes the
// source once, normalises it to a constant frame rate and scales it to every rung in one FFmpeg
// filter graph (through go-astiav), encodes each rung with libx264 and the audio with FFmpeg's
// AAC encoder, and hands the encoded samples to a Sink (the packager). IDR frames are forced at
// the same timestamps on every rung, at each multiple of the segment duration, so the rungs can
// be cut into aligned segments. Inputs that cannot make a video are refused with a *RejectError.
package transcoder

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/asticode/go-astiav"
)

// Config configures a Transcoder. The zero value of every field means its default.
type Config struct {
	// Ladder is the bitrate ladder, in any order. Rungs above the source's short side are dropped;
	// a source smaller than every rung gets one rung at its own size; no rung's bitrate exceeds
	// the source video's (when the source says it). Default: DefaultLadder().
	Ladder []Rung
	// SegmentDuration is the HLS segment duration: every rung starts an IDR frame at each of its
	// multiples. Default: 2s.
	SegmentDuration time.Duration
	// Preset is the libx264 preset: "reelay", or one of x264's own, from "ultrafast" to
	// "placebo". Default: "reelay" (ReelayPreset).
	Preset string
	// MaxDuration refuses longer inputs (too_long). Default: 10m.
	MaxDuration time.Duration
	// MaxWidth and MaxHeight refuse inputs whose display size exceeds them (too_large): the size
	// in the header, and that of every decoded picture, since a stream may change size midway.
	// The video decoder is not let allocate a picture much larger than their area (see
	// maxPixels), so a stream that grows huge is refused before it takes the memory. Pictures
	// within the limits but of another size than the header's are scaled to it, their aspect
	// kept (see fitter). Default: 4096 each, so that 4K in either orientation is accepted.
	MaxWidth, MaxHeight int
	// MaxFrameRate caps the output frame rate; faster sources are decimated. Default: 60.
	MaxFrameRate int
	// AudioBitrate is the AAC-LC bitrate in bits per second. Default: 128000.
	AudioBitrate int
	// Threads is the number of threads each decoder and encoder may use. Default: runtime.NumCPU().
	Threads int
	// Logger receives the transcoder's logs, with the attribute tier=transcoder.
	// Default: logs are discarded.
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultSegmentDuration = 2 * time.Second
	DefaultPreset          = ReelayPreset
	DefaultMaxDuration     = 10 * time.Minute
	DefaultMaxSize         = 4096
	DefaultMaxFrameRate    = 60
	DefaultAudioBitrate    = 128_000
)

// ReelayPreset is x264's veryfast with a diamond motion search (me=dia) rather than a hexagon,
// and at most two B-frames in a row rather than three (reelayParams). On the sources that
// bench/transcode and bench/RESULTS.md measure, it makes libx264 run about 10-13 % fewer
// instructions than veryfast, at an SSIM within 0.001 of veryfast's, higher on some sources and
// lower on others. --preset veryfast gives x264's own.
const ReelayPreset = "reelay"

// reelayParams are the x264 parameters ReelayPreset adds to veryfast.
const reelayParams = "me=dia:bframes=2"

var x264Presets = []string{ReelayPreset, "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}

// Transcoder transcodes inputs into ladders. It holds only configuration, so one Transcoder may
// run any number of transcodes at the same time.
type Transcoder struct {
	cfg Config
	log *slog.Logger
}

// New validates cfg, fills in its defaults and checks that FFmpeg has the encoders it needs.
func New(cfg Config) (*Transcoder, error) {
	if len(cfg.Ladder) == 0 {
		cfg.Ladder = DefaultLadder()
	}
	for _, r := range cfg.Ladder {
		if err := r.validate(); err != nil {
			return nil, err
		}
	}
	ladder, err := sortLadder(cfg.Ladder)
	if err != nil {
		return nil, err
	}
	cfg.Ladder = ladder
	if cfg.SegmentDuration == 0 {
		cfg.SegmentDuration = DefaultSegmentDuration
	}
	if cfg.SegmentDuration < 100*time.Millisecond || cfg.SegmentDuration > time.Minute {
		return nil, fmt.Errorf("transcoder: segment duration %v: want 100ms to 1m", cfg.SegmentDuration)
	}
	if cfg.Preset == "" {
		cfg.Preset = DefaultPreset
	}
	if !slices.Contains(x264Presets, cfg.Preset) {
		return nil, fmt.Errorf("transcoder: unknown preset %q: want %s", cfg.Preset, strings.Join(x264Presets, ", "))
	}
	if cfg.MaxDuration == 0 {
		cfg.MaxDuration = DefaultMaxDuration
	}
	if cfg.MaxWidth == 0 {
		cfg.MaxWidth = DefaultMaxSize
	}
	if cfg.MaxHeight == 0 {
		cfg.MaxHeight = DefaultMaxSize
	}
	if cfg.MaxFrameRate == 0 {
		cfg.MaxFrameRate = DefaultMaxFrameRate
	}
	if cfg.AudioBitrate == 0 {
		cfg.AudioBitrate = DefaultAudioBitrate
	}
	if cfg.Threads == 0 {
		cfg.Threads = runtime.NumCPU()
	}
	switch {
	case cfg.MaxDuration < 0, cfg.MaxWidth < 0, cfg.MaxHeight < 0, cfg.Threads < 0:
		return nil, errors.New("transcoder: negative limit in config")
	case cfg.MaxFrameRate < 1 || cfg.MaxFrameRate > 240:
		return nil, fmt.Errorf("transcoder: max frame rate %d: want 1 to 240", cfg.MaxFrameRate)
	case cfg.AudioBitrate < 16_000 || cfg.AudioBitrate > 512_000:
		return nil, fmt.Errorf("transcoder: audio bitrate %d: want 16000 to 512000", cfg.AudioBitrate)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for _, name := range []string{"libx264", "aac"} {
		if astiav.FindEncoderByName(name) == nil {
			return nil, fmt.Errorf("transcoder: FFmpeg has no %s encoder", name)
		}
	}
	return &Transcoder{cfg: cfg, log: cfg.Logger.With("tier", "transcoder")}, nil
}

// Config returns the configuration in use, defaults filled in.
func (t *Transcoder) Config() Config {
	cfg := t.cfg
	cfg.Ladder = slices.Clone(cfg.Ladder)
	return cfg
}

// Result describes a finished transcode.
type Result struct {
	Info       Info            // the probed input
	FrameRate  Rate            // the constant output frame rate
	Duration   time.Duration   // of the output video: frames × frame duration
	Renditions []RenditionInfo // the video renditions written, highest first
	Audio      bool            // whether an audio rendition was written
	Poster     bool            // whether a poster was written
}

// RenditionInfo describes one video rendition written to the sink.
type RenditionInfo struct {
	Name          string // rung name, e.g. "720p"
	Width, Height int    // picture size
	Bitrate       int    // target bitrate in b/s
	Frames        int    // number of frames written
	Bytes         int64  // total size of the encoded frames
}
