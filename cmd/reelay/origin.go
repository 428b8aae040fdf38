package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/reelay/reelay/internal/signedurl"
	"github.com/reelay/reelay/origin"
)

// originConfig is `reelay origin`: HLS over the object store.
type originConfig struct {
	common
	listening
	tracingFlags
	addr        string
	store       string
	playlistAge time.Duration
	signingKey  string // hex
	liveURL     string
}

func setupOrigin(fs *flag.FlagSet) runner {
	c := &originConfig{}
	c.common.register(fs)
	c.listening.register(fs)
	c.tracingFlags.register(fs)
	fs.StringVar(&c.addr, "addr", origin.DefaultAddr, "origin listener")
	fs.StringVar(&c.store, "store", "", "object store URL: "+storeURLHelp+" (required)")
	fs.DurationVar(&c.playlistAge, "playlist-max-age", origin.DefaultPlaylistMaxAge, "Cache-Control max-age of playlists stored without one")
	fs.StringVar(&c.signingKey, "signing-key", "", "hex HMAC key of signed playback URLs, the edges' own: private videos go only to signed URLs and to edges; empty serves private videos to nobody")
	fs.StringVar(&c.liveURL, "live-url", "", "base URL of the API node taking live (WHIP) sessions (reelay ingest --live-playback-url), whose /v/live/ streams the origin passes on; empty: it serves them from the store, where reelay ingest copies them")
	return c
}

func (c *originConfig) validate() error {
	if err := c.common.validate(); err != nil {
		return err
	}
	if err := c.listening.validate(); err != nil {
		return err
	}
	if err := c.tracingFlags.validate(); err != nil {
		return err
	}
	if c.store == "" {
		return usagef("--store is required")
	}
	if c.playlistAge < 0 {
		return usagef("invalid --playlist-max-age: it must not be negative")
	}
	if !validSigningKey(c.signingKey) {
		return usagef("invalid --signing-key: want at least %d bytes in hex", signedurl.MinKeyBytes)
	}
	if err := checkURL("live-url", c.liveURL); err != nil {
		return err
	}
	return checkAddr("addr", c.addr)
}

func (c *originConfig) run(ctx context.Context, e *env) error {
	log := c.logger(e.stderr)
	limits, logLimits := c.serving(1)
	store, err := openStore(ctx, c.store)
	if err != nil {
		return err
	}
	m := newMetrics()
	tp, flush, err := c.tracingFlags.provider(ctx, e, "reelay-origin", log)
	if err != nil {
		return err
	}
	defer flush()
	key, _ := signedurl.ParseKey(c.signingKey) // validated above
	if key == nil {
		log.Warn("no --signing-key: private videos are served to nobody, edges included")
	}
	var liveProxy http.Handler
	if c.liveURL != "" {
		u, _ := url.Parse(c.liveURL) // validated
		liveProxy = httputil.NewSingleHostReverseProxy(u)
	}
	org, err := origin.New(origin.Config{
		Live: liveProxy, Store: store, Addr: c.addr, PlaylistMaxAge: c.playlistAge, SigningKey: key, Limits: limits, Metrics: m,
		MetricsToken: c.metricsToken, Registerer: m.Registry(), Logger: log, TracerProvider: tp,
	})
	if err != nil {
		return err
	}
	logLimits(log)
	fmt.Fprintf(e.stdout, "origin %s\n", org.URL())
	return org.Run(ctx)
}
