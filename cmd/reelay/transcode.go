package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/progress"
	"github.com/reelay/reelay/internal/server"
	"github.com/reelay/reelay/pipeline"
	"github.com/reelay/reelay/storage"
	"github.com/reelay/reelay/transcoder"
)

// transcodeConfig is `reelay transcode`: one local file into a local HLS tree, or, with
// --worker, a worker that runs the transcode jobs of the queue.
type transcodeConfig struct {
	common
	tracingFlags
	in, out     string
	progressive bool
	ladder      string
	segment     time.Duration
	preset      string
	maxDuration time.Duration
	hugePages   bool
	rungs       []transcoder.Rung

	worker       bool
	workers      int
	dbDSN        string
	store        string
	addr         string
	metricsToken string
	name         string
	lease        time.Duration
	limit        timeLimit
	scratch      string
}

// defaultWorkerAddr is where a transcode worker serves /metrics, /healthz and /readyz.
const defaultWorkerAddr = "127.0.0.1:8083"

func setupTranscode(fs *flag.FlagSet) runner {
	c := &transcodeConfig{}
	c.common.register(fs)
	c.tracingFlags.register(fs)
	fs.StringVar(&c.in, "in", "", "input video file (required)")
	fs.StringVar(&c.out, "out", "", "output directory: a plain HLS tree whose DIR/master.m3u8, the multivariant playlist, is written last (required)")
	fs.BoolVar(&c.progressive, "progressive", false, "publish progressively: DIR/master.m3u8 plays (as a growing EVENT presentation) as soon as every rendition has its first segment")
	fs.StringVar(&c.ladder, "ladder", "", "bitrate ladder as name:bitrate by short side, e.g. 720p:2500k,360p:600k; empty is 1080p:4500k,720p:2500k,540p:1200k,360p:600k")
	fs.DurationVar(&c.segment, "segment", transcoder.DefaultSegmentDuration, "segment duration")
	fs.StringVar(&c.preset, "preset", transcoder.DefaultPreset, "libx264 preset: reelay (x264's veryfast with a cheaper motion search and fewer B-frames), or x264's own, ultrafast to placebo")
	fs.DurationVar(&c.maxDuration, "max-duration", transcoder.DefaultMaxDuration, "refuse longer inputs")
	fs.BoolVar(&c.hugePages, "huge-pages", false, "keep transparent huge pages for libx264's buffers (off by default: on fragmented memory they cost more than they save)")
	fs.BoolVar(&c.worker, "worker", false, "run transcode jobs from the queue instead of --in/--out")
	fs.StringVar(&c.dbDSN, "db", "", "with --worker: metadata database holding the queue, a postgres:// URL or a SQLite file (required)")
	fs.StringVar(&c.store, "store", "", "with --worker: object store URL holding sources and videos: "+storeURLHelp+" (required)")
	fs.IntVar(&c.workers, "workers", 1, "with --worker: how many jobs this process transcodes at once")
	fs.StringVar(&c.addr, "addr", defaultWorkerAddr, "with --worker: listener for /metrics, /healthz and /readyz")
	fs.StringVar(&c.metricsToken, "metrics-token", "", "with --worker: bearer token of /metrics, for Prometheus' authorization credentials (at least 16 characters); empty makes /metrics answer 403")
	fs.StringVar(&c.name, "name", "", "with --worker: the worker's name in the queue (NAME-1, NAME-2, ...); empty is hostname-pid")
	fs.DurationVar(&c.lease, "lease", pipeline.DefaultLease, "with --worker: a job's lease; a dead worker's job moves on after it")
	c.limit.register(fs, "with --worker: ")
	fs.StringVar(&c.scratch, "scratch", "", "with --worker: directory for the source being transcoded; empty is the system's temporary directory")
	return c
}

func (c *transcodeConfig) validate() error {
	if err := c.common.validate(); err != nil {
		return err
	}
	if err := c.tracingFlags.validate(); err != nil {
		return err
	}
	if c.worker {
		if c.dbDSN == "" || c.store == "" {
			return usagef("--worker needs --db and --store")
		}
		if c.in != "" || c.out != "" || c.progressive {
			return usagef("--worker takes no --in, --out or --progressive")
		}
		if c.lease < 3*time.Second {
			return usagef("invalid --lease %v: want at least 3s", c.lease)
		}
		if err := c.limit.validate(); err != nil {
			return err
		}
		if c.workers < 1 || c.workers > 64 {
			return usagef("invalid --workers %d: want 1 to 64", c.workers)
		}
		if err := checkAddr("addr", c.addr); err != nil {
			return err
		}
		if err := checkMetricsToken(c.metricsToken); err != nil {
			return err
		}
	} else if c.in == "" || c.out == "" {
		return usagef("--in and --out are required (or --worker)")
	}
	if c.ladder != "" {
		rungs, err := transcoder.ParseLadder(c.ladder)
		if err != nil {
			return usagef("invalid --ladder: %v", err)
		}
		c.rungs = rungs
	}
	if c.segment < 500*time.Millisecond || c.segment > 20*time.Second {
		return usagef("invalid --segment %v: want 500ms to 20s", c.segment)
	}
	return nil
}

func (c *transcodeConfig) run(ctx context.Context, e *env) error {
	log := c.logger(e.stderr)
	transcodingProcess(log, c.hugePages)
	tc, err := transcoder.New(transcoder.Config{
		Ladder: c.rungs, SegmentDuration: c.segment, Preset: c.preset, MaxDuration: c.maxDuration, Logger: log,
	})
	if err != nil {
		return usagef("%v", err)
	}
	if c.worker {
		return c.runWorker(ctx, e, log, tc)
	}
	// DIR becomes a plain HLS tree that any web server or player reads as it is written. The
	// packager writes master.m3u8 last (with --progressive, as soon as every rendition has a
	// segment), so an older tree's master must not outlive the start of this one.
	out, err := storage.NewFSWith(c.out, storage.FSOptions{Plain: true, NoSync: true})
	if err != nil {
		return err
	}
	if err := out.Delete(ctx, layout.Master); err != nil {
		return err
	}
	start := time.Now()
	var playable time.Duration
	bar := progress.New(e.stderr, "transcode", 100, progress.Percent)
	res, err := pipeline.Transcode(ctx, tc, transcoder.Input{Path: c.in}, pipeline.Output{
		Store: out, Progressive: c.progressive, Logger: log, AfterSample: e.afterSample,
		OnPlayable: func() { playable = time.Since(start) },
	}, bar.Set)
	if err != nil {
		var rej *transcoder.RejectError
		if errors.As(err, &rej) {
			return fmt.Errorf("%s refused: %w", c.in, err)
		}
		return err
	}
	bar.Done(100)
	took := time.Since(start)
	if playable == 0 { // not published before the end (or not progressively)
		playable = took
	}
	pkg := res.Package
	fmt.Fprintf(e.stdout, "%s: %s, %s -> %s\n", c.in, res.Transcode.Info, pkg.Duration.Round(time.Millisecond), filepath.Join(c.out, pkg.MasterKey))
	for _, r := range pkg.Renditions {
		fmt.Fprintf(e.stdout, "  %-6s %-24s %4d segments  peak %6.0f kb/s  avg %6.0f kb/s\n",
			r.Name, r.Codecs, len(r.Segments), float64(r.PeakBitrate)/1000, float64(r.AverageBitrate)/1000)
	}
	fmt.Fprintf(e.stdout, "playable after %s, complete after %s (%.2fx realtime)\n", playable.Round(time.Millisecond),
		took.Round(time.Millisecond), pkg.Duration.Seconds()/took.Seconds())
	return nil
}

// runWorker runs transcode jobs until ctx is done, with a listener for metrics and health.
func (c *transcodeConfig) runWorker(ctx context.Context, e *env, log *slog.Logger, tc *transcoder.Transcoder) error {
	_, logFiles := openFiles()
	logFiles(log)
	store, d, err := openBackends(ctx, c.store, c.dbDSN, log)
	if err != nil {
		return err
	}
	defer d.Close()
	m := newMetrics()
	tp, flush, err := c.tracingFlags.provider(ctx, e, "reelay-transcode", log)
	if err != nil {
		return err
	}
	defer flush()
	pipe, err := pipeline.New(pipeline.Config{
		Workers: c.workers, Name: c.name, Lease: c.lease, ScratchDir: c.scratch,
		TimeLimitBase: c.limit.base, TimeLimitPerSecond: c.limit.perSecond, Registerer: m.Registry(), Logger: log,
		TracerProvider: tp,
	}, d, store, tc)
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{
		Name: "transcode", Addr: c.addr, Ready: readiness(store.Ping, d.Ping), Metrics: m, MetricsToken: c.metricsToken, Logger: log,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "transcode %s\n", srv.URL())
	return runAll(ctx, srv.Serve, pipe.Run)
}

// timeLimit is the time limit of a transcode attempt (pipeline.Config.TimeLimitBase and
// TimeLimitPerSecond), which reelay up and reelay transcode --worker share.
type timeLimit struct{ base, perSecond time.Duration }

func (l *timeLimit) register(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&l.base, "time-limit", pipeline.DefaultTimeLimitBase, prefix+"time an attempt at a video may take, plus --time-limit-per-second for each second of it; longer fails it with time_limit")
	fs.DurationVar(&l.perSecond, "time-limit-per-second", pipeline.DefaultTimeLimitPerSecond, prefix+"time an attempt at a video may take per second of it, on top of --time-limit")
}

func (l *timeLimit) validate() error {
	if l.base < time.Second || l.perSecond < 0 {
		return usagef("invalid --time-limit %v or --time-limit-per-second %v: want at least 1s and not negative", l.base, l.perSecond)
	}
	return nil
}
