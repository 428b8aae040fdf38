package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sync/errgroup"
)

// upConfig is `reelay up`: every tier in one process on embedded defaults.
type upConfig struct {
	common
	data       string
	dbDSN      string
	store      string
	apiAddr    string
	edgeAddr   string
	originAddr string
	gossipAddr string
	adminToken string
}

func setupUp(fs *flag.FlagSet) runner {
	c := &upConfig{}
	c.common.register(fs)
	fs.StringVar(&c.data, "data", "./data", "directory holding the embedded object store and SQLite database")
	fs.StringVar(&c.dbDSN, "db", "", "metadata database: a postgres:// URL, or empty for SQLite at DATA/reelay.db")
	fs.StringVar(&c.store, "store", "", "object store URL (file:///path or s3://bucket/prefix?endpoint=host:port), or empty for DATA/objects")
	fs.StringVar(&c.apiAddr, "api-addr", "127.0.0.1:8080", "API listener: feed/social, ingest and dashboard")
	fs.StringVar(&c.edgeAddr, "edge-addr", "127.0.0.1:8081", "edge cache listener (started once the edge tier is built)")
	fs.StringVar(&c.originAddr, "origin-addr", "127.0.0.1:8082", "origin listener (started once the origin tier is built)")
	fs.StringVar(&c.gossipAddr, "gossip-addr", "127.0.0.1:7946", "edge cluster gossip address (used once the edge tier is built)")
	fs.StringVar(&c.adminToken, "admin-token", "", "operator token for admin endpoints (at least 16 characters); empty disables them")
	return c
}

func (c *upConfig) validate() error {
	if err := c.common.validate(); err != nil {
		return err
	}
	if c.data == "" {
		return usagef("invalid --data: it must not be empty")
	}
	for name, addr := range map[string]string{"api-addr": c.apiAddr, "edge-addr": c.edgeAddr, "origin-addr": c.originAddr, "gossip-addr": c.gossipAddr} {
		if err := checkAddr(name, addr); err != nil {
			return err
		}
	}
	return checkAdminToken(c.adminToken)
}

func (c *upConfig) run(ctx context.Context, e *env) error {
	log := c.logger(e.stderr)
	if err := os.MkdirAll(c.data, 0o755); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	storeURL, dsn := c.store, c.dbDSN
	if storeURL == "" {
		storeURL = filepath.Join(c.data, "objects")
	}
	if dsn == "" {
		dsn = filepath.Join(c.data, "reelay.db")
	}
	store, err := openStore(ctx, storeURL)
	if err != nil {
		return err
	}
	d, err := openDB(ctx, dsn, log)
	if err != nil {
		return err
	}
	defer d.Close()
	log.Info("opened", "store", storeURL, "db", redact(dsn))

	m := newMetrics()
	api, feedSvc, err := apiListener(c.apiAddr, c.adminToken, d, readiness(store.Ping, d.Ping), m, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "api %s\n", api.URL())

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return api.Serve(ctx) })
	g.Go(func() error { return feedSvc.Run(ctx) })
	err = g.Wait()
	log.Info("stopped")
	return err
}
