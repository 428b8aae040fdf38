package transcoder

import (
	"context"

	"github.com/reelay/reelay/packager"
)

// Sink receives the encoded renditions of one video. The packager satisfies it through
// PackagerSink; tests use a fake. Run calls AddVideo for every rung and AddAudio (when the input
// has audio) before any sample, writes the samples of each rendition in decode order, and calls
// WritePoster last. The renditions are written from different goroutines at once (one per video
// rung, see rungEncoder), so the SampleWriters of different renditions must not share unguarded
// state. Run never finishes the sink: the caller closes the packager after Run.
type Sink interface {
	AddVideo(name string, t packager.VideoTrack, targetBitrate int) (SampleWriter, error)
	AddAudio(name string, t packager.AudioTrack, targetBitrate int) (SampleWriter, error)
	WritePoster(ctx context.Context, jpeg []byte) error
}

// SampleWriter takes the samples of one rendition, in decode order.
type SampleWriter interface {
	WriteSample(ctx context.Context, s packager.Sample) error
}

// Packager is the part of *packager.Packager that Run uses; R is its rendition type.
type Packager[R SampleWriter] interface {
	AddVideo(name string, t packager.VideoTrack, targetBitrate int) (R, error)
	AddAudio(name string, t packager.AudioTrack, targetBitrate int) (R, error)
	WritePoster(ctx context.Context, jpeg []byte) error
}

var _ Packager[*packager.Rendition] = (*packager.Packager)(nil)

// PackagerSink adapts a packager, whose AddVideo and AddAudio return its own rendition type, to
// Sink: transcoder.PackagerSink(p) with p a *packager.Packager.
func PackagerSink[R SampleWriter](p Packager[R]) Sink { return packagerSink[R]{p} }

type packagerSink[R SampleWriter] struct{ p Packager[R] }

func (s packagerSink[R]) AddVideo(name string, t packager.VideoTrack, bitrate int) (SampleWriter, error) {
	r, err := s.p.AddVideo(name, t, bitrate)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (s packagerSink[R]) AddAudio(name string, t packager.AudioTrack, bitrate int) (SampleWriter, error) {
	r, err := s.p.AddAudio(name, t, bitrate)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (s packagerSink[R]) WritePoster(ctx context.Context, jpeg []byte) error {
	return s.p.WritePoster(ctx, jpeg)
}
