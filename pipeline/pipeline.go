// Package pipeline owns the way from a finished upload to a published video.
//
//	upload finished ─Accept─▶ probe (quick: is it a video at all?) ─▶ video row (processing)
//	                ─HandOver─▶ source into the store (moved, or copied) ─▶ transcode job queued
//	worker ─claim─▶ source (read in place, or fetched) ─▶ transcode ─▶ package ─▶ publish
//	        playable (EVENT presentation) after the first segments, ready at the end;
//	        a failed run withdraws what it published, and the job is tried again or the video fails
//
// The ingest tier calls Accept before it answers the request that finished an upload, and
// HandOver in the background after (see ingest.Pipeline); Run runs this process's workers,
// which share the job queue in the database with workers in other processes. Transcode is the
// path from a source to a presentation that every worker and `reelay transcode` take.
package pipeline

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/ingest"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/tracing"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/storage"
	"github.com/reelay/reelay/transcoder"
)

// JobKind is the kind of the queue's transcode jobs.
const JobKind = "transcode"

// Defaults of Config.
const (
	DefaultLease       = 30 * time.Second
	DefaultPoll        = time.Second
	DefaultMaxAttempts = 3

	DefaultTimeLimitBase      = 5 * time.Minute
	DefaultTimeLimitPerSecond = 20 * time.Second
)

// Config configures a Pipeline. The zero value takes uploads in and runs no worker.
type Config struct {
	// Workers is how many transcode jobs Run works on at once in this process. Default 0: none;
	// this process takes uploads in, and workers elsewhere make the videos.
	Workers int
	// Name names this process's workers in the job queue and in the logs: Name-1, Name-2, ...
	// Default: hostname-pid.
	Name string
	// Lease is how long a claimed job stays a worker's without a heartbeat; heartbeats go every
	// Lease/3. A killed worker's job goes to another worker after Lease. Default DefaultLease
	// (30s).
	Lease time.Duration
	// Poll is how often an idle worker looks for a job. A newly queued job wakes it at once
	// (db.DB.Enqueued: in this process, and from any process on PostgreSQL); polling finds the
	// retries and expired leases that have come due, and jobs whose wake-up was lost. Default
	// DefaultPoll (1s).
	Poll time.Duration
	// ScratchDir holds the copy of a source that a worker fetched from a remote store while it
	// transcodes it; sources in a local store (storage.FS) are read in place. Run keeps them in
	// a directory of its own in it, and removes at start the ones of processes that died (see
	// openScratch). It is created if missing. Default os.TempDir().
	ScratchDir string
	// MaxAttempts bounds how often a video's transcode is tried. Default DefaultMaxAttempts (3).
	MaxAttempts int
	// TimeLimitBase and TimeLimitPerSecond bound one attempt at a video: TimeLimitBase plus
	// TimeLimitPerSecond for each second of the video, as probed when it was accepted. A video
	// that takes longer fails with time_limit, without another attempt, so that one hostile
	// or pathological file cannot hold a worker for long. Defaults DefaultTimeLimitBase (5m)
	// and DefaultTimeLimitPerSecond (20s): a one-minute video gets 25 minutes.
	TimeLimitBase      time.Duration
	TimeLimitPerSecond time.Duration
	// Registerer receives the pipeline's metrics, the job queue's backlog among them (read from
	// the database when scraped: see queueMetrics). Default nil: not registered.
	Registerer prometheus.Registerer
	// Logger receives the pipeline's logs. Default nil: discarded.
	Logger *slog.Logger
	// AfterSample is Output.AfterSample of the workers' transcodes: a test hook that holds
	// them (see SampleHook). Default nil.
	AfterSample SampleHook
	// TracerProvider traces an upload's way: Accept and HandOver as children of the span in
	// their context (the request that finished the upload), and each attempt at its job
	// ("pipeline.job", with "pipeline.transcode" and "pipeline.publish") as a child of
	// HandOver's span, whose traceparent the job carries (db.EnqueueOptions.TraceParent).
	// Default nil: no spans.
	TracerProvider trace.TracerProvider
}

// Pipeline takes finished uploads in and makes videos of them.
type Pipeline struct {
	cfg    Config
	db     *db.DB
	store  storage.Store
	tc     *transcoder.Transcoder
	videos *videos
	log    *slog.Logger
	tracer trace.Tracer
	// scratch is this process's directory under Config.ScratchDir, set by Run.
	scratch string
	m       metrics
}

var _ ingest.Pipeline = (*Pipeline)(nil)

// New returns a pipeline whose queue and videos are in d, whose sources and presentations are
// in store, and whose workers transcode with tc.
func New(cfg Config, d *db.DB, store storage.Store, tc *transcoder.Transcoder) (*Pipeline, error) {
	if d == nil || store == nil || tc == nil {
		return nil, errors.New("pipeline: a database, a store and a transcoder are required")
	}
	if cfg.Workers < 0 {
		return nil, fmt.Errorf("pipeline: Config.Workers %d is negative", cfg.Workers)
	}
	if cfg.Name == "" {
		host, _ := os.Hostname()
		cfg.Name = host + "-" + strconv.Itoa(os.Getpid())
	}
	cfg.Lease = cmp.Or(cfg.Lease, DefaultLease)
	cfg.Poll = cmp.Or(cfg.Poll, DefaultPoll)
	cfg.ScratchDir = cmp.Or(cfg.ScratchDir, os.TempDir())
	cfg.MaxAttempts = cmp.Or(cfg.MaxAttempts, DefaultMaxAttempts)
	cfg.TimeLimitBase = cmp.Or(cfg.TimeLimitBase, DefaultTimeLimitBase)
	cfg.TimeLimitPerSecond = cmp.Or(cfg.TimeLimitPerSecond, DefaultTimeLimitPerSecond)
	switch {
	case cfg.Lease < 3*time.Millisecond:
		return nil, fmt.Errorf("pipeline: Config.Lease %v is too short", cfg.Lease)
	case cfg.Poll < 0 || cfg.MaxAttempts < 0:
		return nil, errors.New("pipeline: negative Config.Poll or Config.MaxAttempts")
	case cfg.TimeLimitBase < 0 || cfg.TimeLimitPerSecond < 0:
		return nil, errors.New("pipeline: negative Config.TimeLimitBase or Config.TimeLimitPerSecond")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.ScratchDir, 0o755); err != nil {
		return nil, fmt.Errorf("pipeline: scratch directory: %w", err)
	}
	p := &Pipeline{
		cfg: cfg, db: d, store: store, tc: tc,
		videos: &videos{d: d, now: time.Now},
		log:    cfg.Logger.With("tier", "pipeline"),
		tracer: tracing.Tracer(cfg.TracerProvider, "pipeline"),
		m:      newMetrics(),
	}
	if cfg.Registerer != nil {
		queue := newQueueMetrics(d, p.log, JobKind, video.FanoutJob)
		for _, c := range append(p.m.collectors(), queue) {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("pipeline: metrics: %w", err)
			}
		}
	}
	return p, nil
}

// openScratch opens this process's scratch directory. While the process or the system is out
// of file descriptors (a flood of connections on a listener of the same process), it waits and
// tries again, every second, rather than stopping the process: nil, nil when ctx ends first.
func (p *Pipeline) openScratch(ctx context.Context) (*scratch, error) {
	for logged := false; ; logged = true {
		sc, err := openScratch(p.cfg.ScratchDir, p.log)
		if err == nil || !(errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) {
			return sc, err
		}
		if !logged {
			p.log.Warn("out of file descriptors for the scratch directory; retrying every second", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(time.Second):
		}
	}
}

// Run runs Config.Workers workers until ctx is done, then returns nil. A job in progress when
// ctx ends is abandoned: its lease expires and a worker (this one, restarted, or another) runs
// it again.
func (p *Pipeline) Run(ctx context.Context) error {
	if p.cfg.Workers == 0 {
		return nil
	}
	sc, err := p.openScratch(ctx)
	if err != nil {
		return err
	}
	if sc == nil {
		return nil // ctx ended while the process was out of file descriptors
	}
	defer func() {
		if err := sc.close(); err != nil {
			p.log.Warn("removing the scratch directory", "dir", sc.dir, "err", err)
		}
	}()
	p.scratch = sc.dir
	var g errgroup.Group
	for i := range p.cfg.Workers {
		w := &worker{p: p, name: p.cfg.Name + "-" + strconv.Itoa(i+1)}
		w.log = p.log.With("worker", w.name)
		g.Go(func() error { w.run(ctx); return nil })
	}
	return g.Wait()
}

// Accept runs the quick checks of a finished upload and creates its video, processing: the
// probe of its first megabytes refuses what is not a playable video with a 422 naming the
// reason (not_video, no_video_stream, undecodable, zero_duration, too_long, too_large).
// Accepting an upload again changes nothing: its video is there, so it is not probed again,
// for a hand-over may have taken the staged file away already (ingest accepts again an upload
// whose hand-over it did not see finish, when the process stopped in between).
func (p *Pipeline) Accept(ctx context.Context, u ingest.Upload) (err error) {
	ctx, span := p.tracer.Start(ctx, "pipeline.accept", trace.WithAttributes(attribute.String("reelay.video", u.ID)))
	defer func() { tracing.End(span, err) }()
	if _, err := p.videos.state(ctx, u.ID); err == nil {
		return nil
	} else if !errors.Is(err, db.ErrNotFound) {
		return err
	}
	info, err := p.tc.Probe(ctx, transcoder.Input{Path: u.Path})
	var rej *transcoder.RejectError
	if errors.As(err, &rej) {
		return &apierr.Error{Status: http.StatusUnprocessableEntity, Code: string(rej.Reason), Message: rej.Detail, Err: err}
	}
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if err := p.videos.create(ctx, newVideo{
		ID: u.ID, UserID: u.Owner, Caption: u.Caption, Visibility: u.Visibility, Filename: u.Filename, SourceSize: u.Size,
		Duration: info.Duration,
	}); err != nil {
		return err
	}
	p.log.Info("video accepted", "video", u.ID, "source", info.String())
	return nil
}

// jobPayload is the payload of a transcode job.
type jobPayload struct {
	Video string `json:"video"`
}

// HandOver keeps the source of accepted upload u in the store, under layout.SourceKey, and
// queues the video's transcode job. A store on the upload's own file system (storage.FS) takes
// the staged file as it is, by renaming it; any other store gets a copy. A source that was lost
// (the staged file is gone and the store has no copy) fails the video with source_lost.
// Handing an upload over again changes nothing.
func (p *Pipeline) HandOver(ctx context.Context, u ingest.Upload) (err error) {
	ctx, span := p.tracer.Start(ctx, "pipeline.handover", trace.WithAttributes(attribute.String("reelay.video", u.ID)))
	defer func() { tracing.End(span, err) }()
	start := time.Now()
	moved, err := p.keepSource(ctx, u)
	if errors.Is(err, errSourceLost) {
		p.log.Error("the source of a video was lost before it was stored", "video", u.ID, "path", u.Path)
		if ferr := p.videos.setFailed(ctx, u.ID, "source_lost", "the upload's bytes were lost before the video was made; upload it again"); ferr != nil {
			return ferr
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("keeping the source: %w", err)
	}
	payload, _ := json.Marshal(jobPayload{Video: u.ID})
	// One creator's backlog takes its turn with the others' videos (db.DB.Claim).
	job, err := p.db.Enqueue(ctx, JobKind, payload, db.EnqueueOptions{
		Key: u.ID, MaxAttempts: p.cfg.MaxAttempts, Group: "user:" + strconv.FormatInt(u.Owner, 10),
		TraceParent: tracing.TraceParent(ctx),
	})
	if err != nil {
		return err
	}
	p.m.handOver.Observe(time.Since(start).Seconds())
	p.log.Info("video queued", "video", u.ID, "job", job.ID, "source_moved", moved, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// errSourceLost: the staged file of an upload is gone, and the store has no copy of it.
var errSourceLost = errors.New("pipeline: the source is lost")

// fileMover is a store that can take a local file as an object without copying it;
// storage.FS is one, for a file on its own file system.
type fileMover interface {
	MoveFile(ctx context.Context, key, path string, opts storage.PutOptions) (storage.Info, error)
}

// keepSource stores the staged file of u as its source, moving it when the store can take it
// (moved is then true), copying it otherwise.
func (p *Pipeline) keepSource(ctx context.Context, u ingest.Upload) (moved bool, err error) {
	key := layout.SourceKey(u.ID)
	opts := storage.PutOptions{ContentType: cmp.Or(u.Filetype, "video/mp4")}
	if m, ok := p.store.(fileMover); ok {
		_, err := m.MoveFile(ctx, key, u.Path, opts)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, storage.ErrCrossDevice) && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
	}
	f, err := os.Open(u.Path)
	if errors.Is(err, fs.ErrNotExist) {
		// An earlier hand-over may have moved it, then stopped before the upload was complete.
		_, serr := p.store.Stat(ctx, key)
		if errors.Is(serr, storage.ErrNotFound) {
			return false, errSourceLost
		}
		return false, serr
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = p.store.Put(ctx, key, f, u.Size, opts)
	return false, err
}

type metrics struct {
	jobs     *prometheus.CounterVec
	duration prometheus.Histogram
	playable prometheus.Histogram
	handOver prometheus.Histogram
}

func newMetrics() metrics {
	return metrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reelay_transcode_jobs_total",
			Help: "Transcode jobs finished by this process's workers, by result (ready, rejected, retry, failed, lost, time_limit, orphaned, deleted: the video was deleted meanwhile).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "reelay_transcode_job_seconds",
			Help:    "Time from claiming a transcode job to the video being ready (fully packaged).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		playable: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "reelay_transcode_time_to_playable_seconds",
			Help:    "Time from claiming a transcode job to the video being playable (its first segments published).",
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 12),
		}),
		handOver: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "reelay_pipeline_handover_seconds",
			Help:    "Time to keep an accepted upload's source in the store and queue its transcode.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
	}
}

func (m metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.jobs, m.duration, m.playable, m.handOver}
}
