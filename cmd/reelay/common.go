package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"

	"golang.org/x/sync/errgroup"

	"github.com/reelay/reelay/api"
	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/logging"
	"github.com/reelay/reelay/internal/server"
	"github.com/reelay/reelay/storage"
)

// common holds the flags every long-running command has.
type common struct {
	config    string
	logFormat string
	logLevel  string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "YAML file of settings, keyed by flag name")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

func (c *common) validate() error {
	if c.logFormat != "text" && c.logFormat != "json" {
		return usagef("invalid --log-format %q: want text or json", c.logFormat)
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.logLevel)); err != nil {
		return usagef("invalid --log-level %q: want debug, info, warn or error", c.logLevel)
	}
	return nil
}

func (c *common) logger(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.logLevel))
	opts := &slog.HandlerOptions{Level: level}
	if c.logFormat == "json" {
		return slog.New(logging.KeyOnce(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(logging.KeyOnce(slog.NewTextHandler(w, opts)))
}

// checkAddr validates a listen address flag.
func checkAddr(flagName, addr string) error {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return usagef("invalid --%s %q: want host:port", flagName, addr)
	}
	return nil
}

// checkAdminToken refuses an admin token too short to resist guessing.
func checkAdminToken(tok string) error {
	if tok != "" && len(tok) < api.MinAdminToken {
		return usagef("invalid --admin-token: it must be at least %d characters", api.MinAdminToken)
	}
	return nil
}

// readiness is ready when every check answers.
func readiness(checks ...func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		var errs []error
		for _, c := range checks {
			if err := c(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
}

// runAll runs every tier until ctx is done or one of them fails, then stops them all: each
// Run stops gracefully once its context ends.
func runAll(ctx context.Context, runs ...func(context.Context) error) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, run := range runs {
		g.Go(func() error { return run(ctx) })
	}
	return g.Wait()
}

// openDB opens the metadata database and says which one in errors.
func openDB(ctx context.Context, dsn string, log *slog.Logger) (*db.DB, error) {
	d, err := db.Open(ctx, dsn, db.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	return d, nil
}

// openBackends opens the object store and the metadata database that a tier works on. The
// caller closes the database.
func openBackends(ctx context.Context, storeURL, dsn string, log *slog.Logger) (storage.Store, *db.DB, error) {
	store, err := openStore(ctx, storeURL)
	if err != nil {
		return nil, nil, err
	}
	d, err := openDB(ctx, dsn, log)
	if err != nil {
		return nil, nil, err
	}
	log.Info("opened", "store", storeURL, "db", redact(dsn))
	return store, d, nil
}

// openStore opens the object store named by a store URL.
func openStore(ctx context.Context, url string) (storage.Store, error) {
	s, err := storage.Open(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("object store: %w", err)
	}
	return s, nil
}

func newMetrics() *server.Metrics { return server.NewMetrics(prometheus.NewRegistry()) }

// redact hides the password of a database URL for logs; a SQLite path has none.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dsn
}

// checkURL validates an optional http(s) base URL flag: a host, perhaps a path, nothing else.
func checkURL(flagName, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("invalid --%s %q: want an http:// or https:// URL", flagName, raw)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return usagef("invalid --%s %q: want a base URL without user, query or fragment", flagName, raw)
	}
	return nil
}
