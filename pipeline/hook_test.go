package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/reelay/reelay/packager"
	"github.com/reelay/reelay/transcoder"
)

var errRefused = errors.New("refused")

// recordingSink is a transcoder.Sink whose renditions log each sample they take, and refuse
// those whose PTS is refuse.
type recordingSink struct {
	log    *[]string
	refuse int64
}

type recordingWriter struct {
	recordingSink
	name string
}

func (s recordingSink) AddVideo(name string, _ packager.VideoTrack, _ int) (transcoder.SampleWriter, error) {
	return recordingWriter{s, name}, nil
}

func (s recordingSink) AddAudio(name string, _ packager.AudioTrack, _ int) (transcoder.SampleWriter, error) {
	return recordingWriter{s, name}, nil
}

func (s recordingSink) WritePoster(context.Context, []byte) error { return nil }

func (w recordingWriter) WriteSample(_ context.Context, s packager.Sample) error {
	if s.PTS == w.refuse {
		return errRefused
	}
	*w.log = append(*w.log, fmt.Sprintf("write %s %d", w.name, s.PTS))
	return nil
}

// TestSampleHook checks the hook of Output.AfterSample: called after each sample the packager
// took, with the sample's presentation time in its track's time scale; its error is the
// writer's, and a sample the packager refused does not reach it.
func TestSampleHook(t *testing.T) {
	var log []string
	hookErr := errors.New("held no more")
	sink := hookedSink{Sink: recordingSink{log: &log, refuse: 7}, hook: func(_ context.Context, name string, pts time.Duration) error {
		log = append(log, fmt.Sprintf("hook %s %v", name, pts))
		if pts == time.Hour {
			return hookErr
		}
		return nil
	}}
	video, err := sink.AddVideo("360p", packager.VideoTrack{TimeScale: 90000}, 0)
	if err != nil {
		t.Fatal(err)
	}
	audio, err := sink.AddAudio("audio", packager.AudioTrack{TimeScale: 48000}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		w    transcoder.SampleWriter
		pts  int64
		want error
	}{
		{video, 13 * 90000, nil},
		{audio, -1024, nil},
		{audio, 48000 * 3 / 2, nil},
		{video, 7, errRefused}, // refused by the packager: the hook is not called
		{video, 3600 * 90000, hookErr},
	} {
		err := tc.w.WriteSample(context.Background(), packager.Sample{PTS: tc.pts, DTS: tc.pts})
		if !errors.Is(err, tc.want) {
			t.Errorf("sample at %d: %v, want %v", tc.pts, err, tc.want)
		}
	}
	want := []string{
		"write 360p 1170000", "hook 360p 13s",
		"write audio -1024", "hook audio -21.333333ms",
		"write audio 72000", "hook audio 1.5s",
		"write 360p 324000000", "hook 360p 1h0m0s",
	}
	if !slices.Equal(log, want) {
		t.Errorf("calls:\n%q\nwant\n%q", log, want)
	}
}
