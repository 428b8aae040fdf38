package main

import (
	"context"
	"flag"
	"fmt"

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
	o, release, err := c.open(ctx, e)
	defer release()
	if err != nil {
		return err
	}
	// What goes live, on this node or another, is at the top of the followers' Following feeds.
	feedSvc, rec, runs, err := c.feedFlags.service(ctx, o.d, o.store, c.publicURL, c.adminToken, o.liveDir, o.m, o.log)
	if err != nil {
		return err
	}
	apiCfg := api.Config{
		Addr: c.addr, Tokens: feedSvc.Tokens(), AdminToken: c.adminToken, Feed: feedSvc.Handler(), Uploads: o.uploads.Handler(),
		Dashboard: c.feedFlags.dashboard(o.d, c.adminToken, o.log),
		Pages:     web.Handler(), Ready: readiness(o.store.Ping, o.d.Ping, rec.Ready), Metrics: o.m, Logger: o.log, Limits: o.limits,
		MetricsToken: c.metricsTokenOr(c.adminToken), TracerProvider: o.tp,
	}
	o.live.mount(&apiCfg)
	apiSrv, err := api.New(apiCfg)
	if err != nil {
		return err
	}
	o.logLimits(o.log)
	fmt.Fprintf(e.stdout, "api %s\n", apiSrv.URL())
	return runAll(ctx, append(append(runs, o.live.runs()...), apiSrv.Run, feedSvc.Run, o.uploads.Run)...)
}
