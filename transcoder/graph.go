package transcoder

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/asticode/go-astiav"
)

// Output audio format: AAC-LC, 48 kHz stereo, 1024 samples a frame.
const (
	audioSampleRate = 48000
	audioChannels   = 2
	aacFrameSize    = 1024
)

// graph is the one filter graph of a transcode: a video chain from the decoded pictures to one
// sink per rung, and an audio chain (when the input has audio) to one sink.
type graph struct {
	g     *astiav.FilterGraph
	vsrc  *astiav.FilterContext
	vsink []*astiav.FilterContext // one per rung, in the order of the targets
	asrc  *astiav.FilterContext   // nil without audio
	asink *astiav.FilterContext
}

// graphSpec is what the graph is built from.
type graphSpec struct {
	video     videoParams
	rotation  int
	rate      Rate
	targets   []target
	audio     *audioParams // nil without audio
	threads   int
	scaleFlag string
}

type videoParams struct {
	width, height int
	pixFmt        astiav.PixelFormat
	sar           astiav.Rational
	timeBase      astiav.Rational
}

type audioParams struct {
	sampleRate int
	sampleFmt  astiav.SampleFormat
	layout     string
	timeBase   astiav.Rational
}

// videoChain returns the filter description of the video chain:
// [vin] deinterlace → fps → rotation → yuv420p → the rungs, largest first, each scaled from the
// one above it → square pixels [vN].
// yadif only touches frames flagged interlaced (camcorders); progressive frames pass through.
// The fps filter comes before the split, so that every rung sees the same constant-rate frames,
// and before the rotation, so that dropped frames are never rotated. The pixel format is
// converted once, at the top, rather than by each rung's scaler. The rungs cascade (1080p →
// 720p → 540p → 360p): each scales the pictures of the rung above it, a smaller picture than
// the source, so the scalers read less; a rung of the picture's own size (with square pixels)
// takes the pictures as they are, unscaled. On the bench's 1080x1920 ladder the cascade takes
// about 30 % less scaling time than scaling every rung from the source, and the rungs' SSIM
// against the source scaled directly stays within 0.0003 of it (bench/RESULTS.md, issue 16).
func (s graphSpec) videoChain() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[vin]yadif=mode=send_frame:deint=interlaced,fps=fps=%d/%d:start_time=0:round=near,", s.rate.Num, s.rate.Den)
	w, h := s.video.width, s.video.height
	switch s.rotation {
	case 90:
		b.WriteString("transpose=dir=clock,")
		w, h = h, w
	case 180:
		b.WriteString("hflip,vflip,")
	case 270:
		b.WriteString("transpose=dir=cclock,")
		w, h = h, w
	}
	b.WriteString("format=pix_fmts=yuv420p[p0]")
	square := s.video.sar.Num() <= 0 || s.video.sar.Den() <= 0 || s.video.sar.Num() == s.video.sar.Den()
	order := make([]int, len(s.targets))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(s.targets[b].Width*s.targets[b].Height, s.targets[a].Width*s.targets[a].Height)
	})
	for k, i := range order {
		t := s.targets[i]
		fmt.Fprintf(&b, ";[p%d]", k)
		if t.Width != w || t.Height != h || !square {
			fmt.Fprintf(&b, "scale=w=%d:h=%d:flags=%s,", t.Width, t.Height, s.scaleFlag)
		}
		if k < len(order)-1 {
			fmt.Fprintf(&b, "setsar=1,split=2[v%d][p%d]", i, k+1)
		} else {
			fmt.Fprintf(&b, "setsar=1[v%d]", i)
		}
		w, h, square = t.Width, t.Height, true
	}
	return b.String()
}

// audioChain returns the filter description of the audio chain: resample to 48 kHz (filling
// gaps and starting at 0, so audio stays in sync with video), planar float stereo, and frames of
// exactly 1024 samples (the last one may be shorter) as the AAC encoder wants them.
func audioChain() string {
	return fmt.Sprintf("[ain]aresample=%d:async=1:first_pts=0,aformat=sample_fmts=fltp:channel_layouts=stereo,asetnsamples=n=%d:p=0[aout]",
		audioSampleRate, aacFrameSize)
}

// newGraph builds and configures the filter graph. On error nothing is left allocated.
func newGraph(s graphSpec) (_ *graph, err error) {
	g := &graph{g: astiav.AllocFilterGraph()}
	if g.g == nil {
		return nil, errors.New("transcoder: allocating filter graph failed")
	}
	defer func() {
		if err != nil {
			g.free()
		}
	}()
	g.g.SetThreadCount(s.threads)

	find := func(name string) (*astiav.Filter, error) {
		if f := astiav.FindFilterByName(name); f != nil {
			return f, nil
		}
		return nil, fmt.Errorf("transcoder: FFmpeg has no %s filter", name)
	}
	buffer, err := find("buffer")
	if err != nil {
		return nil, err
	}
	buffersink, err := find("buffersink")
	if err != nil {
		return nil, err
	}
	sar := s.video.sar
	if sar.Num() <= 0 || sar.Den() <= 0 {
		sar = astiav.NewRational(1, 1)
	}
	if g.vsrc, err = g.g.NewFilterContext(buffer, "vin", astiav.FilterArgs{
		"video_size":   strconv.Itoa(s.video.width) + "x" + strconv.Itoa(s.video.height),
		"pix_fmt":      strconv.Itoa(int(s.video.pixFmt)),
		"time_base":    s.video.timeBase.String(),
		"pixel_aspect": sar.String(),
	}); err != nil {
		return nil, fmt.Errorf("transcoder: creating video source: %w", err)
	}
	for i := range s.targets {
		sink, err := g.g.NewFilterContext(buffersink, "v"+strconv.Itoa(i), nil)
		if err != nil {
			return nil, fmt.Errorf("transcoder: creating video sink: %w", err)
		}
		g.vsink = append(g.vsink, sink)
	}
	desc := s.videoChain()
	if s.audio != nil {
		abuffer, err := find("abuffer")
		if err != nil {
			return nil, err
		}
		abuffersink, err := find("abuffersink")
		if err != nil {
			return nil, err
		}
		if g.asrc, err = g.g.NewFilterContext(abuffer, "ain", astiav.FilterArgs{
			"sample_rate":    strconv.Itoa(s.audio.sampleRate),
			"sample_fmt":     s.audio.sampleFmt.Name(),
			"channel_layout": s.audio.layout,
			"time_base":      s.audio.timeBase.String(),
		}); err != nil {
			return nil, fmt.Errorf("transcoder: creating audio source: %w", err)
		}
		if g.asink, err = g.g.NewFilterContext(abuffersink, "aout", nil); err != nil {
			return nil, fmt.Errorf("transcoder: creating audio sink: %w", err)
		}
		desc += ";" + audioChain()
	}

	names := make([]string, 0, len(g.vsink)+1)
	sinks := append([]*astiav.FilterContext{}, g.vsink...)
	for i := range g.vsink {
		names = append(names, "v"+strconv.Itoa(i))
	}
	names, sinks = append(names, "aout"), append(sinks, g.asink)
	if err := configureGraph(g.g, "filter graph", desc, []string{"vin", "ain"}, []*astiav.FilterContext{g.vsrc, g.asrc}, names, sinks); err != nil {
		return nil, err
	}
	return g, nil
}

// configureGraph parses desc into fg, linking its open outputs to the sources (by name) and
// its open inputs to the sinks (nil contexts are left out), and configures it; what names it
// in errors.
func configureGraph(fg *astiav.FilterGraph, what, desc string, srcNames []string, srcs []*astiav.FilterContext, sinkNames []string, sinks []*astiav.FilterContext) error {
	// The graph's open outputs are our sources, its open inputs our sinks. Parse consumes the
	// entries it links and leaves the heads pointing at what is left, so only the heads are freed.
	outputs, inputs := inOuts(srcNames, srcs), inOuts(sinkNames, sinks)
	defer func() {
		if outputs != nil {
			outputs.Free()
		}
		if inputs != nil {
			inputs.Free()
		}
	}()
	if outputs == nil || inputs == nil {
		return errors.New("transcoder: allocating filter in/outs failed")
	}
	if err := fg.Parse(desc, inputs, outputs); err != nil {
		return fmt.Errorf("transcoder: parsing %s %q: %w", what, desc, err)
	}
	if err := fg.Configure(); err != nil {
		return fmt.Errorf("transcoder: configuring %s %q: %w", what, desc, err)
	}
	return nil
}

// inOuts links one FilterInOut per non-nil context, in order, and returns the head (nil when
// allocation fails or there is none).
func inOuts(names []string, ctxs []*astiav.FilterContext) *astiav.FilterInOut {
	var head, tail *astiav.FilterInOut
	for i, c := range ctxs {
		if c == nil {
			continue
		}
		io := astiav.AllocFilterInOut()
		if io == nil {
			if head != nil {
				head.Free() // frees the whole list
			}
			return nil
		}
		io.SetName(names[i])
		io.SetFilterContext(c)
		io.SetPadIdx(0)
		io.SetNext(nil)
		if head == nil {
			head = io
		} else {
			tail.SetNext(io)
		}
		tail = io
	}
	return head
}

func (g *graph) free() {
	if g.g != nil {
		g.g.Free() // frees the filter contexts too
		g.g = nil
	}
}

// channelLayout returns the abuffer channel_layout argument for a decoder's layout.
func channelLayout(l astiav.ChannelLayout, channels int) string {
	if s := l.String(); l.Valid() && s != "" && !strings.Contains(s, "channels") {
		return s
	}
	switch channels {
	case 1:
		return "mono"
	case 2:
		return "stereo"
	case 3:
		return "2.1"
	case 4:
		return "quad"
	case 5:
		return "5.0"
	case 6:
		return "5.1"
	case 7:
		return "6.1"
	case 8:
		return "7.1"
	}
	return strconv.Itoa(channels) + "c"
}
