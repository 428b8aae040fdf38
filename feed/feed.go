// Package feed is reelay's feed/social service on the API listener. It holds the accounts
// (registration, sessions as bearer tokens, the current user, and a throttle of logins that
// slows password guessing without locking owners out: see loginThrottle) and the video
// resource (where a video is on its way from upload to playback, and its playback URLs), the
// profiles with their avatars (kept in the object store), the creator's edits, deletions and
// lists of their videos, the social actions (follows, likes, comments, shares, blocks,
// reports), the Following feed (fanned out on publish) and For You (Config.Ranker), the
// players' events (POST /v1/events) in a log that subscribers tail (Events; the view counts
// are one), and search (GET /v1/search).
package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/ratelimit"
	"github.com/reelay/reelay/storage"
)

// Config configures the service. The zero value is usable.
type Config struct {
	// TokenTTL is how long a session token is valid. Default 30 days.
	TokenTTL time.Duration
	// LoginBurst is how many failed logins a handle may have from devices that the account
	// does not know, and each device that it knows may have, before the next attempt waits
	// LoginDelay, a wait that doubles with each further failure up to LoginMaxDelay. Failures
	// are forgotten after 4×LoginMaxDelay without an attempt, and a successful login clears
	// them. Logins from a known device (one that presents the device token of an earlier
	// login, or a valid bearer token of the same account) count only against that device:
	// guesses at a handle from elsewhere never keep its owner out. Default 5.
	LoginBurst int
	// LoginAddrBurst is the same as LoginBurst for each client network (an IPv4 address, an
	// IPv6 /64), counting the failed logins from unknown devices to any handle. Default 20:
	// many people can share one address behind a NAT.
	LoginAddrBurst int
	// LoginDelay is the first wait of a handle, device or network past its burst. Default 1s.
	LoginDelay time.Duration
	// LoginMaxDelay bounds the wait. Default 15m.
	LoginMaxDelay time.Duration
	// DeviceTTL is how long the device token that a login returns is valid; each login that
	// presents one gets it renewed. Default 365 days.
	DeviceTTL time.Duration
	// RegisterBurst is how many accounts one client network (an IPv4 address, an IPv6 /64)
	// may create at once before being slowed to one per RegisterInterval. Default 20.
	RegisterBurst int
	// RegisterInterval is the refill interval of the registration limiter. Default 3s.
	RegisterInterval time.Duration
	// HashSlots is how many argon2id password hashes (19 MiB of memory and tens of
	// milliseconds of a core each) are computed at once. Default 4.
	HashSlots int
	// HashQueue is how many registrations and logins may wait for a hashing slot. Past that,
	// they are answered at once 429 "busy" with Retry-After: 1 rather than queued behind a
	// flood. Default 16.
	HashQueue int
	// PlaybackURL is the base URL of the HLS tier players use (an edge, or the origin):
	// a video plays at PlaybackURL + "/v/{id}/master.m3u8". Required.
	PlaybackURL string
	// LiveNow returns the live streams now, on any node (live.Directory.Live, adapted), which
	// the first page of each Following feed lists above its videos, those of the creators the
	// viewer follows, and the status API answers for a stream's id. Default nil: no live
	// streams.
	LiveNow func(ctx context.Context) ([]LiveStream, error)
	// SignPlayback, when set, returns the query ("exp=...&sig=...") that signs the URLs of a
	// private video for edges to serve them (see signedurl.Query). Default nil: a private
	// video's creator gets unsigned URLs, which edges refuse.
	SignPlayback func(video string) string
	// WriteBurst is how many writes (likes, follows, comments, shares, reports, edits, events)
	// one user may make at once before being slowed to one per WriteInterval; past it they
	// are answered 429 with Retry-After. Default 60.
	WriteBurst int
	// WriteInterval is the refill interval of the writes' limiter. Default 250ms: four
	// writes a second, sustained.
	WriteInterval time.Duration
	// CommentMaxRunes bounds a comment's body, in characters. Default 500.
	CommentMaxRunes int
	// ReportThreshold is how many users' open reports of a video hide it from everyone but
	// its creator, until an admin resolves them (POST /v1/admin/reports/{id}/resolve).
	// Default 3.
	ReportThreshold int
	// EventsPoll is how often the events' subscribers look for events that other processes
	// stored; this process's own wake them at once. Default 1s.
	EventsPoll time.Duration
	// EventsGrace is how long a subscriber waits for a gap in the events' ids to fill before
	// it passes it (see Events): an insert that commits later than that after taking its ids
	// is not seen by subscribers that passed it. Default 10s.
	EventsGrace time.Duration
	// EventsBatch is how many events a subscriber gets at most at once. Default 500.
	EventsBatch int
	// PublicURL is the API's base URL as clients reach it (https://api.example.com), which
	// avatar URLs start with. Default "": they are paths, relative to the API.
	PublicURL string
	// CelebrityThreshold is the follower count above which a creator's videos are not pushed
	// into the followers' timelines when published (fan-out on write), but pulled at read time
	// into the Following feeds of their followers. Default 10,000.
	CelebrityThreshold int
	// FanoutWorkers is how many fan-out jobs Run works on at once. Default 1.
	FanoutWorkers int
	// FanoutBatch is how many followers' timelines one statement of a fan-out writes to; the
	// job renews its lease between batches. Default 1,000.
	FanoutBatch int
	// FollowBackfill is how many of a creator's latest videos (ready, public, not hidden) a
	// follow puts into the new follower's timeline, where they sort by their publication
	// time among the rest: the Following feed has the creator's recent videos from the follow
	// on, not only those published after it. Nothing is put for a creator whose videos are
	// pulled at read time (CelebrityThreshold): the feed has all of them already. An unfollow
	// or a block takes the creator's videos out again. Default 20.
	FollowBackfill int
	// Ranker ranks the For You feed: reelay's is the recommender's (recommender.Ranker),
	// which may also explain its choices (Explainer). Default: NewestRanker, the newest
	// videos, a stand-in.
	Ranker Ranker
	// ForYouServed, when set, is told each For You page served to a logged-in viewer: their
	// user id and the page's video ids, in order. The next-swipe prefetch
	// (recommender/prefetch) predicts from it what the viewer will watch next. It is called
	// on the request's goroutine and must return at once. Default nil.
	ForYouServed func(viewer int64, videos []string)
	// Name names this process's fan-out workers in the job queue (Name-fanout-1, ...).
	// Default "feed".
	Name string
	// Store is the object store: avatars are kept in it, and a deleted video's objects are
	// removed from it. Default nil: avatar uploads are answered 503 not_configured, and
	// deleting a video leaves its objects (see deleteVideo).
	Store storage.Store
	// Purge drops every cached object of video from the edges (all of them: the edge purge
	// fans out to its cluster). It is called when a video is deleted or its visibility changes.
	// Default nil: there are no edges to purge.
	Purge func(ctx context.Context, video string) error
	// AvatarMaxBytes bounds an uploaded avatar image; larger ones are answered 413.
	// Default 5 MiB.
	AvatarMaxBytes int64
	// AvatarMaxPixels bounds each side of an uploaded avatar image, read from its header before
	// anything is decoded; larger ones are answered 422 image_too_large. Default 4096.
	AvatarMaxPixels int
	// Registerer receives the service's metrics. Nil registers nowhere.
	Registerer prometheus.Registerer
	// Logger receives the service's logs. Nil discards them.
	Logger *slog.Logger
}

// Service serves the feed/social API.
type Service struct {
	cfg          Config
	db           *db.DB
	accounts     *Accounts
	catalog      *Catalog
	uploads      Uploads // nil: ids that are not videos are not found
	playbackBase string  // cfg.PlaybackURL without a trailing slash
	log          *slog.Logger
	throttle     *loginThrottle
	register     *ratelimit.Limiter
	writes       *ratelimit.Limiter // by user id
	events       *Events
	// dummyHash is checked against when a handle does not exist, so that an unknown handle
	// takes as long as a wrong password and the timing tells nothing.
	dummyHash string
	// hashing holds Config.HashSlots tokens, one per argon2id computation under way;
	// hashWaiting counts the calls waiting for one, at most Config.HashQueue.
	hashing     chan struct{}
	hashWaiting atomic.Int64
	// avatarSlots holds avatarDecodes tokens, one per avatar being decoded.
	avatarSlots chan struct{}
	logins      *prometheus.CounterVec
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
	setDefault(&cfg.LoginBurst, 5)
	setDefault(&cfg.LoginAddrBurst, 20)
	setDefault(&cfg.LoginDelay, time.Second)
	setDefault(&cfg.LoginMaxDelay, 15*time.Minute)
	setDefault(&cfg.DeviceTTL, 365*24*time.Hour)
	setDefault(&cfg.RegisterBurst, 20)
	setDefault(&cfg.RegisterInterval, 3*time.Second)
	setDefault(&cfg.HashSlots, 4)
	setDefault(&cfg.HashQueue, 16)
	setDefault(&cfg.WriteBurst, 60)
	setDefault(&cfg.WriteInterval, 250*time.Millisecond)
	setDefault(&cfg.CommentMaxRunes, 500)
	setDefault(&cfg.ReportThreshold, 3)
	setDefault(&cfg.CelebrityThreshold, 10_000)
	setDefault(&cfg.FanoutWorkers, 1)
	setDefault(&cfg.FanoutBatch, 1000)
	setDefault(&cfg.FollowBackfill, 20)
	if cfg.Name == "" {
		cfg.Name = "feed"
	}
	if cfg.Ranker == nil {
		cfg.Ranker = NewestRanker{db: d}
	}
	setDefault(&cfg.EventsPoll, time.Second)
	setDefault(&cfg.EventsGrace, 10*time.Second)
	setDefault(&cfg.EventsBatch, 500)
	setDefault(&cfg.AvatarMaxBytes, 5<<20)
	setDefault(&cfg.AvatarMaxPixels, 4096)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		cfg:          cfg,
		db:           d,
		accounts:     NewAccounts(d),
		catalog:      NewCatalog(d),
		uploads:      uploads,
		playbackBase: strings.TrimSuffix(cfg.PlaybackURL, "/"),
		log:          cfg.Logger.With("tier", "feed"),
		throttle:     newLoginThrottle(cfg),
		register:     ratelimit.New(cfg.RegisterBurst, cfg.RegisterInterval, nil),
		writes:       ratelimit.New(cfg.WriteBurst, cfg.WriteInterval, nil),
		hashing:      make(chan struct{}, cfg.HashSlots),
		avatarSlots:  make(chan struct{}, avatarDecodes),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reelay_feed_logins_total",
			Help: "Login attempts, by result (ok, invalid, limited: throttled, busy: no hashing slot).",
		}, []string{"result"}),
	}
	s.events = &Events{d: d, log: s.log, now: time.Now, grace: cfg.EventsGrace, poll: cfg.EventsPoll, batch: cfg.EventsBatch}
	s.events.SubscribeTx("view_counts", countViews)
	var err error
	if s.dummyHash, err = auth.HashPassword("reelay timing equaliser"); err != nil {
		return nil, err
	}
	if cfg.Registerer != nil {
		waiting := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "reelay_feed_password_hash_waiting",
			Help: "Registrations and logins waiting for a password hashing slot (at most the queue's bound).",
		}, func() float64 { return float64(s.hashWaiting.Load()) })
		for _, c := range []prometheus.Collector{s.logins, waiting} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("feed: metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Handler returns the service's routes under /v1/. It expects auth.Authenticator's middleware
// in front of it.
//
//	POST   /v1/users             register
//	POST   /v1/sessions          log in: a bearer token, and a device token for the next logins
//	DELETE /v1/sessions/current  log out
//	GET    /v1/me                the current user
//	GET    /v1/videos/{id}       a video's status, metadata, playback URLs, counts and creator
//
// Profiles and the owner's videos:
//
//	GET    /v1/users/{handle}         a profile
//	PATCH  /v1/me                     edit your display name and bio
//	PUT    /v1/me/avatar              upload your avatar (a JPEG, PNG or WebP image)
//	DELETE /v1/me/avatar              remove it
//	GET    /v1/avatars/{file}         an avatar (AvatarPath)
//	GET    /v1/users/{handle}/videos  a creator's videos, newest first
//	PATCH  /v1/videos/{id}            edit a video's caption and visibility (owner, admin)
//	DELETE /v1/videos/{id}            delete a video (owner, admin)
//
// Social actions (follows.go, likes.go, comments.go, blocks.go, reports.go):
//
//	PUT|DELETE /v1/users/{handle}/follow     follow, unfollow: {"following","followers"}
//	GET        /v1/users/{handle}/followers  who follows them, newest first
//	GET        /v1/users/{handle}/following  whom they follow, newest first
//	PUT|DELETE /v1/users/{handle}/block      block, unblock: {"blocked"}
//	PUT|DELETE /v1/videos/{id}/like          like, unlike: {"liked","likes"}
//	POST|GET   /v1/videos/{id}/comments      comment; a video's comments, newest first
//	DELETE     /v1/comments/{id}             by its author, the video's owner or an admin
//	POST       /v1/videos/{id}/shares        count a share: {"shares"}
//	POST       /v1/videos/{id}/reports       report a video, once per user
//	GET        /v1/admin/reports             admins: the videos with open reports
//	POST       /v1/admin/reports/{id}/resolve  admins: keep or remove the video
//
// Feeds (following.go, fanout.go, foryou.go, ranking.go):
//
//	GET    /v1/feed/following    the Following feed: the followed creators' videos, newest first
//	GET    /v1/feed/foryou       the For You feed, with a token or without: Config.Ranker's page
//
// Events and search (events.go, events_tail.go, search.go):
//
//	POST   /v1/events            a batch of what a player saw and did (events.go)
//	GET    /v1/search?q=         videos by caption, hashtag and creator's handle (search.go)
//
//	GET    /v1/openapi.json      the API's OpenAPI document (openapi.json), which describes them all
func (s *Service) Handler() http.Handler {
	mux := newRoutes() // a ServeMux; TestOpenAPIRoutes holds its routes against openapi.json
	h := func(f apierr.HandlerFunc) http.Handler { return apierr.Handler(s.log, f) }
	mux.Handle("POST /v1/users", h(s.createUser))
	mux.Handle("POST /v1/sessions", h(s.createSession))
	mux.Handle("DELETE /v1/sessions/current", h(auth.Require(s.deleteSession)))
	mux.Handle("GET /v1/me", h(auth.Require(s.me)))
	mux.Handle("GET /v1/videos/{id}", h(s.getVideo))
	// profiles and the owner's videos
	mux.Handle("GET /v1/users/{handle}", h(s.getProfile))
	mux.Handle("PATCH /v1/me", h(userOnly(s.patchMe)))
	mux.Handle("PUT /v1/me/avatar", h(userOnly(s.putAvatar)))
	mux.Handle("DELETE /v1/me/avatar", h(userOnly(s.deleteAvatar)))
	mux.Handle("GET "+AvatarPath+"{file}", h(s.getAvatar))
	mux.Handle("GET /v1/users/{handle}/videos", h(s.userVideos))
	mux.Handle("GET /v1/me/videos", h(userOnly(s.myVideos)))
	mux.Handle("PATCH /v1/videos/{id}", h(auth.Require(s.patchVideo)))
	mux.Handle("DELETE /v1/videos/{id}", h(auth.Require(s.deleteVideo)))
	// social actions
	mux.Handle("PUT /v1/users/{handle}/follow", h(userOnly(s.putFollow)))
	mux.Handle("DELETE /v1/users/{handle}/follow", h(userOnly(s.deleteFollow)))
	mux.Handle("GET /v1/users/{handle}/followers", h(s.getFollowers))
	mux.Handle("GET /v1/users/{handle}/following", h(s.getFollowees))
	mux.Handle("PUT /v1/users/{handle}/block", h(userOnly(s.putBlock)))
	mux.Handle("DELETE /v1/users/{handle}/block", h(userOnly(s.deleteBlock)))
	mux.Handle("PUT /v1/videos/{id}/like", h(userOnly(s.putLike)))
	mux.Handle("DELETE /v1/videos/{id}/like", h(userOnly(s.deleteLike)))
	mux.Handle("POST /v1/videos/{id}/comments", h(userOnly(s.createComment)))
	mux.Handle("GET /v1/videos/{id}/comments", h(s.comments))
	mux.Handle("DELETE /v1/comments/{id}", h(auth.Require(s.deleteComment)))
	mux.Handle("POST /v1/videos/{id}/shares", h(userOnly(s.share)))
	mux.Handle("POST /v1/videos/{id}/reports", h(userOnly(s.createReport)))
	mux.Handle("GET /v1/admin/reports", h(auth.RequireAdmin(s.adminReports)))
	mux.Handle("POST /v1/admin/reports/{id}/resolve", h(auth.RequireAdmin(s.resolveReport)))
	// Feeds (following.go, fanout.go, foryou.go, ranking.go)
	mux.Handle("GET /v1/feed/following", h(auth.Require(s.getFollowing)))
	mux.Handle("GET /v1/feed/foryou", h(s.getForYou))
	// events and search
	mux.Handle("POST /v1/events", h(s.postEvents))
	mux.Handle("GET /v1/search", h(s.search))
	mux.Handle("GET /v1/openapi.json", h(serveOpenAPI()))
	return mux
}

// Tokens resolves the bearer tokens of the API (auth.NewAuthenticator).
func (s *Service) Tokens() auth.TokenUsers { return s.accounts }

// Events is the log of the players' events: Subscribe to it (before Run) to be handed each
// of them once.
func (s *Service) Events() *Events { return s.events }

// Run runs the fan-out jobs (Config.FanoutWorkers at once: see fanout), serves the events'
// subscribers, and removes expired tokens every hour, until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range s.cfg.FanoutWorkers {
		wg.Go(func() { s.runFanout(ctx, s.cfg.Name+"-fanout-"+strconv.Itoa(i+1)) })
	}
	done := make(chan error, 1)
	go func() { done <- s.events.Run(ctx) }()
	s.sweepTokens(ctx)
	return <-done
}

// sweepTokens removes expired tokens every hour until ctx is done.
func (s *Service) sweepTokens(ctx context.Context) {
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
			return
		case <-t.C:
		}
	}
}

// limitWrite takes one of the user's writes (Config.WriteBurst): past them it sets
// Retry-After on w and returns a 429. Admin requests are not limited.
func (s *Service) limitWrite(w http.ResponseWriter, p auth.Principal) error {
	if p.UserID == 0 {
		return nil
	}
	if ok, wait := s.writes.Allow(strconv.FormatInt(p.UserID, 10)); !ok {
		return tooManyAttempts(w, wait)
	}
	return nil
}

// errBusy answers a registration or a login that found every hashing slot taken and the
// queue for them full.
var errBusy = apierr.New(http.StatusTooManyRequests, "busy", "too many logins at once; try again in a second")

// hash runs f, which hashes or checks a password, while holding one of the Config.HashSlots
// slots. When none is free it waits for one, unless Config.HashQueue calls are waiting
// already: then it sets Retry-After on w and returns errBusy at once, so that a flood of
// logins gets quick refusals instead of making everyone, the legitimate users among them,
// wait behind it.
func (s *Service) hash(w http.ResponseWriter, r *http.Request, f func()) error {
	select {
	case s.hashing <- struct{}{}:
	default:
		for { // take a place in the queue, if one is left
			n := s.hashWaiting.Load()
			if n >= int64(s.cfg.HashQueue) {
				w.Header().Set("Retry-After", "1")
				return errBusy
			}
			if s.hashWaiting.CompareAndSwap(n, n+1) {
				break
			}
		}
		select {
		case s.hashing <- struct{}{}:
			s.hashWaiting.Add(-1)
		case <-r.Context().Done():
			s.hashWaiting.Add(-1)
			return r.Context().Err()
		}
	}
	defer func() { <-s.hashing }()
	f()
	return nil
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
