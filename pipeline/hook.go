package pipeline

import (
	"context"
	"time"

	"github.com/reelay/reelay/packager"
	"github.com/reelay/reelay/transcoder"
)

// SampleHook is called from a rendition's writer after each sample the packager took, with the
// rendition's name and the sample's presentation time; the rendition waits for it, and an error
// fails the transcode. Tests hold a transcode with it at a point of the video they choose (a
// segment is published when the first sample of the next one is written), to look at a
// presentation that is provably still being made.
type SampleHook func(ctx context.Context, rendition string, pts time.Duration) error

// hookedSink is a transcoder.Sink whose renditions call hook after each sample.
type hookedSink struct {
	transcoder.Sink
	hook SampleHook
}

func (s hookedSink) AddVideo(name string, t packager.VideoTrack, bitrate int) (transcoder.SampleWriter, error) {
	w, err := s.Sink.AddVideo(name, t, bitrate)
	if err != nil {
		return nil, err
	}
	return hookedWriter{SampleWriter: w, name: name, scale: t.TimeScale, hook: s.hook}, nil
}

func (s hookedSink) AddAudio(name string, t packager.AudioTrack, bitrate int) (transcoder.SampleWriter, error) {
	w, err := s.Sink.AddAudio(name, t, bitrate)
	if err != nil {
		return nil, err
	}
	return hookedWriter{SampleWriter: w, name: name, scale: t.TimeScale, hook: s.hook}, nil
}

// hookedWriter writes a sample, then calls hook with its presentation time.
type hookedWriter struct {
	transcoder.SampleWriter
	name  string
	scale uint32 // ticks per second of the samples' timestamps
	hook  SampleHook
}

func (w hookedWriter) WriteSample(ctx context.Context, s packager.Sample) error {
	if err := w.SampleWriter.WriteSample(ctx, s); err != nil {
		return err
	}
	pts := time.Duration(s.PTS) * time.Second
	if w.scale > 0 {
		pts /= time.Duration(w.scale)
	}
	return w.hook(ctx, w.name, pts)
}
