package transcoder

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/asticode/go-astiav"
)

// Rate is a frame rate as a fraction, e.g. 30000/1001.
type Rate struct {
	Num, Den int
}

// Float64 returns the rate in frames per second, or 0 when it is not valid.
func (r Rate) Float64() float64 {
	if r.Num <= 0 || r.Den <= 0 {
		return 0
	}
	return float64(r.Num) / float64(r.Den)
}

// String returns "num/den".
func (r Rate) String() string { return strconv.Itoa(r.Num) + "/" + strconv.Itoa(r.Den) }

func (r Rate) rational() astiav.Rational { return astiav.NewRational(r.Num, r.Den) }

// Info describes a probed input.
type Info struct {
	Format        string        // demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
	Duration      time.Duration // of the video stream, or of the container when the stream has none
	Width, Height int           // display size: after rotation and pixel aspect ratio
	CodedWidth    int           // stored picture width, before rotation
	CodedHeight   int           // stored picture height, before rotation
	Rotation      int           // clockwise degrees the stored picture is turned for display: 0, 90, 180 or 270
	FrameRate     Rate          // the source's nominal frame rate (FFmpeg's guess; VFR sources give their base rate)
	VideoCodec    string        // e.g. "h264", "hevc"
	PixelFormat   string        // e.g. "yuv420p"
	BitRate       int64         // overall bitrate in b/s, 0 when unknown
	VideoBitRate  int64         // the video stream's bitrate in b/s (or the overall one less the audio's), 0 when unknown
	HasAudio      bool          // an audio stream with a decoder is present
	AudioCodec    string        // e.g. "aac"; empty without audio
	SampleRate    int           // audio sample rate in Hz; 0 without audio
	Channels      int           // audio channels; 0 without audio
}

// Probe opens in and describes it with the default limits (see Config). Inputs that cannot be
// transcoded give a *RejectError. See (*Transcoder).Probe to apply other limits.
func Probe(ctx context.Context, in Input) (Info, error) {
	t, err := New(Config{})
	if err != nil {
		return Info{}, err
	}
	return t.Probe(ctx, in)
}

// Probe opens in and describes it, refusing with a *RejectError what Run would refuse:
// not a media file, no video stream, undecodable, no duration, or beyond the configured limits.
func (t *Transcoder) Probe(ctx context.Context, in Input) (Info, error) {
	d, err := openInput(ctx, in)
	if err != nil {
		return Info{}, err
	}
	defer d.close()
	info, _, _, err := describe(d)
	if err != nil {
		return info, err
	}
	return info, t.check(info)
}

// describe fills Info from an opened input and picks the video and audio streams (audio may be nil).
func describe(d *demuxer) (Info, *astiav.Stream, *astiav.Stream, error) {
	var info Info
	if f := d.fc.InputFormat(); f != nil {
		info.Format = f.Name()
	}
	info.BitRate = max(d.fc.BitRate(), 0)

	vst := pickVideo(d.fc.Streams())
	if vst == nil {
		return info, nil, nil, reject(ReasonNoVideoStream, "the container has no video stream")
	}
	cp := vst.CodecParameters()
	info.VideoCodec = cp.CodecID().Name()
	info.PixelFormat = cp.PixelFormat().Name()
	if astiav.FindDecoder(cp.CodecID()) == nil {
		return info, nil, nil, reject(ReasonUndecodable, "no decoder for video codec %q", info.VideoCodec)
	}
	info.CodedWidth, info.CodedHeight = cp.Width(), cp.Height()
	if info.CodedWidth <= 0 || info.CodedHeight <= 0 {
		return info, nil, nil, reject(ReasonUndecodable, "video stream without a picture size")
	}
	if fr := d.fc.GuessFrameRate(vst, nil); fr.Num() > 0 && fr.Den() > 0 {
		info.FrameRate = Rate{fr.Num(), fr.Den()}
	}
	info.Rotation = streamRotation(vst)
	info.Width, info.Height = displaySize(info.CodedWidth, info.CodedHeight, d.fc.GuessSampleAspectRatio(vst, nil), info.Rotation)

	if dur := vst.Duration(); dur > 0 && vst.TimeBase().Num() > 0 {
		info.Duration = time.Duration(astiav.RescaleQ(dur, vst.TimeBase(), astiav.NewRational(1, int(time.Second))))
	} else if dur := d.fc.Duration(); dur > 0 {
		info.Duration = time.Duration(dur) * time.Second / time.Duration(astiav.TimeBase)
	}

	ast := pickAudio(d.fc.Streams())
	if ast != nil {
		acp := ast.CodecParameters()
		info.HasAudio = true
		info.AudioCodec = acp.CodecID().Name()
		info.SampleRate = acp.SampleRate()
		info.Channels = acp.ChannelLayout().NbChannels()
	}
	info.VideoBitRate = videoBitRate(cp.BitRate(), info.BitRate, ast)
	return info, vst, ast, nil
}

// videoBitRate is the video stream's own bitrate when the container says it (MP4 does), or
// else the overall bitrate less the audio's (Matroska and WebM give only the overall one); 0
// when neither is known.
func videoBitRate(stream, overall int64, audio *astiav.Stream) int64 {
	if stream > 0 {
		return stream
	}
	if overall <= 0 {
		return 0
	}
	if audio != nil {
		a := audio.CodecParameters().BitRate()
		if a <= 0 || a >= overall {
			return 0 // an audio rate unknown leaves the video's unknown too
		}
		overall -= a
	}
	return overall
}

// displaySize returns the size at which a stored picture of w×h pixels is displayed: stretched
// by its sample aspect ratio sar (when known and not square), then turned by rotation degrees.
func displaySize(w, h int, sar astiav.Rational, rotation int) (int, int) {
	if sar.Num() > 0 && sar.Den() > 0 && sar.Num() != sar.Den() {
		w = max(int(math.Round(float64(w)*float64(sar.Num())/float64(sar.Den()))), 1)
	}
	if rotation == 90 || rotation == 270 {
		w, h = h, w
	}
	return w, h
}

// check applies the configured limits to a described input.
func (t *Transcoder) check(info Info) error {
	switch {
	case info.Duration <= 0:
		return reject(ReasonZeroDuration, "the video has no duration")
	case info.Duration > t.cfg.MaxDuration:
		return reject(ReasonTooLong, "duration %v exceeds %v", info.Duration.Round(time.Millisecond), t.cfg.MaxDuration)
	case t.tooLarge(info.Width, info.Height):
		return reject(ReasonTooLarge, "%dx%d exceeds %dx%d", info.Width, info.Height, t.cfg.MaxWidth, t.cfg.MaxHeight)
	}
	return nil
}

// tooLarge reports whether a display size exceeds the configured limits.
func (t *Transcoder) tooLarge(w, h int) bool {
	return w > t.cfg.MaxWidth || h > t.cfg.MaxHeight
}

// decoderPadding is the margin, per side, that maxPixels allows for the padding decoders
// align their pictures to: they check the padded size (e.g. 1088 lines for 1080), and a
// picture exactly at the limits must decode.
const decoderPadding = 256

// maxPixels is the largest picture, in stored pixels, that the video decoder may allocate
// (FFmpeg's max_pixels): the limits' area with room for the decoders' padding, or the stream's
// own stored size when larger (a picture whose pixels are narrower than square is displayed
// narrower than it is stored). A stream that grows past it midway is refused before the decoder
// allocates a single picture of that size; Run then finds the size the decoder refused in its
// context (see (*job).decoderRefused).
func (t *Transcoder) maxPixels(codedWidth, codedHeight int) int64 {
	area := func(w, h int) int64 { return int64(w+decoderPadding) * int64(h+decoderPadding) }
	return min(max(area(t.cfg.MaxWidth, t.cfg.MaxHeight), area(codedWidth, codedHeight)), math.MaxInt32)
}

// pickVideo returns the first video stream that is not a still picture (cover art is stored as
// an MJPEG or PNG video stream), else the first video stream, else nil.
func pickVideo(streams []*astiav.Stream) *astiav.Stream {
	var first *astiav.Stream
	for _, st := range streams {
		cp := st.CodecParameters()
		if cp.MediaType() != astiav.MediaTypeVideo {
			continue
		}
		switch cp.CodecID() {
		case astiav.CodecIDMjpeg, astiav.CodecIDPng, astiav.CodecIDBmp:
			if first == nil {
				first = st
			}
			continue
		}
		return st
	}
	return first
}

// pickAudio returns the first audio stream FFmpeg can decode, or nil.
func pickAudio(streams []*astiav.Stream) *astiav.Stream {
	for _, st := range streams {
		cp := st.CodecParameters()
		if cp.MediaType() == astiav.MediaTypeAudio && cp.SampleRate() > 0 &&
			cp.ChannelLayout().NbChannels() > 0 && astiav.FindDecoder(cp.CodecID()) != nil {
			return st
		}
	}
	return nil
}

// streamRotation returns the clockwise rotation to apply for display, from the display matrix
// side data (how FFmpeg 5.1 exports the MP4 track matrix) or else the legacy "rotate" tag.
func streamRotation(st *astiav.Stream) int {
	if b := st.SideData(astiav.PacketSideDataTypeDisplaymatrix); len(b) >= 36 {
		if m, err := astiav.NewDisplayMatrixFromBytes(b); err == nil {
			return normalizeRotation(m.Rotation())
		}
	}
	if md := st.Metadata(); md != nil {
		if e := md.Get("rotate", nil, 0); e != nil {
			if v, err := strconv.ParseFloat(strings.TrimSpace(e.Value()), 64); err == nil {
				return normalizeRotation(v)
			}
		}
	}
	return 0
}

// normalizeRotation maps any angle to the nearest of 0, 90, 180 and 270.
func normalizeRotation(deg float64) int {
	if math.IsNaN(deg) || math.IsInf(deg, 0) {
		return 0
	}
	r := math.Mod(deg, 360)
	if r < 0 {
		r += 360
	}
	return int(math.Round(r/90)) % 4 * 90
}

// outputRate returns the constant output frame rate for a source rate: the source rate snapped
// to a common rate when within 1%, capped at maxRate; 30 when the source rate is unknown.
func outputRate(src Rate, maxRate int) Rate {
	f := src.Float64()
	if f <= 0 || f > 1000 {
		return Rate{min(30, maxRate), 1}
	}
	if f > float64(maxRate) {
		return Rate{maxRate, 1}
	}
	best, bestDist := Rate{}, math.Inf(1)
	for _, r := range []Rate{{24000, 1001}, {24, 1}, {25, 1}, {30000, 1001}, {30, 1}, {50, 1}, {60000, 1001}, {60, 1}} {
		if dist := math.Abs(f-r.Float64()) / r.Float64(); dist <= 0.01 && dist < bestDist && r.Float64() <= float64(maxRate) {
			best, bestDist = r, dist
		}
	}
	if best.Num > 0 {
		return best
	}
	if g := gcd(src.Num, src.Den); g > 1 {
		src = Rate{src.Num / g, src.Den / g}
	}
	if src.Den > 1001 { // an odd measured rate: use whole frames per second
		return Rate{max(int(math.Round(f)), 1), 1}
	}
	return src
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// String returns a one-line summary, for logs.
func (info Info) String() string {
	return fmt.Sprintf("%s %dx%d rot=%d %s fps=%s dur=%v audio=%s", info.VideoCodec, info.Width, info.Height,
		info.Rotation, info.PixelFormat, info.FrameRate, info.Duration, info.AudioCodec)
}
