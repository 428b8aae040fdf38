package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/reelay/reelay/api"
	"github.com/reelay/reelay/web"
)

// apiConfig is `reelay api`: the whole API of the feed and the uploads (every /v1 route) in
// one process, stateless apart from the uploads it stages, so that any number of them share
// a database and a store behind one balancer (see --node-url).
type apiConfig struct {
	uploadNode
	feedFlags
}

func setupAPI(fs *flag.FlagSet) runner {
	c := &apiConfig{}
	c.uploadNode.register(fs, "API listener: every /v1 route (accounts, uploads, video status, feeds, social), the swipe player and the dashboard",
		"metadata database: a postgres:// URL, or a SQLite file path for one node (required)")
	c.feedFlags.register(fs)
	return c
}

func (c *apiConfig) validate() error {
	if err := c.uploadNode.validate(); err != nil {
		return err
	}
	return c.feedFlags.validate(c.adminToken)
}

func (c *apiConfig) run(ctx context.Context, e *env) error {
	log := c.logger(e.stderr)
	logFFmpegTo(log) // the probe of every finished upload
	limits, logLimits := c.serving(1)
	store, d, err := openBackends(ctx, c.store, c.dbDSN, log)
	if err != nil {
		return err
	}
	defer d.Close()
	m := newMetrics()
	tp, flush, err := c.tracingFlags.provider(ctx, e, "reelay-api", log)
	if err != nil {
		return err
	}
	defer flush()
	uploads, pipe, err := c.uploadFlags.handler(d, store, c.publicURL, m.Registry(), tp, log)
	if err != nil {
		return err
	}
	lv, err := c.live.start(pipe, store, filepath.Join(c.uploadDir, "live"), m.Registry(), log)
	if err != nil {
		return err
	}
	// What goes live is at the top of the followers' Following feeds.
	feedSvc, rec, runs, err := c.feedFlags.service(ctx, d, store, c.publicURL, c.adminToken, lv.following(), m, log)
	if err != nil {
		return err
	}
	apiCfg := api.Config{
		Addr: c.addr, Tokens: feedSvc.Tokens(), AdminToken: c.adminToken, Feed: feedSvc.Handler(), Uploads: uploads.Handler(),
		Dashboard: c.feedFlags.dashboard(d, c.adminToken, log),
		Pages:     web.Handler(), Ready: readiness(store.Ping, d.Ping, rec.Ready), Metrics: m, Logger: log, Limits: limits,
		MetricsToken: c.metricsTokenOr(c.adminToken), TracerProvider: tp,
	}
	lv.mount(&apiCfg)
	apiSrv, err := api.New(apiCfg)
	if err != nil {
		return err
	}
	logLimits(log)
	fmt.Fprintf(e.stdout, "api %s\n", apiSrv.URL())
	return runAll(ctx, append(append(runs, lv.runs()...), apiSrv.Run, feedSvc.Run, uploads.Run)...)
}
