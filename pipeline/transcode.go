package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/packager"
	"github.com/reelay/reelay/storage"
	"github.com/reelay/reelay/transcoder"
)

// Output is where Transcode publishes a presentation, and how.
type Output struct {
	// Store receives the objects. Required.
	Store storage.Store
	// Prefix is put before every key: layout.VideoPrefix(id) for a video of the catalogue, ""
	// for a tree of its own. Default "".
	Prefix string
	// Generation puts the presentation under a generation of its own (packager.Config.Generation):
	// layout.NewGeneration() for each attempt at a video of the catalogue, so that a retry never
	// changes the bytes of a name an earlier attempt published. Default "": directly under Prefix.
	Generation string
	// Progressive publishes the presentation as soon as every rendition has its first segment,
	// and calls OnPlayable then (see packager.Config.Progressive). Default false: master.m3u8
	// is written at the end.
	Progressive bool
	// OnPlayable, with Progressive, is called once the presentation plays; it must not block
	// for long: the renditions wait for it (packager.Config.OnPlayable). Default nil.
	OnPlayable func()
	// Logger receives the packager's logs. Default: discarded.
	Logger *slog.Logger
	// AfterSample is called after each sample written to the packager (see SampleHook): a test
	// hook. Default nil.
	AfterSample SampleHook
}

// Result is what Transcode published.
type Result struct {
	Transcode transcoder.Result
	Package   packager.Result
}

// Transcode transcodes in with tc into a presentation in out, reporting its progress (0-100)
// to progress if not nil (see transcoder.Transcoder.Run). It is the one path from a source to a published presentation: the
// workers take it for every video, and `reelay transcode` for a local file.
//
// On failure it withdraws what it published (packager.Packager.Abort), so that no half-made
// presentation stays visible, unless ctx was cancelled with db.ErrLeaseLost as its cause:
// another worker has the job then, and may have published the video itself.
func Transcode(ctx context.Context, tc *transcoder.Transcoder, in transcoder.Input, out Output, progress func(pct float64)) (res Result, err error) {
	pkg, err := packager.New(packager.Config{
		Store: out.Store, Prefix: out.Prefix, Generation: out.Generation, SegmentDuration: tc.Config().SegmentDuration,
		Progressive: out.Progressive, OnPlayable: out.OnPlayable, Logger: out.Logger,
	})
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if err == nil || errors.Is(context.Cause(ctx), db.ErrLeaseLost) {
			return
		}
		// Also when ctx is done: a half-done presentation must not stay visible until the job
		// runs again.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if aerr := pkg.Abort(actx); aerr != nil && out.Logger != nil {
			out.Logger.Error("withdrawing the unfinished presentation", "prefix", out.Prefix, "err", aerr)
		}
	}()
	sink := transcoder.PackagerSink(pkg)
	if out.AfterSample != nil {
		sink = hookedSink{Sink: sink, hook: out.AfterSample}
	}
	if res.Transcode, err = tc.Run(ctx, in, sink, progress); err != nil {
		return res, err
	}
	res.Package, err = pkg.Close(ctx)
	return res, err
}
