package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/reelay/reelay/api"
	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/ingest"
	"github.com/reelay/reelay/internal/listener"
	"github.com/reelay/reelay/internal/server"
	"github.com/reelay/reelay/live"
	"github.com/reelay/reelay/pipeline"
	"github.com/reelay/reelay/storage"
	"github.com/reelay/reelay/transcoder"
)

// ingestConfig is `reelay ingest`: the tus upload half of the API alone (/v1/uploads/). It
// accepts each finished upload (a quick probe), creates its video and hands its source to the
// store; transcoding runs in `reelay transcode --worker` processes, and the video status API
// in `reelay feed`, on the same database and store.
type ingestConfig struct {
	uploadNode
}

// uploadNode is what every process that takes uploads as an API node has: reelay ingest, and
// reelay api beside the feed. Its flags and their checks are set up by register and validate.
type uploadNode struct {
	common
	listening
	addr       string
	dbDSN      string
	store      string
	adminToken string
	publicURL  string
	tracingFlags
	uploadFlags
	live liveIngest
}

// register adds the node's flags; addr and db are the help of --addr and --db.
func (n *uploadNode) register(fs *flag.FlagSet, addr, db string) {
	n.common.register(fs)
	n.listening.register(fs)
	fs.StringVar(&n.addr, "addr", api.DefaultAddr, addr)
	fs.StringVar(&n.dbDSN, "db", "", db)
	fs.StringVar(&n.store, "store", "", "object store URL: "+storeURLHelp+" (required)")
	fs.StringVar(&n.adminToken, "admin-token", "", "operator token for admin endpoints (at least 16 characters); empty disables them")
	fs.StringVar(&n.publicURL, "public-url", "", publicURLUsage)
	n.tracingFlags.register(fs)
	n.uploadFlags.register(fs)
	n.live.register(fs)
}

func (n *uploadNode) validate() error {
	if err := n.common.validate(); err != nil {
		return err
	}
	if err := n.listening.validate(); err != nil {
		return err
	}
	if err := n.tracingFlags.validate(); err != nil {
		return err
	}
	switch {
	case n.dbDSN == "":
		return usagef("--db is required")
	case n.store == "":
		return usagef("--store is required")
	}
	if err := checkAddr("addr", n.addr); err != nil {
		return err
	}
	if err := n.uploadFlags.validate(); err != nil {
		return err
	}
	if err := checkURL("public-url", n.publicURL); err != nil {
		return err
	}
	if err := n.live.validate(); err != nil {
		return err
	}
	return checkAdminToken(n.adminToken)
}

// uploadFlags are the flags of the upload routes, which reelay ingest and reelay api share.
type uploadFlags struct {
	uploadDir      string
	nodeURL        string
	maxUpload      int64
	quota          uploadQuota
	trustedProxies prefixList
}

func (u *uploadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&u.uploadDir, "upload-dir", "./uploads", "directory staging this node's uploads until they are complete")
	fs.StringVar(&u.nodeURL, "node-url", "", "URL at which the other API nodes reach this one (e.g. http://10.0.0.1:8080), recorded with each upload staged here: "+
		"a request for it that reaches another node is passed here, so a balancer may send an upload's chunks to any node; required with more than one node, empty on one")
	sizeVar(fs, &u.maxUpload, "max-upload", ingest.DefaultMaxSize, "largest upload accepted")
	u.quota.register(fs)
	fs.Var(&u.trustedProxies, "trusted-proxies", "comma-separated addresses or prefixes of reverse proxies whose X-Forwarded-* headers are believed when there is no --public-url")
}

func (u *uploadFlags) validate() error {
	switch {
	case u.uploadDir == "":
		return usagef("invalid --upload-dir: it must not be empty")
	case u.maxUpload <= 0:
		return usagef("invalid --max-upload: it must be positive")
	}
	if err := checkURL("node-url", u.nodeURL); err != nil {
		return err
	}
	return u.quota.validate(u.maxUpload)
}

// handler makes the tus handler on d and store, with the pipeline that accepts finished
// uploads (a probe) and hands them to the transcode workers, which it returns too (live
// recordings go to it).
func (u *uploadFlags) handler(d *db.DB, store storage.Store, publicURL string, reg prometheus.Registerer, tp trace.TracerProvider, log *slog.Logger) (*ingest.Handler, *pipeline.Pipeline, error) {
	tc, err := transcoder.New(transcoder.Config{Logger: log})
	if err != nil {
		return nil, nil, err
	}
	pipe, err := pipeline.New(pipeline.Config{Registerer: reg, Logger: log, TracerProvider: tp}, d, store, tc)
	if err != nil {
		return nil, nil, err
	}
	h, err := ingest.New(ingest.Config{
		Dir: u.uploadDir, MaxSize: u.maxUpload, Quota: u.quota.config(), PublicURL: publicURL, TrustedProxies: u.trustedProxies,
		NodeURL: u.nodeURL, Registerer: reg, Logger: log,
	}, d, pipe)
	return h, pipe, err
}

// uploadQuota is the per-creator quota of uploads (ingest.Quota), which reelay up and
// reelay ingest share.
type uploadQuota struct {
	unfinished, perDay int
	bytes              int64
}

func (q *uploadQuota) register(fs *flag.FlagSet) {
	fs.IntVar(&q.unfinished, "upload-quota-unfinished", ingest.DefaultQuotaUnfinished, "unfinished uploads a creator may have at once; -1 for no limit")
	sizeVar(fs, &q.bytes, "upload-quota-bytes", 0, "declared bytes of a creator's unfinished uploads, together; 0 is 4 × --max-upload")
	fs.IntVar(&q.perDay, "upload-quota-daily", ingest.DefaultQuotaPerDay, "uploads a creator may create in 24 hours; -1 for no limit")
}

func (q *uploadQuota) validate(maxUpload int64) error {
	switch {
	case q.unfinished == 0 || q.unfinished < -1:
		return usagef("invalid --upload-quota-unfinished %d: want at least 1, or -1 for no limit", q.unfinished)
	case q.perDay == 0 || q.perDay < -1:
		return usagef("invalid --upload-quota-daily %d: want at least 1, or -1 for no limit", q.perDay)
	case q.bytes != 0 && q.bytes < maxUpload:
		return usagef("invalid --upload-quota-bytes: it is below --max-upload, so that no upload of the largest size could start")
	}
	return nil
}

func (q *uploadQuota) config() ingest.Quota {
	return ingest.Quota{Unfinished: q.unfinished, Bytes: q.bytes, PerDay: q.perDay}
}

// publicURLUsage is the help of --public-url, which reelay up and reelay ingest share.
const publicURLUsage = "base URL clients reach the API at (e.g. https://api.example.com), for the Location of each upload " +
	"and the avatars' URLs; empty: the host a trusted proxy forwards, else a relative Location, and avatar URLs are paths"

func setupIngest(fs *flag.FlagSet) runner {
	c := &ingestConfig{}
	c.register(fs, "API listener: /v1/uploads/ only (reelay feed serves the rest of /v1, reelay api both)",
		"metadata database: a postgres:// URL or a SQLite file path (required)")
	return c
}

// openedNode is what an upload node runs on, as uploadNode.open sets it up.
type openedNode struct {
	log       *slog.Logger
	limits    listener.Limits
	logLimits func(*slog.Logger)
	store     storage.Store
	d         *db.DB
	m         *server.Metrics
	tp        trace.TracerProvider
	uploads   *ingest.Handler
	live      liveTier
	liveDir   *live.Directory // the live streams of every node, which the live tier writes
}

// open sets up what the node runs on: the logger, the store and the database, the metrics,
// the tracer, the upload routes with their pipeline, and live if asked. release frees what
// it holds (the tracer's last spans, then the database); it is set also on an error.
func (n *uploadNode) open(ctx context.Context, e *env) (o openedNode, release func(), err error) {
	var closers []func()
	release = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	o.log = n.logger(e.stderr)
	logFFmpegTo(o.log) // the probe of every finished upload
	o.limits, o.logLimits = n.serving(1)
	if o.store, o.d, err = openBackends(ctx, n.store, n.dbDSN, o.log); err != nil {
		return o, release, err
	}
	closers = append(closers, func() { o.d.Close() })
	o.m = newMetrics()
	tp, flush, err := n.tracingFlags.provider(ctx, e, "reelay-api", o.log)
	if err != nil {
		return o, release, err
	}
	o.tp, closers = tp, append(closers, flush)
	uploads, pipe, err := n.uploadFlags.handler(o.d, o.store, n.publicURL, o.m.Registry(), tp, o.log)
	if err != nil {
		return o, release, err
	}
	o.uploads = uploads
	o.liveDir = liveDirectory(o.d)
	o.live, err = n.live.start(pipe, o.store, o.liveDir, filepath.Join(n.uploadDir, "live"), o.m.Registry(), o.log)
	return o, release, err
}

func (c *ingestConfig) run(ctx context.Context, e *env) error {
	o, release, err := c.open(ctx, e)
	defer release()
	if err != nil {
		return err
	}
	apiCfg := api.Config{
		Addr: c.addr, Tokens: feed.NewAccounts(o.d), AdminToken: c.adminToken, Uploads: o.uploads.Handler(),
		Ready: readiness(o.store.Ping, o.d.Ping), Metrics: o.m, Logger: o.log, Limits: o.limits,
		MetricsToken: c.metricsTokenOr(c.adminToken), TracerProvider: o.tp,
	}
	o.live.mount(&apiCfg)
	tiers := append(o.live.runs(), o.uploads.Run)
	apiSrv, err := api.New(apiCfg)
	if err != nil {
		return err
	}
	o.logLimits(o.log)
	fmt.Fprintf(e.stdout, "api %s\n", apiSrv.URL())
	return runAll(ctx, append(tiers, apiSrv.Run)...)
}
