package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/tracing"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
	"github.com/reelay/reelay/internal/videostore"
	"github.com/reelay/reelay/packager"
	"github.com/reelay/reelay/storage"
	"github.com/reelay/reelay/transcoder"
)

// A worker runs transcode jobs from the queue: it transcodes and packages the video's source
// into videos/{id}/ and marks the video ready. The packaging is progressive: once every
// rendition has its first segment the video is published as an EVENT presentation that grows
// as the transcode goes on, and the video is marked playable; the final VOD playlists follow
// at the end. A job that fails withdraws what it published.
type worker struct {
	p    *Pipeline
	name string
	log  *slog.Logger
}

// run claims and runs jobs until ctx is done.
func (w *worker) run(ctx context.Context) {
	w.log.Info("worker started")
	d := w.p.db
	for {
		queued := d.Enqueued(JobKind) // before Claim: a job queued in between wakes the wait below
		job, err := d.Claim(ctx, JobKind, w.name, w.p.cfg.Lease)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, db.ErrNoJob):
		case err != nil:
			w.log.Warn("claiming a job", "err", err)
		default:
			w.runJob(ctx, job)
			continue // look for the next job at once
		}
		t := time.NewTimer(w.p.cfg.Poll)
		select {
		case <-ctx.Done():
		case <-queued:
		case <-t.C:
		}
		t.Stop()
	}
}

// runJob runs one claimed job and records its outcome in the queue and on the video.
func (w *worker) runJob(ctx context.Context, job db.Job) {
	d, m := w.p.db, &w.p.m
	var p jobPayload
	if err := json.Unmarshal(job.Payload, &p); err != nil || !videoid.Valid(p.Video) {
		w.log.Error("dropping a malformed job", "job", job.ID, "payload", string(job.Payload))
		d.Fail(ctx, job, "malformed payload")
		return
	}
	log := w.log.With("job", job.ID, "video", p.Video, "attempt", job.Attempts)
	start := time.Now()
	// The attempt continues the trace of the hand-over that queued the job.
	ctx, span := w.p.tracer.Start(tracing.WithTraceParent(ctx, job.TraceParent), "pipeline.job", trace.WithAttributes(
		attribute.String("reelay.video", p.Video), attribute.Int64("reelay.job", job.ID), attribute.Int("reelay.attempt", job.Attempts),
		attribute.String("reelay.worker", w.name), attribute.Bool("reelay.orphaned", job.Orphaned)))
	defer span.End()
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go w.heartbeat(jctx, cancel, job)
	if job.Orphaned {
		w.bury(jctx, log, job, p.Video)
		return
	}

	err := w.makeVideo(jctx, log, p.Video, start)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	if cause := context.Cause(jctx); errors.Is(cause, db.ErrLeaseLost) {
		m.jobs.WithLabelValues("lost").Inc()
		log.Warn("lease lost; another worker has the job")
		return
	}
	if ctx.Err() != nil {
		log.Info("stopping; the job's lease will expire and it will run again")
		return
	}
	var rej *transcoder.RejectError
	switch {
	case errors.Is(err, db.ErrNotFound):
		// The video was deleted (DELETE /v1/videos/{id}) before or while it was made.
		m.jobs.WithLabelValues("deleted").Inc()
		if err = w.deleted(ctx, log, p.Video); err == nil {
			err = d.Complete(ctx, job)
		} else {
			err = d.Fail(ctx, job, err.Error()) // the next attempt deletes them
		}
	case errors.Is(err, errTimeLimit):
		// Another attempt would take as long.
		m.jobs.WithLabelValues("time_limit").Inc()
		log.Warn("transcode over its time limit", "err", err)
		w.fail(ctx, log, p.Video, "time_limit", "processing the video took longer than its length allows")
		err = d.Complete(ctx, job)
	case err == nil:
		err = d.Complete(ctx, job)
		m.jobs.WithLabelValues("ready").Inc()
		m.duration.Observe(time.Since(start).Seconds())
		log.Info("video ready", "took", time.Since(start).Round(time.Millisecond))
	case errors.As(err, &rej):
		// The source cannot make a video; trying again cannot help.
		m.jobs.WithLabelValues("rejected").Inc()
		log.Info("video rejected", "reason", rej.Reason, "detail", rej.Detail)
		w.fail(ctx, log, p.Video, string(rej.Reason), rej.Detail)
		err = d.Complete(ctx, job)
	case job.Attempts < job.MaxAttempts:
		m.jobs.WithLabelValues("retry").Inc()
		log.Warn("transcode failed; will retry", "err", err)
		err = d.Fail(ctx, job, err.Error())
	default:
		m.jobs.WithLabelValues("failed").Inc()
		log.Error("transcode failed; giving up", "err", err)
		w.fail(ctx, log, p.Video, "transcode_failed", "the video could not be processed")
		err = d.Fail(ctx, job, err.Error())
	}
	if err != nil {
		log.Error("recording the job's outcome", "err", err)
	}
}

// bury ends an orphaned job (db.Job.Orphaned): its last attempt died without an outcome,
// leaving the video processing and perhaps playable from a half-made presentation. Unless that
// attempt finished the video, bury withdraws everything published and fails the video, then
// the job. Each step can run again: if this worker dies too, the next claim buries it again.
func (w *worker) bury(ctx context.Context, log *slog.Logger, job db.Job, id string) {
	d := w.p.db
	w.p.m.jobs.WithLabelValues("orphaned").Inc()
	st, err := w.p.videos.state(ctx, id)
	switch {
	case err == nil && st.Status == video.Ready:
		// It died between marking the video ready and the job done.
		if err = w.p.videos.queueFanout(ctx, id); err == nil {
			err = d.Complete(ctx, job)
		}
	case errors.Is(err, db.ErrNotFound):
		if err = w.deleted(ctx, log, id); err == nil {
			err = d.Complete(ctx, job)
		}
	case err == nil:
		log.Error("transcode stopped without an outcome on every attempt (worker killed or out of memory); giving up")
		if err = w.fail(ctx, log, id, "transcode_failed", "processing stopped on every attempt"); err == nil {
			err = d.Fail(ctx, job, "lease expired on the last attempt")
		}
	}
	if err != nil && ctx.Err() == nil {
		log.Error("ending an orphaned job; it will be claimed again", "err", err)
	}
}

// fail withdraws everything published of video id, then marks it failed. A video already
// failed (or gone) stays as it is.
func (w *worker) fail(ctx context.Context, log *slog.Logger, id, code, reason string) error {
	if n, err := w.prune(ctx, id, ""); err != nil {
		log.Error("withdrawing the video", "err", err)
		return fmt.Errorf("withdrawing the video: %w", err)
	} else if n > 0 {
		log.Info("withdrawn", "objects", n)
	}
	err := w.p.videos.setFailed(ctx, id, code, reason)
	if err != nil && !errors.Is(err, db.ErrConflict) && !errors.Is(err, db.ErrNotFound) {
		log.Error("marking the video failed", "err", err)
		return err
	}
	return nil
}

// deleted deletes every object of video id, whose row is gone: the video was deleted while
// it was made, and what the run wrote after the deletion is left to it to remove (the feed,
// which deletes the row, marks the video private so that none of it is ever served).
func (w *worker) deleted(ctx context.Context, log *slog.Logger, id string) error {
	n, err := videostore.Delete(ctx, w.p.store, id, false)
	if err != nil {
		log.Error("deleting the objects of a deleted video", "err", err)
		return err
	}
	log.Info("the video was deleted; its objects are removed", "objects", n)
	return nil
}

// prune deletes the objects of video id but its private marker and, unless keep is "",
// master.m3u8 and generation keep's objects: with keep "" it withdraws the whole presentation
// (master.m3u8 first, so that it never names a missing object); with the current generation
// it deletes what earlier attempts left behind. It returns how many objects it deleted.
func (w *worker) prune(ctx context.Context, id, keep string) (int, error) {
	store, prefix := w.p.store, layout.VideoPrefix(id)
	if keep == "" {
		if err := store.Delete(ctx, prefix+layout.Master); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return 0, err
		}
	}
	var keys []string
	err := store.List(ctx, prefix, func(info storage.Info) error {
		name := strings.TrimPrefix(info.Key, prefix)
		gen, _, _ := strings.Cut(name, "/")
		if name != layout.PrivateMarker && name != layout.Master && (keep == "" || gen != keep) {
			keys = append(keys, info.Key)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for i, key := range keys {
		if err := store.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return i, err
		}
	}
	return len(keys), nil
}

// heartbeat extends job's lease every Lease/3 until ctx is done, and cancels the job with
// db.ErrLeaseLost if another worker has taken it.
func (w *worker) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, job db.Job) {
	lease := w.p.cfg.Lease
	t := time.NewTicker(lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := w.p.db.Heartbeat(ctx, job, lease)
		if errors.Is(err, db.ErrLeaseLost) {
			cancel(err)
			return
		}
		if err != nil && ctx.Err() == nil {
			w.log.Warn("heartbeat", "job", job.ID, "err", err)
		}
	}
}

// errTimeLimit ends an attempt that took longer than its video's time limit
// (Config.TimeLimitBase, Config.TimeLimitPerSecond).
var errTimeLimit = errors.New("pipeline: time limit reached")

// makeVideo publishes video id from its source (Transcode), playable after its first segments,
// and marks it ready. A failure withdraws the early publication, unless the lease was lost.
func (w *worker) makeVideo(ctx context.Context, log *slog.Logger, id string, start time.Time) error {
	vs := w.p.videos
	st, err := vs.state(ctx, id)
	if err != nil {
		return err
	}
	switch st.Status {
	case video.Ready: // finished by an earlier run that died before completing its job
		return vs.queueFanout(ctx, id)
	case video.Failed:
		return nil
	}
	store := w.p.store
	if st.Visibility == video.Private {
		// Before anything is published, so that no object of the video is ever served as public.
		if _, err := store.Put(ctx, layout.VideoPrefix(id)+layout.PrivateMarker, strings.NewReader(""), 0, storage.PutOptions{}); err != nil {
			return fmt.Errorf("marking the video private: %w", err)
		}
	}
	src, done, err := w.source(ctx, id)
	if err != nil {
		return err
	}
	defer done()
	limit := w.p.cfg.TimeLimitBase + time.Duration(st.Duration.Seconds()*float64(w.p.cfg.TimeLimitPerSecond))
	ctx, cancel := context.WithTimeoutCause(ctx, limit, errTimeLimit)
	defer cancel()

	last := -1
	gen := layout.NewGeneration()
	log = log.With("generation", gen)
	tctx, span := w.p.tracer.Start(ctx, "pipeline.transcode", trace.WithAttributes(attribute.String("reelay.generation", gen)))
	res, err := Transcode(tctx, w.p.tc, transcoder.Input{Path: src}, Output{
		Store: store, Prefix: layout.VideoPrefix(id), Generation: gen, Progressive: true, Logger: log,
		AfterSample: w.p.cfg.AfterSample,
		OnPlayable: func() {
			span.AddEvent("playable") // the EVENT presentation is published
			w.p.m.playable.Observe(time.Since(start).Seconds())
			log.Info("video playable", "after", time.Since(start).Round(time.Millisecond))
			if err := vs.setPlayable(ctx, id, true); err != nil && ctx.Err() == nil {
				log.Warn("recording playable", "err", err)
			}
		},
	}, func(pct float64) {
		// One database write per 2 percent is plenty for a progress bar.
		if p := int(pct); p >= last+2 || (p == 100 && last != 100) {
			last = p
			if err := vs.setProgress(ctx, id, min(p, 99)); err != nil && ctx.Err() == nil {
				log.Warn("recording progress", "err", err)
			}
		}
	})
	tracing.End(span, err)
	if err != nil {
		if errors.Is(context.Cause(ctx), errTimeLimit) {
			err = fmt.Errorf("%w (%v for a video of %v): %w", errTimeLimit, limit, st.Duration.Round(time.Millisecond), err)
		}
		if !errors.Is(context.Cause(ctx), db.ErrLeaseLost) {
			// Transcode withdrew the presentation; the video is not playable until a run succeeds.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if perr := vs.setPlayable(actx, id, false); perr != nil {
				log.Warn("recording not playable", "err", perr)
			}
		}
		return err
	}
	return w.publish(ctx, log, id, gen, res)
}

// publish records video id ready with what generation gen of the transcode made (res), queues
// its fan-out, and deletes what earlier attempts left.
func (w *worker) publish(ctx context.Context, log *slog.Logger, id, gen string, res Result) (err error) {
	ctx, span := w.p.tracer.Start(ctx, "pipeline.publish")
	defer func() { tracing.End(span, err) }()
	vs := w.p.videos
	pub := published{Generation: gen, Duration: res.Package.Duration, Renditions: renditions(res.Package, gen)}
	if len(res.Transcode.Renditions) > 0 {
		pub.Width, pub.Height = res.Transcode.Renditions[0].Width, res.Transcode.Renditions[0].Height
	}
	if err := vs.setReady(ctx, id, pub); err != nil {
		return err
	}
	// Queued even when the worker is stopping: a stop between the two would leave a ready video
	// without its fan-out until the job's next attempt.
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := vs.queueFanout(qctx, id); err != nil {
		return err // the next attempt finds the video ready and queues it again
	}
	// What earlier attempts, killed before they could withdraw it, left behind: nothing names
	// it any more.
	if n, err := w.prune(ctx, id, gen); err != nil {
		log.Warn("deleting what earlier attempts left", "err", err)
	} else if n > 0 {
		log.Info("deleted what earlier attempts left", "objects", n)
	}
	return nil
}

// localStore is a store whose objects are files on this machine, which a worker reads in
// place; storage.FS is one.
type localStore interface {
	LocalPath(ctx context.Context, key string) (string, error)
}

// source returns the path of a local file that holds video id's source, and what to call once
// done with it: the store's own file when the store is local, else a copy in the process's
// scratch directory.
func (w *worker) source(ctx context.Context, id string) (path string, done func(), err error) {
	key := layout.SourceKey(id)
	if ls, ok := w.p.store.(localStore); ok {
		path, err := ls.LocalPath(ctx, key)
		if err != nil {
			return "", nil, fmt.Errorf("the source: %w", err)
		}
		return path, func() {}, nil
	}
	body, _, err := w.p.store.Get(ctx, key)
	if err != nil {
		return "", nil, fmt.Errorf("fetching the source: %w", err)
	}
	defer body.Close()
	f, err := os.CreateTemp(w.p.scratch, "source-"+id+"-*")
	if err != nil {
		return "", nil, err
	}
	done = func() { os.Remove(f.Name()) }
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		done()
		return "", nil, fmt.Errorf("fetching the source: %w", err)
	}
	if err := f.Close(); err != nil {
		done()
		return "", nil, err
	}
	return f.Name(), done, nil
}

// renditions describes the published renditions of generation gen for the catalogue.
func renditions(out packager.Result, gen string) []video.Rendition {
	rs := make([]video.Rendition, 0, len(out.Renditions))
	for _, r := range out.Renditions {
		bw := r.Bandwidth
		if r.Kind == packager.KindAudio {
			bw = r.PeakBitrate
		}
		rs = append(rs, video.Rendition{
			Name: r.Name, Kind: r.Kind.String(), Width: r.Width, Height: r.Height, FrameRate: r.FrameRate,
			Bandwidth: bw, Codecs: r.Codecs, Playlist: layout.InGeneration(gen, layout.InRendition(r.Name, layout.MediaPlaylist)),
		})
	}
	return rs
}
