package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/reelay/reelay/cluster"
	"github.com/reelay/reelay/edge"
	"github.com/reelay/reelay/internal/signedurl"
	"github.com/reelay/reelay/ring"
)

// edgeConfig is `reelay edge`: one node of a gossip-clustered edge cache.
type edgeConfig struct {
	common
	listening
	tracingFlags
	edge       edge.Config
	cluster    cluster.Config
	join       string // comma-separated seeds
	signingKey string // hex
}

func setupEdge(fs *flag.FlagSet) runner {
	c := &edgeConfig{}
	c.common.register(fs)
	c.listening.register(fs)
	c.tracingFlags.register(fs)
	e, cl := &c.edge, &c.cluster
	fs.StringVar(&e.Addr, "addr", edge.DefaultAddr, "HTTP listener players and peer edges fetch from")
	fs.StringVar(&e.Origin, "origin", "", "base URL of the origin, e.g. http://origin:8082 (required)")
	fs.StringVar(&e.Name, "name", "", "node name in the cluster, in Cache-Status and in Via; empty is hostname-port")
	sizeVar(fs, &e.MemBytes, "mem", edge.DefaultMemBytes, "memory cache size")
	fs.StringVar(&e.DiskDir, "disk", "", "disk cache directory; empty runs without a disk tier")
	sizeVar(fs, &e.DiskBytes, "disk-size", edge.DefaultDiskBytes, "disk cache size")
	fs.StringVar(&e.AdminToken, "admin-token", "", "operator token for purge and prefetch (at least 16 characters); empty disables them")
	fs.StringVar(&c.signingKey, "signing-key", "", "hex HMAC key checking signed playback URLs (?exp=&sig=); empty disables the check")
	fs.DurationVar(&e.FetchTimeout, "fetch-timeout", edge.DefaultFetchTimeout, "bound on each fetch from the origin or a peer; past it the edge answers 504")
	sizeVar(fs, &e.MaxObjectBytes, "max-object-size", edge.DefaultMaxObjectBytes, "largest object the edge fetches; larger ones are answered 502")
	sizeVar(fs, &e.PrefetchBudget, "prefetch-budget", edge.DefaultPrefetchBudget, "most bytes one prefetch request fetches")
	fs.DurationVar(&e.ShutdownTimeout, "shutdown-timeout", edge.DefaultShutdownTimeout, "how long a stop waits for the requests in progress")
	fs.StringVar(&cl.BindAddr, "gossip-addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(cluster.DefaultPort)), "gossip listener (TCP and UDP) of the cluster")
	fs.StringVar(&cl.AdvertiseAddr, "advertise-addr", "", "IP address, and optionally port, the other nodes reach this node's gossip at; empty is the bound one")
	fs.StringVar(&c.join, "join", "", "comma-separated gossip addresses of nodes to join; empty starts a new cluster")
	fs.StringVar(&cl.Tuning, "tuning", cluster.DefaultTuning, "failure detection timing: lan, wan or local (fast, for one machine)")
	fs.Float64Var(&cl.Epsilon, "load-epsilon", ring.DefaultEpsilon, "slack of the bounded loads: a node takes new keys while its fills in flight are below (1+ε) times its share")
	fs.IntVar(&cl.MinLoad, "min-load", ring.DefaultMinLoad, "fills in flight below which a node takes all its keys, whatever the others' loads; negative for none")
	return c
}

func (c *edgeConfig) validate() error {
	if err := c.common.validate(); err != nil {
		return err
	}
	if err := c.listening.validate(); err != nil {
		return err
	}
	if err := c.tracingFlags.validate(); err != nil {
		return err
	}
	e, cl := &c.edge, &c.cluster
	if err := checkAddr("addr", e.Addr); err != nil {
		return err
	}
	if err := checkAddr("gossip-addr", cl.BindAddr); err != nil {
		return err
	}
	if e.Origin == "" {
		return usagef("--origin is required")
	}
	if err := checkURL("origin", e.Origin); err != nil {
		return err
	}
	if e.MemBytes <= 0 || (e.DiskDir != "" && e.DiskBytes <= 0) || e.MaxObjectBytes <= 0 || e.PrefetchBudget <= 0 {
		return usagef("cache, object and prefetch sizes must be positive")
	}
	if e.FetchTimeout <= 0 || e.ShutdownTimeout <= 0 {
		return usagef("timeouts must be positive")
	}
	if !validSigningKey(c.signingKey) {
		return usagef("invalid --signing-key: want at least %d bytes in hex", signedurl.MinKeyBytes)
	}
	switch cl.Tuning {
	case cluster.TuningLAN, cluster.TuningWAN, cluster.TuningLocal:
	default:
		return usagef("invalid --tuning %q: want %s, %s or %s", cl.Tuning, cluster.TuningLAN, cluster.TuningWAN, cluster.TuningLocal)
	}
	if !(cl.Epsilon > 0) {
		return usagef("invalid --load-epsilon %v: want a positive number", cl.Epsilon)
	}
	return checkAdminToken(e.AdminToken)
}

func (c *edgeConfig) run(ctx context.Context, env *env) error {
	log := c.logger(env.stderr)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg, cl := c.edge, c.cluster
	limits, logLimits := c.serving(1)
	cfg.Limits, cfg.MetricsToken = limits, c.metricsTokenOr(cfg.AdminToken)
	for _, s := range strings.Split(c.join, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cl.Seeds = append(cl.Seeds, s)
		}
	}
	cfg.Cluster, cfg.Logger, cfg.Registerer = &cl, log, reg
	cfg.SigningKey, _ = signedurl.ParseKey(c.signingKey) // validated above
	tp, flush, err := c.tracingFlags.provider(ctx, env, "reelay-edge", log)
	if err != nil {
		return err
	}
	defer flush()
	cfg.TracerProvider = tp
	e, err := edge.New(cfg)
	if errors.Is(err, edge.ErrInvalidConfig) || errors.Is(err, cluster.ErrInvalidConfig) {
		return usagef("%v", err)
	}
	if err != nil {
		return err
	}
	logLimits(log)
	fmt.Fprintf(env.stdout, "edge %s\n", e.URL())
	return e.Run(ctx)
}
