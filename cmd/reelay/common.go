package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/auth"
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
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
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
	if tok != "" && len(tok) < 16 {
		return usagef("invalid --admin-token: it must be at least 16 characters")
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

// apiListener builds the API listener: the feed/social service (and, as they are built,
// ingest and the dashboard) behind bearer-token authentication.
func apiListener(addr, adminToken string, d *db.DB, ready func(context.Context) error, m *server.Metrics, log *slog.Logger) (*server.Server, *feed.Service, error) {
	authn := auth.NewAuthenticator(d, adminToken, log)
	fs, err := feed.New(feed.Config{Registerer: m.Registry(), Logger: log}, d, authn)
	if err != nil {
		return nil, nil, err
	}
	srv, err := server.New(server.Config{Name: "api", Addr: addr, Handler: fs.Handler(), Ready: ready, Metrics: m, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return srv, fs, nil
}

// openDB opens the metadata database and says which one in errors.
func openDB(ctx context.Context, dsn string, log *slog.Logger) (*db.DB, error) {
	d, err := db.Open(ctx, dsn, db.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	return d, nil
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

// redact hides the password of a database URL for logs.
func redact(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if at := strings.LastIndex(dsn, "@"); at > i {
			if colon := strings.Index(dsn[i+3:at], ":"); colon >= 0 {
				return dsn[:i+3+colon] + ":xxxxx" + dsn[at:]
			}
		}
	}
	return dsn
}
