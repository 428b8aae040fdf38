package transcoder

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/asticode/go-astiav"
)

// fitter conforms decoded pictures to the input of the filter graph. The graph is configured
// once, with the size and pixel format of the stream's header, and its chain cannot take a
// picture of another size (yadif, transpose and fps keep pictures or buffers of the configured
// size). A stream may change size midway, though: clips joined end to end, a camera that
// switched modes. Such pictures are scaled here, to fit the graph's input with their display
// aspect kept, and padded with black (letterbox or pillarbox); the graph then treats them like
// any other picture, so timestamps, the constant frame rate and the IDR alignment of the rungs
// are untouched. Rebuilding the graph at each change would restart its fps filter and the
// audio chain, losing both timing and the frames they hold.
//
// The fitting is a small filter graph of its own (scale, pad, format, setsar) with no state
// from one picture to the next: one picture in, one out. It is built for the shape of the
// pictures that need it and rebuilt when that shape changes. Pictures of the graph's own shape
// bypass it.
type fitter struct {
	to      videoParams // the graph's input; width, height, pixel format and aspect ratio are used
	threads int

	from  shape // what the current graph takes; zero without a graph
	g     *astiav.FilterGraph
	src   *astiav.FilterContext
	sink  *astiav.FilterContext
	out   *astiav.Frame
	count int // pictures fitted, for the log of the transcode
}

// shape is what the filter graph's input is configured with.
type shape struct {
	width, height int
	pixFmt        astiav.PixelFormat
	sar           astiav.Rational // 1:1 when unknown
}

func (s shape) equal(o shape) bool {
	return s.width == o.width && s.height == o.height && s.pixFmt == o.pixFmt &&
		int64(s.sar.Num())*int64(o.sar.Den()) == int64(o.sar.Num())*int64(s.sar.Den())
}

func (s shape) String() string {
	return fmt.Sprintf("%dx%d %s sar %s", s.width, s.height, s.pixFmt.Name(), s.sar)
}

// squareIfUnknown returns sar, or 1:1 when it is unknown (0:1) or invalid.
func squareIfUnknown(sar astiav.Rational) astiav.Rational {
	if sar.Num() <= 0 || sar.Den() <= 0 {
		return astiav.NewRational(1, 1)
	}
	return sar
}

func newFitter(to videoParams, threads int) *fitter {
	to.sar = squareIfUnknown(to.sar)
	return &fitter{to: to, threads: threads}
}

func (f *fitter) target() shape {
	return shape{width: f.to.width, height: f.to.height, pixFmt: f.to.pixFmt, sar: f.to.sar}
}

// fit returns in when its shape (with sar, the aspect ratio it is displayed with) is the
// graph's, else a fitted copy that stays valid until the next call. Its timestamps and other
// properties are in's.
func (f *fitter) fit(in *astiav.Frame, sar astiav.Rational) (*astiav.Frame, error) {
	s := shape{width: in.Width(), height: in.Height(), pixFmt: in.PixelFormat(), sar: squareIfUnknown(sar)}
	if s.equal(f.target()) {
		return in, nil
	}
	if f.g == nil || !s.equal(f.from) {
		if err := f.build(s); err != nil {
			return nil, err
		}
	}
	f.out.Unref()
	if err := f.src.BuffersrcAddFrame(in, astiav.NewBuffersrcFlags(astiav.BuffersrcFlagKeepRef)); err != nil {
		return nil, fmt.Errorf("transcoder: fitting a %s picture to %s: %w", s, f.target(), err)
	}
	if err := f.sink.BuffersinkGetFrame(f.out, astiav.NewBuffersinkFlags()); err != nil {
		return nil, fmt.Errorf("transcoder: fitting a %s picture to %s: %w", s, f.target(), err)
	}
	f.count++
	return f.out, nil
}

// fitSize returns the size at which a picture of shape s fills as much of the target as it
// can with its display aspect kept: the target's width or height, and the other side in
// proportion, even (for subsampled chroma) and at most the target's.
func fitSize(s, to shape) (w, h int) {
	// The picture's display aspect, in the target's pixels (which have the target's SAR).
	aspect := float64(s.width) * s.sar.Float64() / (float64(s.height) * to.sar.Float64())
	even := func(v float64, limit int) int {
		n := max(2*int(math.Round(v/2)), 2)
		if n >= limit {
			return limit
		}
		return n
	}
	if float64(to.width)/float64(to.height) > aspect { // narrower: full height, bars left and right
		return even(float64(to.height)*aspect, to.width), to.height
	}
	return to.width, even(float64(to.width)/aspect, to.height)
}

// chain returns the filter description that fits pictures of shape s to the target.
// interl=-1 scales a picture flagged interlaced field by field, so that the graph's yadif can
// still deinterlace it; pad centres the picture (x and y of -1).
func (f *fitter) chain(s shape) string {
	to := f.target()
	w, h := fitSize(s, to)
	return fmt.Sprintf("[in]scale=w=%d:h=%d:flags=bicubic:interl=-1,pad=w=%d:h=%d:x=-1:y=-1:color=black,format=pix_fmts=%s,setsar=%d/%d[out]",
		w, h, to.width, to.height, to.pixFmt.Name(), to.sar.Num(), to.sar.Den())
}

// build replaces the fitting graph by one for pictures of shape s.
func (f *fitter) build(s shape) (err error) {
	f.freeGraph()
	if f.out == nil {
		if f.out = astiav.AllocFrame(); f.out == nil {
			return errors.New("transcoder: allocating frame failed")
		}
	}
	if f.g = astiav.AllocFilterGraph(); f.g == nil {
		return errors.New("transcoder: allocating filter graph failed")
	}
	defer func() {
		if err != nil {
			f.freeGraph()
		}
	}()
	f.g.SetThreadCount(f.threads)
	buffer, buffersink := astiav.FindFilterByName("buffer"), astiav.FindFilterByName("buffersink")
	if buffer == nil || buffersink == nil {
		return errors.New("transcoder: FFmpeg has no buffer or buffersink filter")
	}
	if f.src, err = f.g.NewFilterContext(buffer, "in", astiav.FilterArgs{
		"video_size":   strconv.Itoa(s.width) + "x" + strconv.Itoa(s.height),
		"pix_fmt":      strconv.Itoa(int(s.pixFmt)),
		"time_base":    f.to.timeBase.String(),
		"pixel_aspect": s.sar.String(),
	}); err != nil {
		return fmt.Errorf("transcoder: creating fitting source for %s: %w", s, err)
	}
	if f.sink, err = f.g.NewFilterContext(buffersink, "out", nil); err != nil {
		return fmt.Errorf("transcoder: creating fitting sink: %w", err)
	}
	if err := configureGraph(f.g, "fitting graph", f.chain(s), []string{"in"}, []*astiav.FilterContext{f.src}, []string{"out"}, []*astiav.FilterContext{f.sink}); err != nil {
		return err
	}
	f.from = s
	return nil
}

func (f *fitter) freeGraph() {
	if f.g != nil {
		f.g.Free() // frees its filter contexts too
	}
	f.g, f.src, f.sink, f.from = nil, nil, nil, shape{}
}

func (f *fitter) free() {
	f.freeGraph()
	if f.out != nil {
		f.out.Free()
		f.out = nil
	}
}
