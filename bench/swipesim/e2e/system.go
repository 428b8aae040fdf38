package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelay/reelay/cluster"
	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/edge"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/origin"
	"github.com/reelay/reelay/storage"
)

// adminToken is the operator token of the system under test: the feed's prefetch hints carry
// it to the edges, and the harness reads the edges' stats with it.
const adminToken = "swipesim-e2e-admin-token"

// system is the system under test, all in this process on 127.0.0.1: the origin over the
// store behind a handler that delays every request, the edge nodes in one memberlist cluster,
// and the feed service on its database behind the API's auth middleware. It is assembled as
// `reelay up` assembles it (cmd/reelay/up.go), from the tiers' own constructors.
type system struct {
	db     *db.DB
	edges  []*edge.Edge
	feed   *feed.Service
	rank   *ranking
	api    string // the API's base URL
	origin string // the (delayed) origin's base URL

	runCtx  context.Context // the tiers run in it; close cancels it
	stop    context.CancelFunc
	wg      sync.WaitGroup
	errs    chan error // the tiers' failures, for close to return
	servers []*http.Server
}

// systemConfig is what startSystem needs beyond the store.
type systemConfig struct {
	dsn           string
	dir           string // the edges' scratch space
	edges         int
	originLatency time.Duration
	prefetch      bool
	oneEdge       bool // the players all ask the first edge: the hints go to it alone
	noPeek        bool // the prefetcher does not peek at the next page (Options.NoPeek)
	seed          int64
	timeScale     time.Duration // real time of a simulated second
	log           *slog.Logger
}

// startSystem starts the tiers and returns once the edges see each other alive. close stops
// every one of them, also when startSystem fails midway.
func startSystem(ctx context.Context, cfg systemConfig, store storage.Store) (_ *system, err error) {
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s := &system{runCtx: runCtx, stop: stop, errs: make(chan error, 16)}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.db, err = db.Open(ctx, cfg.dsn, db.Options{}); err != nil {
		return nil, fmt.Errorf("e2e: database: %w", err)
	}

	org, err := origin.New(origin.Config{Store: store, Logger: cfg.log})
	if err != nil {
		return nil, fmt.Errorf("e2e: %w", err)
	}
	if s.origin, err = s.serve(delayed(org.Handler(), cfg.originLatency)); err != nil {
		return nil, err
	}

	for i := range cfg.edges {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("e2e: edge listener: %w", err)
		}
		cl := cluster.Config{Name: fmt.Sprintf("edge-%d", i+1), BindAddr: "127.0.0.1:0", Tuning: cluster.TuningLocal}
		if i > 0 {
			cl.Seeds = []string{s.edges[0].Self().Addr}
		}
		n, err := edge.New(edge.Config{
			Listener: ln, Origin: s.origin, Name: cl.Name, Cluster: &cl, MemBytes: 256 << 20,
			DiskDir: filepath.Join(cfg.dir, cl.Name), DiskBytes: 1 << 30,
			AdminToken: adminToken, MetricsToken: adminToken, Registerer: prometheus.NewRegistry(), Logger: cfg.log,
		})
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("e2e: %w", err)
		}
		s.edges = append(s.edges, n)
		s.run(n.Run)
	}
	if err := s.waitCluster(ctx); err != nil {
		return nil, err
	}

	rk, err := newRanking(s, cfg)
	if err != nil {
		return nil, err
	}
	s.rank = rk
	fcfg := feed.Config{
		PlaybackURL: s.edges[0].URL(), WriteBurst: 1 << 30, Purge: purgeAll(s.edges), Store: store, Logger: cfg.log,
		EventsPoll: 100 * time.Millisecond,
	}
	rk.wire(&fcfg)
	if s.feed, err = feed.New(fcfg, s.db, nil); err != nil {
		return nil, fmt.Errorf("e2e: %w", err)
	}
	if err := rk.watch(ctx, s.feed.Events()); err != nil {
		return nil, err
	}
	s.run(s.feed.Run)
	for _, t := range rk.tiers() {
		s.run(t)
	}
	if s.api, err = s.serve(auth.NewAuthenticator(s.feed.Tokens(), adminToken, cfg.log).Middleware(s.feed.Handler())); err != nil {
		return nil, err
	}
	return s, nil
}

// delayed answers every request after latency, as a distant origin would.
func delayed(h http.Handler, latency time.Duration) http.Handler {
	if latency <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
			h.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	})
}

// serve serves h on a new loopback listener until close, and returns its base URL.
func (s *system) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("e2e: listener: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	s.wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(err)
		}
	})
	return "http://" + ln.Addr().String(), nil
}

// run runs a tier until close.
func (s *system) run(f func(context.Context) error) {
	ctx := s.runCtx
	s.wg.Go(func() {
		if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.fail(err)
		}
	})
}

// waitCluster waits until every edge sees every edge alive.
func (s *system) waitCluster(ctx context.Context) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		for _, n := range s.edges {
			alive := 0
			for _, m := range n.Stats().Members {
				if m.State == cluster.StateAlive.String() {
					alive++
				}
			}
			if len(s.edges) > 1 && alive != len(s.edges) {
				ok = false
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("e2e: the edges did not all see each other alive within 20s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond): // polling interval
		}
	}
}

// fail notes a tier's failure for close to return (the first few).
func (s *system) fail(err error) {
	select {
	case s.errs <- err:
	default:
	}
}

// close stops every server and tier, and waits for them.
func (s *system) close() error {
	for _, srv := range s.servers {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(sctx)
		cancel()
	}
	s.stop()
	for _, n := range s.edges {
		n.Close() // for those that never ran
	}
	s.wg.Wait()
	close(s.errs)
	var errs []error
	for err := range s.errs {
		errs = append(errs, fmt.Errorf("e2e: a tier failed: %w", err))
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	return errors.Join(errs...)
}

// purgeAll is the feed's Config.Purge with every edge node in this process (as `reelay up`).
func purgeAll(edges []*edge.Edge) func(context.Context, string) error {
	return func(_ context.Context, id string) error {
		for _, n := range edges {
			n.Purge(id)
		}
		return nil
	}
}
