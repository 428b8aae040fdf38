package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/reelay/reelay/api"
	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/server"
	"github.com/reelay/reelay/live"
	"github.com/reelay/reelay/recommender"
	"github.com/reelay/reelay/storage"
	"github.com/reelay/reelay/web"
)

// feedConfig is `reelay feed`: the feed/social half of the API alone (every /v1 route but
// uploads), against a shared database.
type feedConfig struct {
	common
	listening
	addr       string
	dbDSN      string
	adminToken string
	publicURL  string
	store      string
	tracingFlags
	feedFlags
}

// feedFlags are the flags of the feed's routes, which reelay feed and reelay api share.
type feedFlags struct {
	playbackURL string
	purge       purgeURLs
	prefetch    prefetching
	signing     signing
	social      social
	feeds       feeds
}

func (f *feedFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.playbackURL, "playback-url", "", "base URL players fetch /v/{id}/master.m3u8 from: the edges' balancer, or one edge (required)")
	fs.Var(&f.purge, "purge-url", "base URLs of edges, comma separated, one per edge cluster, that a deleted video or one made private is purged from (DELETE /_edge/v/{id} with --admin-token); empty purges nothing")
	f.prefetch.register(fs, true)
	f.signing.register(fs, "hex HMAC key of private videos' playback URLs, the edges' --signing-key; empty leaves them unsigned, and edges refuse them")
	f.social.register(fs)
	f.feeds.register(fs)
}

func (f *feedFlags) validate(adminToken string) error {
	if f.playbackURL == "" {
		return usagef("--playback-url is required")
	}
	if err := checkURL("playback-url", f.playbackURL); err != nil {
		return err
	}
	if err := f.social.validate(); err != nil {
		return err
	}
	if err := f.signing.validate(); err != nil {
		return err
	}
	if err := f.feeds.validate(); err != nil {
		return err
	}
	if err := f.prefetch.validate(adminToken); err != nil {
		return err
	}
	return f.purge.validate(adminToken)
}

// service makes the feed service (ranked, with prefetch hints if asked) on d and store (nil:
// none), with the live streams of liveDir, and what must run beside it.
func (f *feedFlags) service(ctx context.Context, d *db.DB, store storage.Store, publicURL, adminToken string, liveDir *live.Directory, m *server.Metrics, log *slog.Logger) (*feed.Service, *recommender.Ranker, []func(context.Context) error, error) {
	sign := f.signing.signer()
	if sign == nil {
		log.Warn("no --signing-key: private videos get unsigned playback URLs, which edges refuse")
	}
	pf, err := f.prefetch.prefetcher(f.prefetch.edges, adminToken, m.Registry(), log)
	if err != nil {
		return nil, nil, nil, err
	}
	return rankedFeed(ctx, f.feeds.apply(f.social.config(feed.Config{
		PlaybackURL: f.playbackURL, PublicURL: strings.TrimSuffix(publicURL, "/"), SignPlayback: sign, Store: store, Purge: f.purge.purger(adminToken),
		LiveNow: liveNow(liveDir), Registerer: m.Registry(), Logger: log,
	})), d, pf)
}

func setupFeed(fs *flag.FlagSet) runner {
	c := &feedConfig{}
	c.common.register(fs)
	c.listening.register(fs)
	fs.StringVar(&c.addr, "addr", api.DefaultAddr, "API listener: every /v1 route but /v1/uploads/ (accounts, video status, feeds, social)")
	fs.StringVar(&c.dbDSN, "db", "", "metadata database: a postgres:// URL or a SQLite file path (required)")
	fs.StringVar(&c.adminToken, "admin-token", "", "operator token for admin endpoints (at least 16 characters); empty disables them")
	fs.StringVar(&c.publicURL, "public-url", "", "base URL clients reach the API at (e.g. https://api.example.com), which avatar URLs start with; empty: they are paths")
	fs.StringVar(&c.store, "store", "", "object store URL ("+storeURLHelp+") of the pipeline's videos, for avatars and for deleting videos' objects; empty: avatar uploads are refused and deleted videos' objects stay")
	c.tracingFlags.register(fs)
	c.feedFlags.register(fs)
	return c
}

// dashboard is the API's operator dashboard data (see dashboard) over the edges that the feed
// knows: those it purges and those it sends prefetch hints to.
func (f *feedFlags) dashboard(d *db.DB, adminToken string, log *slog.Logger) http.Handler {
	return dashboard(d, append(slices.Clone(f.purge), f.prefetch.edges...), adminToken, f.purge.purger(adminToken), log)
}

func (c *feedConfig) validate() error {
	if err := c.common.validate(); err != nil {
		return err
	}
	if err := c.listening.validate(); err != nil {
		return err
	}
	if err := c.tracingFlags.validate(); err != nil {
		return err
	}
	if c.dbDSN == "" {
		return usagef("--db is required")
	}
	if err := c.feedFlags.validate(c.adminToken); err != nil {
		return err
	}
	if err := checkURL("public-url", c.publicURL); err != nil {
		return err
	}
	if err := checkAddr("addr", c.addr); err != nil {
		return err
	}
	return checkAdminToken(c.adminToken)
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
	tp, flush, err := c.tracingFlags.provider(ctx, e, "reelay-api", log)
	if err != nil {
		return err
	}
	defer flush()
	var store storage.Store
	if c.store != "" {
		if store, err = openStore(ctx, c.store); err != nil {
			return err
		}
	} else {
		log.Warn("no --store: avatar uploads are refused, and deleted videos' objects stay in the store")
	}
	// The streams live on the live nodes (reelay ingest or api --live-playback-url) of d.
	feedSvc, rec, runs, err := c.feedFlags.service(ctx, d, store, c.publicURL, c.adminToken, liveDirectory(d), m, log)
	if err != nil {
		return err
	}
	apiSrv, err := api.New(api.Config{
		Addr: c.addr, Tokens: feedSvc.Tokens(), AdminToken: c.adminToken, Feed: feedSvc.Handler(), Pages: web.Handler(),
		Dashboard: c.feedFlags.dashboard(d, c.adminToken, log),
		Ready:     readiness(d.Ping, rec.Ready), Metrics: m, Logger: log, Limits: limits, MetricsToken: c.metricsTokenOr(c.adminToken),
		TracerProvider: tp,
	})
	if err != nil {
		return err
	}
	logLimits(log)
	fmt.Fprintf(e.stdout, "api %s\n", apiSrv.URL())
	return runAll(ctx, append(runs, apiSrv.Run, feedSvc.Run)...)
}
