package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/reelay/reelay/api"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/ingest"
	"github.com/reelay/reelay/live"
	"github.com/reelay/reelay/pipeline"
	"github.com/reelay/reelay/transcoder"
)

// ingestConfig is `reelay ingest`: the tus upload API. It accepts each finished upload (a
// quick probe), creates its video and hands its source to the store; transcoding runs in
// `reelay transcode --worker` processes, and the video status API in `reelay feed`, on the
// same database and store.
type ingestConfig struct {
	common
	listening
	addr           string
	dbDSN          string
	store          string
	uploadDir      string
	adminToken     string
	maxUpload      int64
	quota          uploadQuota
	publicURL      string
	trustedProxies prefixList
	live           liveFlags
	livePlayback   string
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
	c.common.register(fs)
	c.listening.register(fs)
	fs.StringVar(&c.addr, "addr", api.DefaultAddr, "API listener: /v1/uploads/")
	fs.StringVar(&c.dbDSN, "db", "", "metadata database: a postgres:// URL or a SQLite file path (required)")
	fs.StringVar(&c.store, "store", "", "object store URL: "+storeURLHelp+" (required)")
	fs.StringVar(&c.uploadDir, "upload-dir", "./uploads", "directory staging uploads until they are complete; route a client's requests for one upload to the same ingest node")
	fs.StringVar(&c.adminToken, "admin-token", "", "operator token for admin endpoints (at least 16 characters); empty disables them")
	sizeVar(fs, &c.maxUpload, "max-upload", ingest.DefaultMaxSize, "largest upload accepted")
	c.quota.register(fs)
	fs.StringVar(&c.publicURL, "public-url", "", publicURLUsage)
	fs.Var(&c.trustedProxies, "trusted-proxies", "comma-separated addresses or prefixes of reverse proxies whose X-Forwarded-* headers are believed when there is no --public-url")
	fs.StringVar(&c.livePlayback, "live-playback-url", "", "base URL of the edges players fetch live streams from; set, it takes WHIP sessions at /v1/live/whip, copies their streams into the store as they are made, and serves them at /v/live/ too (reelay origin --live-url); empty: no live")
	c.live.register(fs, "")
	return c
}

func (c *ingestConfig) validate() error {
	if err := c.common.validate(); err != nil {
		return err
	}
	if err := c.listening.validate(); err != nil {
		return err
	}
	switch {
	case c.dbDSN == "":
		return usagef("--db is required")
	case c.store == "":
		return usagef("--store is required")
	case c.uploadDir == "":
		return usagef("invalid --upload-dir: it must not be empty")
	case c.maxUpload <= 0:
		return usagef("invalid --max-upload: it must be positive")
	}
	if err := checkAddr("addr", c.addr); err != nil {
		return err
	}
	if err := c.quota.validate(c.maxUpload); err != nil {
		return err
	}
	if err := checkURL("public-url", c.publicURL); err != nil {
		return err
	}
	if err := checkURL("live-playback-url", c.livePlayback); err != nil {
		return err
	}
	if err := c.live.validate(); err != nil {
		return err
	}
	return checkAdminToken(c.adminToken)
}

func (c *ingestConfig) run(ctx context.Context, e *env) error {
	log := c.logger(e.stderr)
	logFFmpegTo(log) // the probe of every finished upload
	limits, logLimits := c.serving(1)
	store, d, err := openBackends(ctx, c.store, c.dbDSN, log)
	if err != nil {
		return err
	}
	defer d.Close()
	m := newMetrics()
	tc, err := transcoder.New(transcoder.Config{Logger: log})
	if err != nil {
		return err
	}
	pipe, err := pipeline.New(pipeline.Config{Registerer: m.Registry(), Logger: log}, d, store, tc)
	if err != nil {
		return err
	}
	uploads, err := ingest.New(ingest.Config{
		Dir: c.uploadDir, MaxSize: c.maxUpload, Quota: c.quota.config(), PublicURL: c.publicURL, TrustedProxies: c.trustedProxies,
		Registerer: m.Registry(), Logger: log,
	}, d, pipe)
	if err != nil {
		return err
	}
	var liveSrv *live.Server
	apiCfg := api.Config{
		Addr: c.addr, Tokens: feed.NewAccounts(d), AdminToken: c.adminToken, Uploads: uploads.Handler(),
		Ready: readiness(store.Ping, d.Ping), Metrics: m, Logger: log, Limits: limits, MetricsToken: c.metricsTokenOr(c.adminToken),
	}
	tiers := []func(context.Context) error{uploads.Run}
	if c.livePlayback != "" {
		streams := live.NewStreams()
		cfg := c.live.config(c.livePlayback, log)
		cfg.Recordings, cfg.RecordDir = liveRecordings{pipe}, filepath.Join(c.uploadDir, "live")
		cfg.Store = store // so that any origin serves the streams (reelay origin without --live-url)
		cfg.Registerer = m.Registry()
		if liveSrv, err = live.New(cfg, streams); err != nil {
			return err
		}
		apiCfg.Live, apiCfg.LiveStreams = liveSrv.Handler(), streams
		tiers = append(tiers, liveSrv.Run)
	}
	apiSrv, err := api.New(apiCfg)
	if err != nil {
		return err
	}
	logLimits(log)
	fmt.Fprintf(e.stdout, "api %s\n", apiSrv.URL())
	return runAll(ctx, append(tiers, apiSrv.Run)...)
}
