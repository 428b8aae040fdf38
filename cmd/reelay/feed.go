package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/reelay/reelay/api"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/storage"
	"github.com/reelay/reelay/web"
)

// feedConfig is `reelay feed`: the feed/social API alone, against a shared database.
type feedConfig struct {
	common
	listening
	addr        string
	dbDSN       string
	adminToken  string
	playbackURL string
	publicURL   string
	store       string
	purge       purgeURLs
	prefetch    prefetching
	signing     signing
	social      social
	feeds       feeds
}

func setupFeed(fs *flag.FlagSet) runner {
	c := &feedConfig{}
	c.common.register(fs)
	c.listening.register(fs)
	fs.StringVar(&c.addr, "addr", api.DefaultAddr, "API listener: accounts and /v1/videos/{id}")
	fs.StringVar(&c.dbDSN, "db", "", "metadata database: a postgres:// URL or a SQLite file path (required)")
	fs.StringVar(&c.adminToken, "admin-token", "", "operator token for admin endpoints (at least 16 characters); empty disables them")
	fs.StringVar(&c.playbackURL, "playback-url", "", "base URL players fetch /v/{id}/master.m3u8 from: the edge or origin (required)")
	fs.StringVar(&c.publicURL, "public-url", "", "base URL clients reach the API at (e.g. https://api.example.com), which avatar URLs start with; empty: they are paths")
	fs.StringVar(&c.store, "store", "", "object store URL ("+storeURLHelp+") of the pipeline's videos, for avatars and for deleting videos' objects; empty: avatar uploads are refused and deleted videos' objects stay")
	fs.Var(&c.purge, "purge-url", "base URLs of edges, comma separated, one per edge cluster, that a deleted video or one made private is purged from (DELETE /_edge/v/{id} with --admin-token); empty purges nothing")
	c.prefetch.register(fs, true)
	c.signing.register(fs, "hex HMAC key of private videos' playback URLs, the edges' --signing-key; empty leaves them unsigned, and edges refuse them")
	c.social.register(fs)
	c.feeds.register(fs)
	return c
}

func (c *feedConfig) validate() error {
	if err := c.common.validate(); err != nil {
		return err
	}
	if err := c.listening.validate(); err != nil {
		return err
	}
	switch {
	case c.dbDSN == "":
		return usagef("--db is required")
	case c.playbackURL == "":
		return usagef("--playback-url is required")
	}
	if err := checkURL("playback-url", c.playbackURL); err != nil {
		return err
	}
	if err := checkURL("public-url", c.publicURL); err != nil {
		return err
	}
	if err := checkAddr("addr", c.addr); err != nil {
		return err
	}
	if err := c.social.validate(); err != nil {
		return err
	}
	if err := c.signing.validate(); err != nil {
		return err
	}
	if err := c.feeds.validate(); err != nil {
		return err
	}
	if err := checkAdminToken(c.adminToken); err != nil {
		return err
	}
	if err := c.prefetch.validate(c.adminToken); err != nil {
		return err
	}
	return c.purge.validate(c.adminToken)
}

func (c *feedConfig) run(ctx context.Context, e *env) error {
	log := c.logger(e.stderr)
	limits, logLimits := c.serving(1)
	d, err := openDB(ctx, c.dbDSN, log)
	if err != nil {
		return err
	}
	defer d.Close()
	m := newMetrics()
	sign := c.signing.signer()
	if sign == nil {
		log.Warn("no --signing-key: private videos get unsigned playback URLs, which edges refuse")
	}
	var store storage.Store
	if c.store != "" {
		if store, err = openStore(ctx, c.store); err != nil {
			return err
		}
	} else {
		log.Warn("no --store: avatar uploads are refused, and deleted videos' objects stay in the store")
	}
	pf, err := c.prefetch.prefetcher(c.prefetch.edges, c.adminToken, m.Registry(), log)
	if err != nil {
		return err
	}
	feedSvc, rec, runs, err := rankedFeed(ctx, c.feeds.apply(c.social.config(feed.Config{
		PlaybackURL: c.playbackURL, PublicURL: strings.TrimSuffix(c.publicURL, "/"), SignPlayback: sign, Store: store, Purge: c.purge.purger(c.adminToken),
		Registerer: m.Registry(), Logger: log,
	})), d, pf)
	if err != nil {
		return err
	}
	apiSrv, err := api.New(api.Config{
		Addr: c.addr, Tokens: feedSvc.Tokens(), AdminToken: c.adminToken, Feed: feedSvc.Handler(), Pages: web.Handler(),
		Dashboard: dashboard(d, append(slices.Clone(c.purge), c.prefetch.edges...), c.adminToken, c.purge.purger(c.adminToken), log),
		Ready:     readiness(d.Ping, rec.Ready), Metrics: m, Logger: log, Limits: limits, MetricsToken: c.metricsTokenOr(c.adminToken),
	})
	if err != nil {
		return err
	}
	logLimits(log)
	fmt.Fprintf(e.stdout, "api %s\n", apiSrv.URL())
	return runAll(ctx, append(runs, apiSrv.Run, feedSvc.Run)...)
}
