package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/reelay/reelay/cluster"
	"github.com/reelay/reelay/edge"
)

// edgeConfig is `reelay edge`: one node of a gossip-clustered edge cache.
type edgeConfig struct {
	common
	edgeOpts
	addr string
}

// edgeOpts are the settings of an edge node that `reelay edge` and `reelay up` share.
type edgeOpts struct {
	gossipAddr string
	join       string
	origin     string
	mem        int64
	disk       string
	diskSize   int64
	name       string
	adminToken string
	signingKey string
	tuning     string
}

func setupEdge(fs *flag.FlagSet) runner {
	c := &edgeConfig{}
	c.common.register(fs)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8081", "HTTP listener players and peer edges fetch from")
	fs.StringVar(&c.gossipAddr, "gossip-addr", "127.0.0.1:7946", "gossip listener (TCP and UDP) of the cluster")
	fs.StringVar(&c.join, "join", "", "comma-separated gossip addresses of nodes to join; empty starts a new cluster")
	fs.StringVar(&c.origin, "origin", "", "base URL of the origin, e.g. http://origin:8082 (required)")
	sizeVar(fs, &c.mem, "mem", 512<<20, "memory cache size")
	fs.StringVar(&c.disk, "disk", "", "disk cache directory; empty runs without a disk tier")
	sizeVar(fs, &c.diskSize, "disk-size", 10<<30, "disk cache size")
	fs.StringVar(&c.name, "name", "", "node name in the cluster and in Cache-Status; empty is hostname-port")
	fs.StringVar(&c.adminToken, "admin-token", "", "operator token for purge and prefetch (at least 16 characters); empty disables them")
	fs.StringVar(&c.signingKey, "signing-key", "", "hex HMAC key checking signed playback URLs (?exp=&sig=); empty disables the check")
	fs.StringVar(&c.tuning, "tuning", "lan", "failure detection timing: lan, wan or local (fast, for one machine)")
	return c
}

func (c *edgeConfig) validate() error {
	if err := c.common.validate(); err != nil {
		return err
	}
	if err := checkAddr("addr", c.addr); err != nil {
		return err
	}
	return c.edgeOpts.validate()
}

func (o *edgeOpts) validate() error {
	if o.origin == "" {
		return usagef("--origin is required")
	}
	if err := checkURL("origin", o.origin); err != nil {
		return err
	}
	if err := checkAddr("gossip-addr", o.gossipAddr); err != nil {
		return err
	}
	if o.mem <= 0 || (o.disk != "" && o.diskSize <= 0) {
		return usagef("cache sizes must be positive")
	}
	if !validSigningKey(o.signingKey) {
		return usagef("invalid --signing-key: want at least 16 bytes in hex")
	}
	switch o.tuning {
	case "lan", "wan", "local":
	default:
		return usagef("invalid --tuning %q: want lan, wan or local", o.tuning)
	}
	return checkAdminToken(o.adminToken)
}

func (c *edgeConfig) run(ctx context.Context, e *env) error {
	log := c.logger(e.stderr)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n, err := startEdge(ctx, c.edgeOpts, c.addr, reg, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "edge %s\n", n.url)
	return n.run(ctx)
}

// edgeNode is a running edge: its listener, cluster membership and server.
type edgeNode struct {
	url string
	ln  net.Listener
	c   *cluster.Cluster
	e   *edge.Edge
	log *slog.Logger
}

// startEdge listens on addr, joins the cluster (advertising the listener's real address) and
// builds the edge server. On failure it undoes what it did.
func startEdge(ctx context.Context, o edgeOpts, addr string, reg prometheus.Registerer, log *slog.Logger) (*edgeNode, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("edge listener: %w", err)
	}
	var seeds []string
	for _, s := range strings.Split(o.join, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	c, err := cluster.New(cluster.Config{
		Name: o.name, BindAddr: o.gossipAddr, Seeds: seeds, Tuning: o.tuning, Logger: log,
		Meta: cluster.NodeMeta{HTTPAddr: ln.Addr().String(), CapacityBytes: o.mem + o.diskSize},
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	key, _ := hex.DecodeString(o.signingKey)
	diskSize := o.diskSize
	if o.disk == "" {
		diskSize = 0
	}
	e, err := edge.New(edge.Config{
		Origin: o.origin, MemBytes: o.mem, DiskDir: o.disk, DiskBytes: diskSize, Cluster: c,
		AdminToken: o.adminToken, SigningKey: key, Registerer: reg, Logger: log,
	})
	if err != nil {
		c.Close()
		ln.Close()
		return nil, err
	}
	return &edgeNode{url: "http://" + ln.Addr().String(), ln: ln, c: c, e: e, log: log}, nil
}

// run serves until ctx is done, then stops serving gracefully and leaves the cluster.
func (n *edgeNode) run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- n.e.Serve(n.ln) }()
	select {
	case err := <-errc:
		n.c.Close()
		return fmt.Errorf("edge: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := n.e.Shutdown(sctx)
	if lerr := n.c.Leave(5 * time.Second); lerr != nil {
		n.log.Warn("leaving the cluster", "err", lerr)
	}
	<-errc
	return err
}

// nextPort returns addr with its port raised by i; port 0 stays 0 (any free port).
func nextPort(addr string, i int) string {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	if p == 0 {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(p+i))
}
