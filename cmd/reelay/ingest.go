package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/reelay/reelay/ingest"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/server"
	"github.com/reelay/reelay/transcoder"
)

// ingestConfig is `reelay ingest`: the upload API and the video status API. Transcoding runs
// in `reelay transcode --worker` processes on the same database and store.
type ingestConfig struct {
	common
	addr           string
	dbDSN          string
	store          string
	uploadDir      string
	playbackURL    string
	adminToken     string
	maxUpload      int64
	trustedProxies prefixList
	signing        signing
}

func setupIngest(fs *flag.FlagSet) runner {
	c := &ingestConfig{}
	c.common.register(fs)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "API listener: /v1/uploads/ and /v1/videos/{id}")
	fs.StringVar(&c.dbDSN, "db", "", "metadata database: a postgres:// URL or a SQLite file path (required)")
	fs.StringVar(&c.store, "store", "", "object store URL: file:///path or s3://bucket/prefix?endpoint=host:port (required)")
	fs.StringVar(&c.uploadDir, "upload-dir", "./uploads", "directory staging uploads until they are complete; route a client's requests for one upload to the same ingest node")
	fs.StringVar(&c.playbackURL, "playback-url", "", "base URL players fetch /v/{id}/master.m3u8 from: the edge or origin (required)")
	fs.StringVar(&c.adminToken, "admin-token", "", "operator token for admin endpoints (at least 16 characters); empty disables them")
	sizeVar(fs, &c.maxUpload, "max-upload", ingest.DefaultMaxSize, "largest upload accepted")
	fs.Var(&c.trustedProxies, "trusted-proxies", "comma-separated addresses or prefixes of reverse proxies whose X-Forwarded-* headers are believed")
	c.signing.register(fs, "hex HMAC key of private videos' playback URLs, the edges' --signing-key; empty leaves them unsigned, and edges refuse them")
	return c
}

func (c *ingestConfig) validate() error {
	if err := c.common.validate(); err != nil {
		return err
	}
	switch {
	case c.dbDSN == "":
		return usagef("--db is required")
	case c.store == "":
		return usagef("--store is required")
	case c.playbackURL == "":
		return usagef("--playback-url is required")
	case c.uploadDir == "":
		return usagef("invalid --upload-dir: it must not be empty")
	case c.maxUpload <= 0:
		return usagef("invalid --max-upload: it must be positive")
	}
	if err := checkURL("playback-url", c.playbackURL); err != nil {
		return err
	}
	if err := checkAddr("addr", c.addr); err != nil {
		return err
	}
	if err := c.signing.validate(); err != nil {
		return err
	}
	return checkAdminToken(c.adminToken)
}

func (c *ingestConfig) run(ctx context.Context, e *env) error {
	log := c.logger(e.stderr)
	transcoder.LogFFmpegTo(log)
	store, d, err := openBackends(ctx, c.store, c.dbDSN, log)
	if err != nil {
		return err
	}
	defer d.Close()
	m := newMetrics()
	tc, err := transcoder.New(transcoder.Config{Logger: log})
	if err != nil {
		return err
	}
	pub := ingest.NewPublisher(d, store, tc, 0, log)
	tus, err := ingest.New(ingest.Config{
		Dir: c.uploadDir, MaxSize: c.maxUpload, TrustedProxies: c.trustedProxies,
		OnComplete: pub.OnComplete, Registerer: m.Registry(), Logger: log,
	}, d)
	if err != nil {
		return err
	}
	status := ingest.NewStatus(d, c.playbackURL, log)
	if status.SignPlayback = c.signing.signer(); status.SignPlayback == nil {
		log.Warn("no --signing-key: private videos get unsigned playback URLs, which edges refuse")
	}
	api, err := server.New(server.Config{
		Name: "api", Addr: c.addr, Ready: readiness(store.Ping, d.Ping), Metrics: m, Logger: log,
		Handler: apiHandler(auth.NewAuthenticator(d, c.adminToken, log), apiRoutes{
			tus: tus.Handler(), status: status.Handler(),
		}),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "api %s\n", api.URL())
	return runAll(ctx, []*server.Server{api}, tus.Run)
}
