// Package api is reelay's API listener: the JSON API of the feed tier and the tus uploads of
// the ingest tier (and the WHIP sessions of the live tier) on one address, behind one bearer-token middleware, with /metrics, /healthz
// and /readyz (internal/server). It routes by path; the services it mounts know nothing of
// each other, and either may be left out (`reelay feed`, `reelay ingest`).
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/reelay/reelay/ingest"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/listener"
	"github.com/reelay/reelay/internal/server"
	"github.com/reelay/reelay/live"
)

// DefaultAddr is where the API listens by default.
const DefaultAddr = "127.0.0.1:8080"

// dashboardPath is where Config.Dashboard is mounted: web.DashboardPath, which the API does
// not import.
const dashboardPath = "/v1/admin/dashboard/"

// MinAdminToken is the shortest admin token accepted: shorter ones are too easy to guess.
const MinAdminToken = 16

// Config configures an API.
type Config struct {
	// Addr is the address the API listens on. Default DefaultAddr.
	Addr string
	// Tokens resolves the bearer tokens of users (feed.Accounts). Required.
	Tokens auth.TokenUsers
	// AdminToken is the operator's bearer token, at least MinAdminToken characters. Default
	// "": there is none.
	AdminToken string
	// Feed serves the feed's routes under /v1/ (feed.Service.Handler). Default nil: not mounted.
	Feed http.Handler
	// Uploads serves tus uploads at ingest.Path (ingest.Handler.Handler). Default nil: not
	// mounted.
	Uploads http.Handler
	// Live serves WHIP sessions at live.Path and under it (live.Server.Handler). Default nil:
	// not mounted.
	Live http.Handler
	// LiveStreams serves the live streams this process packages at layout.LivePathPrefix
	// (live.Streams), for an origin on another machine to fetch (`reelay origin --live-url`).
	// Default nil: not mounted.
	LiveStreams http.Handler
	// Pages serves every path that no API route takes: the swipe player and the dashboard
	// (web.Handler), which answers 404 for what it does not know. Default nil: not mounted.
	Pages http.Handler
	// Dashboard serves the operator dashboard's data under its path (web.NewDashboard at
	// web.DashboardPath, "/v1/admin/dashboard/"). Default nil: not mounted.
	Dashboard http.Handler
	// Ready reports whether what the mounted services need answers (the database, the store),
	// for /readyz. Default nil: always ready.
	Ready func(ctx context.Context) error
	// Metrics is where request metrics are registered and what /metrics serves. Default: a
	// registry of its own.
	Metrics *server.Metrics
	// MetricsToken is the bearer token /metrics asks for (see server.Config.MetricsToken).
	// Default "": /metrics answers 403.
	MetricsToken string
	// Limits caps the listener's connections and bounds how long a client may keep it
	// waiting. Each tus PATCH sets its own read deadline for its body (see
	// ingest.Config.ChunkIdleTimeout), which BodyTimeout leaves to it. Default:
	// listener.Limits' defaults.
	Limits listener.Limits
	// Logger receives request and lifecycle logs. Default: discarded.
	Logger *slog.Logger
	// TracerProvider gives each request a server span (see server.Config.TracerProvider), the
	// parent of what the handlers trace: a finished upload's hand-over and its job. Default
	// nil: no spans.
	TracerProvider trace.TracerProvider
}

// API is the API listener.
type API struct {
	srv     *server.Server
	handler http.Handler
}

// New validates cfg and binds the API's listener.
func New(cfg Config) (*API, error) {
	switch {
	case cfg.Tokens == nil:
		return nil, errors.New("api: Config.Tokens is required")
	case cfg.Feed == nil && cfg.Uploads == nil:
		return nil, errors.New("api: nothing to serve: neither Feed nor Uploads is set")
	case cfg.AdminToken != "" && len(cfg.AdminToken) < MinAdminToken:
		return nil, fmt.Errorf("api: the admin token must be at least %d characters", MinAdminToken)
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	mux := http.NewServeMux()
	if cfg.Uploads != nil {
		// Both, or ServeMux would redirect a POST to /v1/uploads.
		mux.Handle(ingest.Path, cfg.Uploads)
		mux.Handle(strings.TrimSuffix(ingest.Path, "/"), cfg.Uploads)
	}
	if cfg.Feed != nil {
		mux.Handle("/v1/", cfg.Feed)
	}
	if cfg.Live != nil {
		mux.Handle(live.Path, cfg.Live)
		mux.Handle(live.Path+"/", cfg.Live)
	}
	if cfg.LiveStreams != nil {
		mux.Handle(layout.LivePathPrefix, cfg.LiveStreams)
	}
	if cfg.Pages != nil {
		mux.Handle("/", cfg.Pages)
	}
	if cfg.Dashboard != nil {
		mux.Handle(dashboardPath, cfg.Dashboard)
	}
	a := &API{handler: auth.NewAuthenticator(cfg.Tokens, cfg.AdminToken, cfg.Logger).Middleware(mux)}
	if cfg.Live != nil {
		// Before the middleware, so that a publishing page can read its 401.
		authed := a.handler
		a.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == live.Path || strings.HasPrefix(r.URL.Path, live.Path+"/") {
				live.CORS(w.Header(), r.Method == http.MethodOptions)
			}
			authed.ServeHTTP(w, r)
		})
	}
	var err error
	a.srv, err = server.New(server.Config{
		Name: "api", Addr: cfg.Addr, Handler: a.handler, Ready: cfg.Ready, Metrics: cfg.Metrics, Logger: cfg.Logger,
		MetricsToken: cfg.MetricsToken, Limits: cfg.Limits, TracerProvider: cfg.TracerProvider,
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Handler returns the API's routes behind the bearer-token middleware, without /metrics,
// /healthz and /readyz.
func (a *API) Handler() http.Handler { return a.handler }

// URL is the API's base URL, e.g. "http://127.0.0.1:8080".
func (a *API) URL() string { return a.srv.URL() }

// Run serves until ctx is done, then stops gracefully: see server.Server.Serve.
func (a *API) Run(ctx context.Context) error { return a.srv.Serve(ctx) }
