package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/videoid"
	"github.com/reelay/reelay/packager"
	"github.com/reelay/reelay/storage"
	"github.com/reelay/reelay/transcoder"
)

// WorkerConfig configures a Worker. Only Transcoder is required.
type WorkerConfig struct {
	// Name identifies the worker in the job queue and logs. Default: hostname-pid.
	Name string
	// Transcoder transcodes; its SegmentDuration is also the packager's. Required.
	Transcoder *transcoder.Transcoder
	// Lease is how long a claimed job stays this worker's without a heartbeat; heartbeats go
	// every Lease/3. A killed worker's job goes to another worker after Lease. Default 30s.
	Lease time.Duration
	// Poll is how often an idle worker looks for a job. A newly queued job wakes it at once;
	// polling finds retries and expired leases that have become due, and jobs whose wake-up was
	// lost. Default 1s.
	Poll time.Duration
	// ScratchDir holds a job's source while it is transcoded. Default os.TempDir().
	ScratchDir string
	// Registerer receives the worker's metrics. Default nil: not registered.
	Registerer prometheus.Registerer
	// Logger receives the worker's logs. Default nil: discarded.
	Logger *slog.Logger
}

// Worker runs transcode jobs from the queue: it fetches the source, transcodes and packages it
// into videos/{id}/, and marks the video ready. The packaging is progressive: once every
// rendition has its first segment the video is published as an EVENT presentation that grows
// as the transcode goes on, and the video is marked playable; the final VOD playlists follow
// at the end. A job that fails withdraws what it published. Workers on any number of machines
// may share a queue.
type Worker struct {
	cfg   WorkerConfig
	db    *db.DB
	store storage.Store
	log   *slog.Logger

	jobs     *prometheus.CounterVec
	duration prometheus.Histogram
	playable prometheus.Histogram
}

// NewWorker returns a worker over the queue in d, publishing into store.
func NewWorker(cfg WorkerConfig, d *db.DB, store storage.Store) (*Worker, error) {
	if cfg.Transcoder == nil || d == nil || store == nil {
		return nil, errors.New("ingest: a worker needs a transcoder, a database and a store")
	}
	if cfg.Name == "" {
		host, _ := os.Hostname()
		cfg.Name = host + "-" + strconv.Itoa(os.Getpid())
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.ScratchDir == "" {
		cfg.ScratchDir = os.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Worker{
		cfg: cfg, db: d, store: store,
		log: cfg.Logger.With("tier", "transcode", "worker", cfg.Name),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reelay_transcode_jobs_total",
			Help: "Transcode jobs finished by this worker, by result (ready, rejected, retry, failed, lost).",
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
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{w.jobs, w.duration, w.playable} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("ingest: worker metrics: %w", err)
			}
		}
	}
	return w, nil
}

// Run claims and runs jobs until ctx is done. A job in progress when ctx ends is abandoned:
// its lease expires and a worker (this one, restarted, or another) runs it again.
func (w *Worker) Run(ctx context.Context) error {
	w.log.Info("worker started")
	for {
		enqueued := w.db.Enqueued(JobKind) // before Claim: a job queued in between wakes the wait below
		job, err := w.db.Claim(ctx, JobKind, w.cfg.Name, w.cfg.Lease)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, db.ErrNoJob):
		case err != nil:
			w.log.Warn("claiming a job", "err", err)
		default:
			w.run(ctx, job)
			continue // look for the next job at once
		}
		select {
		case <-ctx.Done():
			return nil
		case <-enqueued:
		case <-time.After(w.cfg.Poll):
		}
	}
}

// run runs one claimed job and records its outcome in the queue and on the video.
func (w *Worker) run(ctx context.Context, job db.Job) {
	var p jobPayload
	if err := json.Unmarshal(job.Payload, &p); err != nil || !videoid.Valid(p.Video) {
		w.log.Error("dropping a malformed job", "job", job.ID, "payload", string(job.Payload))
		w.db.Fail(ctx, job, "malformed payload")
		return
	}
	log := w.log.With("job", job.ID, "video", p.Video, "attempt", job.Attempts)
	start := time.Now()
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go w.heartbeat(jctx, cancel, job)

	err := w.transcode(jctx, log, p.Video, start)
	if cause := context.Cause(jctx); errors.Is(cause, db.ErrLeaseLost) {
		w.jobs.WithLabelValues("lost").Inc()
		log.Warn("lease lost; another worker has the job")
		return
	}
	if ctx.Err() != nil {
		log.Info("stopping; the job's lease will expire and it will run again")
		return
	}
	var rej *transcoder.RejectError
	switch {
	case err == nil:
		err = w.db.Complete(ctx, job)
		w.jobs.WithLabelValues("ready").Inc()
		w.duration.Observe(time.Since(start).Seconds())
		log.Info("video ready", "took", time.Since(start).Round(time.Millisecond))
	case errors.As(err, &rej):
		// The source cannot make a video; trying again cannot help.
		w.jobs.WithLabelValues("rejected").Inc()
		log.Info("video rejected", "reason", rej.Reason, "detail", rej.Detail)
		if ferr := w.db.SetVideoFailed(ctx, p.Video, string(rej.Reason), rej.Detail); ferr != nil {
			log.Error("marking the video failed", "err", ferr)
		}
		err = w.db.Complete(ctx, job)
	case job.Attempts < job.MaxAttempts:
		w.jobs.WithLabelValues("retry").Inc()
		log.Warn("transcode failed; will retry", "err", err)
		err = w.db.Fail(ctx, job, err.Error())
	default:
		w.jobs.WithLabelValues("failed").Inc()
		log.Error("transcode failed; giving up", "err", err)
		if ferr := w.db.SetVideoFailed(ctx, p.Video, "transcode_failed", "the video could not be processed"); ferr != nil {
			log.Error("marking the video failed", "err", ferr)
		}
		err = w.db.Fail(ctx, job, err.Error())
	}
	if err != nil {
		log.Error("recording the job's outcome", "err", err)
	}
}

// heartbeat extends job's lease every Lease/3 until ctx is done, and cancels the job with
// db.ErrLeaseLost if another worker has taken it.
func (w *Worker) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, job db.Job) {
	t := time.NewTicker(w.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := w.db.Heartbeat(ctx, job, w.cfg.Lease)
		if errors.Is(err, db.ErrLeaseLost) {
			cancel(err)
			return
		}
		if err != nil && ctx.Err() == nil {
			w.log.Warn("heartbeat", "job", job.ID, "err", err)
		}
	}
}

// transcode publishes video id: fetch the source, transcode into the packager (which makes the
// video playable after its first segments), close it (the final master.m3u8 last), and mark the
// video ready. On failure it withdraws the early publication.
func (w *Worker) transcode(ctx context.Context, log *slog.Logger, id string, start time.Time) (err error) {
	v, err := w.db.VideoByID(ctx, id)
	if err != nil {
		return err
	}
	if v.Status == db.VideoReady || v.Status == db.VideoFailed {
		return nil // finished by an earlier run that died before completing its job
	}
	if v.Visibility == VisibilityPrivate {
		// Before anything is published, so that no object of the video is ever served as public.
		if _, err := w.store.Put(ctx, layout.VideoPrefix(id)+layout.PrivateMarker, strings.NewReader(""), 0, storage.PutOptions{}); err != nil {
			return fmt.Errorf("marking the video private: %w", err)
		}
	}
	src, err := w.fetch(ctx, id)
	if err != nil {
		return err
	}
	defer os.Remove(src)

	tc := w.cfg.Transcoder
	pkg, err := packager.New(packager.Config{
		Store: w.store, Prefix: layout.VideoPrefix(id), SegmentDuration: tc.Config().SegmentDuration, Logger: log,
		Progressive: true,
		OnPlayable: func() {
			w.playable.Observe(time.Since(start).Seconds())
			log.Info("video playable", "after", time.Since(start).Round(time.Millisecond))
			if err := w.db.SetVideoPlayable(ctx, id, true); err != nil && ctx.Err() == nil {
				log.Warn("recording playable", "err", err)
			}
		},
	})
	if err != nil {
		return err
	}
	defer func() {
		// A worker that lost its lease leaves the video alone: another worker has the job now and
		// may have published the video itself.
		if err == nil || errors.Is(context.Cause(ctx), db.ErrLeaseLost) {
			return
		}
		// Also when the worker is stopping: a half-done EVENT presentation must not stay visible
		// until the job runs again.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if aerr := pkg.Abort(actx); aerr != nil {
			log.Error("withdrawing the unfinished video", "err", aerr)
		}
		if aerr := w.db.SetVideoPlayable(actx, id, false); aerr != nil {
			log.Warn("recording not playable", "err", aerr)
		}
	}()
	last := -1
	res, err := tc.Run(ctx, transcoder.Input{Path: src}, transcoder.PackagerSink(pkg), func(pct float64) {
		// One database write per 2 percent is plenty for a progress bar.
		if p := int(pct); p >= last+2 || (p == 100 && last != 100) {
			last = p
			if err := w.db.SetVideoProgress(ctx, id, min(p, 99)); err != nil && ctx.Err() == nil {
				log.Warn("recording progress", "err", err)
			}
		}
	})
	if err != nil {
		return err
	}
	out, err := pkg.Close(ctx)
	if err != nil {
		return err
	}
	renditions, err := json.Marshal(describe(out))
	if err != nil {
		return err
	}
	width, height := 0, 0
	if len(res.Renditions) > 0 {
		width, height = res.Renditions[0].Width, res.Renditions[0].Height
	}
	return w.db.SetVideoReady(ctx, id, db.Published{
		DurationMS: out.Duration.Milliseconds(), Width: width, Height: height, Renditions: string(renditions),
	})
}

// fetch copies video id's source from the store into a scratch file and returns its path.
func (w *Worker) fetch(ctx context.Context, id string) (string, error) {
	body, _, err := w.store.Get(ctx, layout.SourceKey(id))
	if err != nil {
		return "", fmt.Errorf("fetching the source: %w", err)
	}
	defer body.Close()
	f, err := os.CreateTemp(w.cfg.ScratchDir, "reelay-source-*")
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("fetching the source: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// Rendition is one published rendition as the status API shows it.
type Rendition struct {
	Name      string  `json:"name"`
	Kind      string  `json:"kind"` // video or audio
	Width     int     `json:"width,omitempty"`
	Height    int     `json:"height,omitempty"`
	FrameRate float64 `json:"frame_rate,omitempty"`
	Bandwidth int     `json:"bandwidth"` // peak bit/s, as in the multivariant playlist
	Codecs    string  `json:"codecs"`
	Playlist  string  `json:"playlist"` // relative to the video's master.m3u8
}

func describe(out packager.Result) []Rendition {
	rs := make([]Rendition, 0, len(out.Renditions))
	for _, r := range out.Renditions {
		bw := r.Bandwidth
		if r.Kind == packager.KindAudio {
			bw = r.PeakBitrate
		}
		rs = append(rs, Rendition{
			Name: r.Name, Kind: r.Kind.String(), Width: r.Width, Height: r.Height, FrameRate: r.FrameRate,
			Bandwidth: bw, Codecs: r.Codecs, Playlist: r.Name + "/" + layout.MediaPlaylist,
		})
	}
	return rs
}
