package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/api"
	"github.com/reelay/reelay/cluster"
	"github.com/reelay/reelay/demo"
	"github.com/reelay/reelay/edge"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/ingest"
	"github.com/reelay/reelay/internal/signedurl"
	"github.com/reelay/reelay/live"
	"github.com/reelay/reelay/origin"
	"github.com/reelay/reelay/pipeline"
	"github.com/reelay/reelay/transcoder"
	"github.com/reelay/reelay/web"
)

// upConfig is `reelay up`: every tier in one process on embedded defaults.
type upConfig struct {
	common
	listening
	tracingFlags
	data        string
	dbDSN       string
	store       string
	apiAddr     string
	edgeAddr    string
	originAddr  string
	gossipAddr  string
	adminToken  string
	playbackURL string
	publicURL   string
	maxUpload   int64
	quota       uploadQuota
	limit       timeLimit
	workers     int
	edges       int
	edgeMem     int64
	edgeDisk    int64
	signing     signing
	social      social
	feeds       feeds
	prefetch    prefetching
	demo        bool
	demoClips   int
	live        liveFlags
}

func setupUp(fs *flag.FlagSet) runner {
	c := &upConfig{}
	c.common.register(fs)
	c.listening.register(fs)
	c.tracingFlags.register(fs)
	fs.StringVar(&c.data, "data", "./data", "directory holding the embedded object store, SQLite database and staged uploads")
	fs.StringVar(&c.dbDSN, "db", "", "metadata database: a postgres:// URL, or empty for SQLite at DATA/reelay.db")
	fs.StringVar(&c.store, "store", "", "object store URL ("+storeURLHelp+"), or empty for DATA/objects")
	fs.StringVar(&c.apiAddr, "api-addr", api.DefaultAddr, "API listener: feed/social, uploads and video status")
	fs.StringVar(&c.edgeAddr, "edge-addr", edge.DefaultAddr, "edge cache listener; with --edges N, N consecutive ports from this one, skipping the other listeners' ports")
	fs.StringVar(&c.originAddr, "origin-addr", origin.DefaultAddr, "origin listener: HLS from the object store")
	fs.StringVar(&c.gossipAddr, "gossip-addr", "127.0.0.1:7946", "edge cluster gossip address; with --edges N, N consecutive ports from this one, skipping the other listeners' ports")
	fs.StringVar(&c.adminToken, "admin-token", "", "operator token for admin endpoints (at least 16 characters); empty disables them")
	fs.StringVar(&c.playbackURL, "playback-url", "", "base URL players fetch /v/{id}/master.m3u8 from; empty is the first edge's URL (the origin's with --edges 0)")
	fs.StringVar(&c.publicURL, "public-url", "", publicURLUsage)
	sizeVar(fs, &c.maxUpload, "max-upload", ingest.DefaultMaxSize, "largest upload accepted")
	c.quota.register(fs)
	c.live.register(fs, "127.0.0.1")
	fs.IntVar(&c.workers, "workers", 1, "transcode workers in this process")
	c.limit.register(fs, "")
	fs.IntVar(&c.edges, "edges", 1, "edge nodes in this process, joined into one cluster")
	sizeVar(fs, &c.edgeMem, "edge-mem", 256<<20, "memory cache size of each edge node")
	sizeVar(fs, &c.edgeDisk, "edge-disk-size", 2<<30, "disk cache size of each edge node, under DATA/edge-N")
	c.signing.register(fs, "hex HMAC key of private videos' playback URLs; empty keeps one in DATA/signing.key")
	c.social.register(fs)
	c.feeds.register(fs)
	c.prefetch.register(fs, false)
	fs.BoolVar(&c.demo, "demo", false, "seed demo users, follows and generated clips through the normal upload pipeline, in the background; once per data directory")
	fs.IntVar(&c.demoClips, "demo-clips", demo.DefaultClips, "how many clips --demo seeds")
	return c
}

func (c *upConfig) validate() error {
	if err := c.common.validate(); err != nil {
		return err
	}
	if err := c.listening.validate(); err != nil {
		return err
	}
	if err := c.tracingFlags.validate(); err != nil {
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
	if c.edges < 0 || c.edges > 16 {
		return usagef("invalid --edges %d: want 0 to 16", c.edges)
	}
	if _, err := c.plan(); err != nil {
		return err
	}
	if c.edgeMem <= 0 || c.edgeDisk <= 0 {
		return usagef("edge cache sizes must be positive")
	}
	if c.workers < 0 || c.workers > 64 {
		return usagef("invalid --workers %d: want 0 to 64", c.workers)
	}
	if c.maxUpload <= 0 {
		return usagef("invalid --max-upload: it must be positive")
	}
	if err := checkURL("playback-url", c.playbackURL); err != nil {
		return err
	}
	if err := c.quota.validate(c.maxUpload); err != nil {
		return err
	}
	if err := c.live.validate(); err != nil {
		return err
	}
	if err := c.limit.validate(); err != nil {
		return err
	}
	if err := checkURL("public-url", c.publicURL); err != nil {
		return err
	}
	if err := c.social.validate(); err != nil {
		return err
	}
	if err := c.signing.validate(); err != nil {
		return err
	}
	if err := c.feeds.validate(); err != nil {
		return err
	}
	if err := c.prefetch.validate(c.adminToken); err != nil {
		return err
	}
	if c.demoClips < 1 || c.demoClips > 1000 {
		return usagef("invalid --demo-clips %d: want 1 to 1000", c.demoClips)
	}
	return checkAdminToken(c.adminToken)
}

func (c *upConfig) run(ctx context.Context, e *env) error {
	log := c.logger(e.stderr)
	transcodingProcess(log, false)
	limits, logLimits := c.serving(2 + c.edges) // the API, the origin and the edges
	if err := os.MkdirAll(c.data, 0o755); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if c.signing.key == "" {
		key, err := loadOrCreateKey(filepath.Join(c.data, "signing.key"))
		if err != nil {
			return err
		}
		c.signing.key = key
	}
	storeURL, dsn := c.store, c.dbDSN
	if storeURL == "" {
		storeURL = filepath.Join(c.data, "objects")
	}
	if dsn == "" {
		dsn = filepath.Join(c.data, "reelay.db")
	}
	store, d, err := openBackends(ctx, storeURL, dsn, log)
	if err != nil {
		return err
	}
	defer d.Close()
	m := newMetrics()
	reg := m.Registry()
	tp, flush, err := c.tracingFlags.provider(ctx, e, "reelay", log)
	if err != nil {
		return err
	}
	defer flush()

	signingKey, _ := signedurl.ParseKey(c.signing.key) // validated with the flags
	metricsToken := c.metricsTokenOr(c.adminToken)
	streams := live.NewStreams() // the live streams this process packages, which the origin serves
	org, err := origin.New(origin.Config{
		Live: streams, Store: store, Addr: c.originAddr, SigningKey: signingKey, Limits: limits, Metrics: m, MetricsToken: metricsToken,
		Registerer: reg, Logger: log, TracerProvider: tp,
	})
	if err != nil {
		return err
	}
	plan, _ := c.plan() // checked by validate
	edgeToken := c.adminToken
	if edgeToken == "" {
		edgeToken = internalToken() // the feed's hints and the dashboard's cluster view need one
	}
	// Edge nodes on the planned ports, the first the others' seed.
	var edges []*edge.Edge
	defer func() {
		for _, n := range edges {
			n.Close() // for those that never ran
		}
	}()
	for i := range c.edges {
		cl := cluster.Config{BindAddr: plan.gossip[i], Tuning: cluster.TuningLocal}
		if i > 0 {
			cl.Seeds = []string{edges[0].Self().Addr}
		}
		n, err := edge.New(edge.Config{
			Addr: plan.edges[i], Origin: org.URL(), Name: fmt.Sprintf("edge-%d", i+1), Cluster: &cl,
			MemBytes: c.edgeMem, DiskDir: filepath.Join(c.data, fmt.Sprintf("edge-%d", i+1)), DiskBytes: c.edgeDisk,
			AdminToken: edgeToken, SigningKey: signingKey, Registerer: prometheus.NewRegistry(), Logger: log,
			// The members' stats of the dashboard's cluster view need one.
			Limits: limits, MetricsToken: cmp.Or(metricsToken, edgeToken), TracerProvider: tp,
		})
		if err != nil {
			return err
		}
		edges = append(edges, n)
	}
	playback := c.playbackURL
	switch {
	case playback != "":
	case len(edges) > 0:
		playback = edges[0].URL()
	default:
		playback = org.URL()
	}

	tc, err := transcoder.New(transcoder.Config{Logger: log})
	if err != nil {
		return err
	}
	pipe, err := pipeline.New(pipeline.Config{
		Workers: c.workers, Name: "up-" + strconv.Itoa(os.Getpid()), ScratchDir: filepath.Join(c.data, "scratch"),
		TimeLimitBase: c.limit.base, TimeLimitPerSecond: c.limit.perSecond, Registerer: reg, Logger: log,
		AfterSample: e.afterSample, TracerProvider: tp,
	}, d, store, tc)
	if err != nil {
		return err
	}
	uploads, err := ingest.New(ingest.Config{
		Dir: filepath.Join(c.data, "uploads"), MaxSize: c.maxUpload, Quota: c.quota.config(), PublicURL: c.publicURL, Registerer: reg, Logger: log,
	}, d, pipe)
	if err != nil {
		return err
	}
	// The prefetch hints go to the edges players ask: the first one, the playback URL's, unless
	// --playback-url puts something else in front of them, which may send a player to any.
	var hinted []string
	for i, n := range edges {
		if c.prefetch.on && (i == 0 || c.playbackURL != "") {
			hinted = append(hinted, n.URL())
		}
	}
	pf, err := c.prefetch.prefetcher(hinted, edgeToken, reg, log)
	if err != nil {
		return err
	}
	liveDir := liveDirectory(d)
	liveCfg := c.live.config(playback, log)
	liveCfg.Recordings, liveCfg.RecordDir, liveCfg.Directory = liveRecordings{pipe}, filepath.Join(c.data, "live"), liveDir
	liveCfg.Registerer = reg
	liveSrv, err := live.New(liveCfg, streams)
	if err != nil {
		return err
	}
	feedSvc, rec, runs, err := rankedFeed(ctx, c.feeds.apply(c.social.config(feed.Config{
		LiveNow: liveNow(liveDir), PlaybackURL: playback, PublicURL: strings.TrimSuffix(c.publicURL, "/"), SignPlayback: c.signing.signer(), Store: store, Purge: purgeAll(edges),
		Registerer: reg, Logger: log,
	})), d, pf)
	if err != nil {
		return err
	}
	var edgeURLs []string
	for _, n := range edges {
		edgeURLs = append(edgeURLs, n.URL())
	}
	apiSrv, err := api.New(api.Config{
		Live: liveSrv.Handler(),
		Addr: c.apiAddr, Tokens: feedSvc.Tokens(), AdminToken: c.adminToken, Feed: feedSvc.Handler(), Pages: web.Handler(),
		Dashboard: dashboard(d, edgeURLs, edgeToken, purgeAll(edges), log),
		Uploads:   uploads.Handler(), Ready: readiness(store.Ping, d.Ping, rec.Ready), Metrics: m, Logger: log,
		Limits: limits, MetricsToken: metricsToken, TracerProvider: tp,
	})
	if err != nil {
		return err
	}

	var seed *demo.Seeder
	if c.demo {
		seed, err = demo.New(demo.Config{
			API: apiSrv.URL(), Dir: filepath.Join(c.data, "demo"), Clips: c.demoClips, Logger: log,
			Grant: func(ctx context.Context, handle string) error { return feed.NewAccounts(d).SetAdmin(ctx, handle, true) },
		})
		if err != nil {
			return err
		}
	}

	logLimits(log)
	tiers := append(runs, apiSrv.Run, feedSvc.Run, uploads.Run, pipe.Run, org.Run, liveSrv.Run)
	fmt.Fprintf(e.stdout, "api %s\n", apiSrv.URL())
	for i, n := range edges {
		name := "edge"
		if len(edges) > 1 {
			name = fmt.Sprintf("edge-%d", i+1)
		}
		fmt.Fprintf(e.stdout, "%s %s\n", name, n.URL())
		tiers = append(tiers, n.Run)
	}
	fmt.Fprintf(e.stdout, "origin %s\n", org.URL())
	c.printWelcome(e.stdout, apiSrv.URL(), seed)
	if seed != nil {
		tiers = append(tiers, seed.Run)
	}
	err = runAll(ctx, tiers...)
	log.Info("stopped")
	return err
}

// printWelcome tells a newcomer, after the listeners, where the player and the dashboard are
// and how to log in as an admin.
func (c *upConfig) printWelcome(w io.Writer, apiURL string, seed *demo.Seeder) {
	base := apiURL
	if c.publicURL != "" {
		base = strings.TrimSuffix(c.publicURL, "/")
	}
	fmt.Fprintf(w, "player %s/\n", base)
	fmt.Fprintf(w, "dashboard %s/dashboard\n", base)
	if seed != nil {
		fmt.Fprintf(w, "demo admin %q, password %q (every demo user has it, e.g. viewer.vic); the seed of %d clips runs in the background, its progress in the log\n",
			demo.AdminHandle, seed.Password(), c.demoClips)
		return
	}
	fmt.Fprintf(w, "admin: register in the player, then `reelay admin grant --data %s HANDLE`", c.data)
	if c.adminToken != "" {
		fmt.Fprint(w, ", or use the --admin-token")
	}
	fmt.Fprintln(w, "; `reelay up --demo` seeds users and clips with a demo admin")
}

// upPlan is where the listeners of `reelay up` go.
type upPlan struct {
	edges, gossip []string // each edge node's HTTP and gossip address
}

// plan places the edge nodes: their HTTP listeners on consecutive ports from --edge-addr and
// their gossip on consecutive ports from --gossip-addr, each skipping the ports that another
// listener of the process has (the second edge would otherwise land on the origin's 8082). It
// fails, naming both, when two listeners given by flags share an address. Port 0 (any free
// port) never clashes.
func (c *upConfig) plan() (upPlan, error) {
	var p upPlan
	taken := map[string]string{} // address -> the listener that has it
	claim := func(name, addr string) error {
		if _, port, _ := net.SplitHostPort(addr); port == "0" {
			return nil
		}
		if other, ok := taken[addr]; ok {
			return usagef("%s and %s would both listen on %s: give one of them another address", other, name, addr)
		}
		taken[addr] = name
		return nil
	}
	for _, l := range []struct{ name, addr string }{{"--api-addr", c.apiAddr}, {"--origin-addr", c.originAddr}, {"--edge-addr", c.edgeAddr}, {"--gossip-addr", c.gossipAddr}} {
		if l.name == "--edge-addr" && c.edges == 0 || l.name == "--gossip-addr" && c.edges == 0 {
			continue
		}
		if err := claim(l.name, l.addr); err != nil {
			return upPlan{}, err
		}
	}
	next := func(first string, n int, name string) ([]string, error) {
		addrs := []string{first}
		host, port, _ := net.SplitHostPort(first)
		base, _ := strconv.Atoi(port)
		for at := base + 1; len(addrs) < n; at++ {
			if base == 0 {
				addrs = append(addrs, first)
				continue
			}
			if at > 65535 {
				return nil, usagef("no free port left after %s for %d %s listeners", first, n, name)
			}
			addr := net.JoinHostPort(host, strconv.Itoa(at))
			if _, ok := taken[addr]; !ok {
				taken[addr] = fmt.Sprintf("edge %s %d", name, len(addrs)+1)
				addrs = append(addrs, addr)
			}
		}
		return addrs, nil
	}
	if c.edges == 0 {
		return p, nil
	}
	var err error
	if p.edges, err = next(c.edgeAddr, c.edges, "HTTP"); err != nil {
		return upPlan{}, err
	}
	if p.gossip, err = next(c.gossipAddr, c.edges, "gossip"); err != nil {
		return upPlan{}, err
	}
	return p, nil
}

// purgeAll is the feed's Config.Purge in one process: every edge node of the cluster is here,
// so each drops the video itself, without a request or the admin token that
// DELETE /_edge/v/{id} needs. Nil without edges: there is nothing to purge.
func purgeAll(edges []*edge.Edge) func(context.Context, string) error {
	if len(edges) == 0 {
		return nil
	}
	return func(_ context.Context, id string) error {
		for _, n := range edges {
			n.Purge(id)
		}
		return nil
	}
}
