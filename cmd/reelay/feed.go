package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/server"
)

// feedConfig is `reelay feed`: the feed/social API alone, against a shared database.
type feedConfig struct {
	common
	addr       string
	dbDSN      string
	adminToken string
}

func setupFeed(fs *flag.FlagSet) runner {
	c := &feedConfig{}
	c.common.register(fs)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "API listener")
	fs.StringVar(&c.dbDSN, "db", "", "metadata database: a postgres:// URL or a SQLite file path (required)")
	fs.StringVar(&c.adminToken, "admin-token", "", "operator token for admin endpoints (at least 16 characters); empty disables them")
	return c
}

func (c *feedConfig) validate() error {
	if err := c.common.validate(); err != nil {
		return err
	}
	if c.dbDSN == "" {
		return usagef("--db is required")
	}
	if err := checkAddr("addr", c.addr); err != nil {
		return err
	}
	return checkAdminToken(c.adminToken)
}

func (c *feedConfig) run(ctx context.Context, e *env) error {
	log := c.logger(e.stderr)
	d, err := openDB(ctx, c.dbDSN, log)
	if err != nil {
		return err
	}
	defer d.Close()
	m := newMetrics()
	feedSvc, err := feed.New(feed.Config{Registerer: m.Registry(), Logger: log}, d)
	if err != nil {
		return err
	}
	api, err := server.New(server.Config{
		Name: "api", Addr: c.addr, Ready: d.Ping, Metrics: m, Logger: log,
		Handler: apiHandler(auth.NewAuthenticator(d, c.adminToken, log), apiRoutes{feed: feedSvc.Handler()}),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "api %s\n", api.URL())
	return runAll(ctx, []*server.Server{api}, feedSvc.Run)
}
