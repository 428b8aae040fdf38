// Package feed is reelay's feed/social service on the API listener. It holds the accounts
// (registration, sessions as bearer tokens, the current user) and the video resource (where a
// video is on its way from upload to playback, and its playback URLs). Profiles, follows,
// likes, comments and the For You and Following feeds build on it.
package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/ratelimit"
)

// Config configures the service. The zero value is usable.
type Config struct {
	// TokenTTL is how long a session token is valid. Default 30 days.
	TokenTTL time.Duration
	// LoginBurst is how many login attempts a client address, and separately a handle, may
	// make at once before being slowed to one per LoginInterval. Default 5.
	LoginBurst int
	// LoginInterval is the refill interval of the login limiter. Default 12s (5 a minute).
	LoginInterval time.Duration
	// RegisterBurst is how many accounts one client address may create at once before being
	// slowed to one per RegisterInterval. Default 20.
	RegisterBurst int
	// RegisterInterval is the refill interval of the registration limiter. Default 3s.
	RegisterInterval time.Duration
	// PlaybackURL is the base URL of the HLS tier players use (an edge, or the origin):
	// a video plays at PlaybackURL + "/v/{id}/master.m3u8". Required.
	PlaybackURL string
	// SignPlayback, when set, returns the query ("exp=...&sig=...") that signs the URLs of a
	// private video for edges to serve them (see signedurl.Query). Default nil: a private
	// video's creator gets unsigned URLs, which edges refuse.
	SignPlayback func(video string) string
	// Registerer receives the service's metrics. Nil registers nowhere.
	Registerer prometheus.Registerer
	// Logger receives the service's logs. Nil discards them.
	Logger *slog.Logger
}

// Service serves the feed/social API.
type Service struct {
	cfg          Config
	accounts     *Accounts
	catalog      *Catalog
	uploads      Uploads // nil: ids that are not videos are not found
	playbackBase string  // cfg.PlaybackURL without a trailing slash
	log          *slog.Logger
	login        *ratelimit.Limiter
	register     *ratelimit.Limiter
	// dummyHash is checked against when a handle does not exist, so that an unknown handle
	// takes as long as a wrong password and the timing tells nothing.
	dummyHash string
	// hashing bounds concurrent argon2id computations (19 MiB each).
	hashing chan struct{}
	logins  *prometheus.CounterVec
}

// New returns a Service over d. uploads tells the video resource about videos that are still
// uploads; nil answers 404 for them.
func New(cfg Config, d *db.DB, uploads Uploads) (*Service, error) {
	if d == nil {
		return nil, errors.New("feed: a database is required")
	}
	if u, err := url.Parse(cfg.PlaybackURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("feed: Config.PlaybackURL %q is not an http(s) URL", cfg.PlaybackURL)
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 30 * 24 * time.Hour
	}
	if cfg.LoginBurst <= 0 {
		cfg.LoginBurst = 5
	}
	if cfg.LoginInterval <= 0 {
		cfg.LoginInterval = 12 * time.Second
	}
	if cfg.RegisterBurst <= 0 {
		cfg.RegisterBurst = 20
	}
	if cfg.RegisterInterval <= 0 {
		cfg.RegisterInterval = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		cfg:          cfg,
		accounts:     NewAccounts(d),
		catalog:      NewCatalog(d),
		uploads:      uploads,
		playbackBase: strings.TrimSuffix(cfg.PlaybackURL, "/"),
		log:          cfg.Logger.With("tier", "feed"),
		login:        ratelimit.New(cfg.LoginBurst, cfg.LoginInterval, nil),
		register:     ratelimit.New(cfg.RegisterBurst, cfg.RegisterInterval, nil),
		hashing:      make(chan struct{}, 4),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reelay_feed_logins_total",
			Help: "Login attempts, by result (ok, invalid, limited).",
		}, []string{"result"}),
	}
	var err error
	if s.dummyHash, err = auth.HashPassword("reelay timing equaliser"); err != nil {
		return nil, err
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(s.logins); err != nil {
			return nil, fmt.Errorf("feed: metrics: %w", err)
		}
	}
	return s, nil
}

// Handler returns the service's routes under /v1/. It expects auth.Authenticator's middleware
// in front of it.
//
//	POST   /v1/users             register
//	POST   /v1/sessions          log in: a bearer token
//	DELETE /v1/sessions/current  log out
//	GET    /v1/me                the current user
//	GET    /v1/videos/{id}       a video's status, metadata and playback URLs
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(f apierr.HandlerFunc) http.Handler { return apierr.Handler(s.log, f) }
	mux.Handle("POST /v1/users", h(s.createUser))
	mux.Handle("POST /v1/sessions", h(s.createSession))
	mux.Handle("DELETE /v1/sessions/current", h(auth.Require(s.deleteSession)))
	mux.Handle("GET /v1/me", h(auth.Require(s.me)))
	mux.Handle("GET /v1/videos/{id}", h(s.getVideo))
	return mux
}

// Tokens resolves the bearer tokens of the API (auth.NewAuthenticator).
func (s *Service) Tokens() auth.TokenUsers { return s.accounts }

// Run removes expired tokens every hour until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := s.accounts.DeleteExpiredTokens(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("deleting expired tokens", "err", err)
		} else if n > 0 {
			s.log.Info("deleted expired tokens", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// hash runs f while holding one of the bounded argon2id slots.
func (s *Service) hash(ctx context.Context, f func()) error {
	select {
	case s.hashing <- struct{}{}:
		defer func() { <-s.hashing }()
		f()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
