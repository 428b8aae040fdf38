// Package edge is reelay's edge server: the cache in front of the origin that players fetch
// playlists and segments from.
//
//	e, err := edge.New(edge.Config{
//		Addr:    "10.0.0.5:8080",
//		Origin:  "http://origin:8082",
//		Cluster: &cluster.Config{BindAddr: "10.0.0.5:7946", Seeds: []string{"10.0.0.4:7946"}},
//	})
//	...
//	err = e.Run(ctx) // joins, serves until ctx is done, stops gracefully, leaves
//
// A request for /v/{video}/{object} is answered from the memory cache, then the disk cache,
// then filled: from the origin when this node owns the key (or runs alone), otherwise from the
// owner, a peer of the cluster, which fills from the origin itself. Concurrent misses for one
// key collapse into one upstream fetch on each node, and since non-owners fill through the
// owner, the cluster fetches each object from the origin once. An owner that does not answer,
// or answers 5xx, is skipped for the next node clockwise, then the origin.
//
// Ownership is consistent hashing with bounded loads (package ring): each fill counts against
// the node that runs it for as long as it runs, a streamed one until its body is whole, and a
// node past (1+ε) times the average load (and past the ring's MinLoad, 16 fills by default)
// passes new keys to the next node clockwise. Each node balances the fills it routes: it counts
// what it sends to the others, and what it fetches from the origin itself for its own requests;
// a fill it runs for another node counts in that node's ring. Fills carry "Via: 1.1 {node}", so
// that the origin sees which node fills.
//
// Segments, init segments and posters are immutable and never expire. Playlists are refreshed
// once their Cache-Control max-age has passed, and served stale when the refresh fails; any
// cached object is served when the origin is down. A node that owns a key but does not store it
// (bounded loads may have sent it to the next node) asks the other nodes for their stored copy,
// fresh or stale, when the origin fails: what the cluster stores, it serves.
//
// Responses carry Age and an RFC 9211 Cache-Status naming the node: "edge-a; hit",
// "edge-a; hit; detail=stale", "edge-a; fwd=uri-miss; fwd-status=200; stored" (filled from the
// origin) with "; collapsed" when the request shared another's fetch and "; detail=peer" when
// the owner answered, or "edge-a; fwd=stale; ..." for a refreshed playlist.
//
// Fills between nodes carry PeerHeader. A client that sets it only makes the node fill from
// the origin directly instead of through the owner.
//
// Operators get GET /_edge/stats, GET /_edge/cluster (every member with its stats, for the
// dashboard: see ClusterView), DELETE /_edge/v/{video} (purge, fanned out to the cluster),
// POST /_edge/prefetch, /healthz, /metrics, and the operator dashboard at /dashboard with its
// assets (package web). Purge and prefetch need Config.AdminToken, /metrics and /_edge/stats
// Config.MetricsToken, /_edge/cluster either; /healthz, /readyz and the page are open (it
// asks for the token). A prefetch
// warms the start of videos (the playlists, init segment and first segments of a rendition
// and of its audio) on the nodes that own them; with "local", on the node asked as well, so
// that a player asking it is answered a hit (the feed's next-swipe hints ask so). The objects
// a prefetch stored count as used when a player then asks for them, wasted when no one does
// within 10 minutes (Stats, /metrics).
//
// A segment (any immutable object of 64 KiB or more) streams: the first request, those that
// collapsed into it and those that come while it arrives are answered from the bytes that have
// arrived, and wait for the rest, so a player's first byte does not wait for the last. Ranges
// and HEAD are answered from it too. A body that is cut short is not kept, and the clients
// reading it see their connection close short of its Content-Length.
//
// Live streams (/v/live/{stream}/..., package live) are served from a small cache of their
// own, filled through the node that owns the stream on the ring (all of a stream's files
// have one owner), which fills from the origin; the owner that does not answer is skipped for
// the next node, then the origin. Concurrent requests for one URL, a blocking playlist
// reload's _HLS_msn and _HLS_part included, share one request on each node: the players
// waiting on any node for the next part are answered together from one origin request. Live
// playlists are kept for LivePlaylistTTL (250 ms), init files, segments and parts for
// LiveFileTTL, on the owner and on the other nodes alike.
//
// Private videos: the origin marks every object of a private video (httpsem.AccessHeader), and
// the edge keeps the mark with the object, in memory and on disk. It serves such an object only
// on a URL signed with Config.SigningKey (internal/signedurl: ?exp=...&sig=..., covering every
// object of the video until exp), and answers 403 signature_required otherwise, without a
// database lookup. A signed playlist is answered with the signature added to each of its URIs, so that
// players follow it down to the segments, and private objects are sent "Cache-Control:
// private". Fills between nodes prove themselves with signedurl.PeerAuthHeader instead. A signature on a
// public object is checked as well: a wrong or expired one is 403 bad_signature.
package edge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"

	"github.com/reelay/reelay/cluster"
	"github.com/reelay/reelay/edge/cache"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/internal/listener"
	"github.com/reelay/reelay/internal/tracing"
	"github.com/reelay/reelay/web"
)

// Defaults of Config.
const (
	DefaultAddr            = "127.0.0.1:8081"
	DefaultMemBytes        = 512 << 20
	DefaultDiskBytes       = 10 << 30
	DefaultFetchTimeout    = 10 * time.Second
	DefaultPrefetchBudget  = 64 << 20
	DefaultMaxObjectBytes  = 256 << 20
	DefaultShutdownTimeout = 15 * time.Second
	DefaultName            = "reelay"
	DefaultMaxHeaderBytes  = 32 << 10
)

// PeerHeader marks a fill request from another edge node: the node receiving it fills from
// the origin itself and never forwards it again.
const PeerHeader = "X-Reelay-Peer"

// negativeTTL is how long a 404 from upstream is remembered.
const negativeTTL = time.Second

// leaveTimeout bounds Run's graceful leave of the cluster, after the HTTP server has stopped.
const leaveTimeout = 5 * time.Second

// ErrInvalidConfig is returned by New for an unusable Config.
var ErrInvalidConfig = errors.New("edge: invalid config")

// ErrClosed is returned by Run when the Edge has run already, or was closed.
var ErrClosed = errors.New("edge: closed")

// Config configures an Edge.
type Config struct {
	// Addr is the address New listens on for HTTP, unless Listener is set. Default
	// DefaultAddr ("127.0.0.1:8081").
	Addr string
	// Listener, if set, is the listener to serve on instead of one on Addr. The Edge closes
	// it. Default nil.
	Listener net.Listener
	// Origin is the base URL of the origin, such as "http://origin:8081": an object /v/... is
	// fetched from Origin + "/v/...". Required.
	Origin string
	// Name names this node in Cache-Status and Via; it must be an HTTP token. Default: the
	// cluster's name of the node, or DefaultName ("reelay") standalone.
	Name string
	// MemBytes is the capacity of the memory cache. Default DefaultMemBytes (512 MiB).
	MemBytes int64
	// DiskDir is the directory of the disk cache. Default: none, no disk cache.
	DiskDir string
	// DiskBytes is the capacity of the disk cache, when DiskDir is set (it is ignored
	// otherwise). Default DefaultDiskBytes (10 GiB).
	DiskBytes int64
	// Cluster, if set, makes the node one of a cluster of edges, which fill from each other
	// (see package cluster). New starts gossip with it and Run joins through its Seeds, and
	// leaves when it stops. In it, Name defaults to the edge's Name, Logger to the edge's
	// Logger, Meta.HTTPAddr to the HTTP listener's address (with the cluster's advertised IP
	// when the listener's is unspecified), and Meta.CapacityBytes to MemBytes plus DiskBytes.
	// Default nil: standalone, every key is this node's.
	Cluster *cluster.Config
	// AdminToken is the bearer token of the operator endpoints that change state (purge,
	// prefetch). Default: empty, those endpoints answer 403.
	AdminToken string
	// MetricsToken is the bearer token of the operator endpoints that tell (GET /metrics,
	// GET /_edge/stats: request counts, cache fill, the members' names and internal
	// addresses), which Prometheus sends with its scrape config's authorization credentials.
	// Default: empty, those endpoints answer 403.
	MetricsToken string
	// SigningKey is the HMAC-SHA256 key of signed URLs (internal/signedurl). Default nil:
	// signatures are not checked.
	SigningKey []byte
	// FetchTimeout bounds each fetch from the origin or a peer, a live stream's blocking
	// playlist reload included: keep it above the origin's hold of one (6 s). Default
	// DefaultFetchTimeout (10 s).
	FetchTimeout time.Duration
	// PrefetchBudget is the most bytes one prefetch request fetches. Default
	// DefaultPrefetchBudget (64 MiB).
	PrefetchBudget int64
	// MaxObjectBytes is the largest object the edge fetches: a fill holds the whole body in
	// memory until it is stored. Larger objects are answered 502. Default
	// DefaultMaxObjectBytes (256 MiB), far above any segment.
	MaxObjectBytes int64
	// ShutdownTimeout bounds how long Run, once its context is done, waits for the requests
	// in progress before it leaves the cluster (which takes up to 5 seconds more). Default
	// DefaultShutdownTimeout (15 s).
	ShutdownTimeout time.Duration
	// Limits caps the HTTP listener's connections, in all and per client address, and bounds
	// how long a client may keep it waiting: HeaderTimeout bounds a request's header (a new
	// connection's first one included), BodyTimeout its whole body, WriteTimeout each write
	// of a response, IdleTimeout a kept-alive connection's wait for its next request. The
	// other nodes fill over up to 1024 connections each, from their addresses: past
	// MaxConnsPerClient their fills are refused, and go to the next node or the origin.
	// Default: listener.Limits' defaults.
	Limits listener.Limits
	// MaxHeaderBytes is the largest request header read, request line included, as long as
	// browsers' with many cookies and long signed URLs. A larger one is answered 431. The
	// server reads each connection through a buffer this large. Default
	// DefaultMaxHeaderBytes (32 KiB).
	MaxHeaderBytes int
	// LivePlaylistTTL is how long a live stream's playlist (one URL, a blocking reload's query
	// included) is served from the edge before the origin is asked again. Default
	// DefaultLivePlaylistTTL (250 ms).
	LivePlaylistTTL time.Duration
	// LiveFileTTL is how long a live stream's init file, segment or part is kept. Default
	// DefaultLiveFileTTL (30 s).
	LiveFileTTL time.Duration
	// LiveMaxBytes bounds the live files kept in memory, apart from MemBytes. Default
	// DefaultLiveMaxBytes (64 MiB).
	LiveMaxBytes int64
	// Logger receives the edge's logs, with "tier"="edge". Default: discarded.
	Logger *slog.Logger
	// Registerer receives the edge's metrics; /metrics serves it when it is also a
	// prometheus.Gatherer (as *prometheus.Registry is). Default: a registry of its own.
	Registerer prometheus.Registerer
	// TracerProvider, when it records (tracing.Enabled), gives each request a server span,
	// the child of the W3C traceparent it carries, and each fill a client span whose
	// traceparent goes to the owner or the origin (see trace.go). Default nil: no spans, and
	// no cost on the request path.
	TracerProvider trace.TracerProvider
}

// Edge is an edge server. Create it with New, then Run it.
type Edge struct {
	cfg     Config
	name    string
	ln      net.Listener
	cluster *cluster.Cluster // nil standalone
	picker  Picker           // the cluster; nil standalone
	self    string           // the cluster's name of this node; "" standalone
	via     string           // the Via header of fills: "1.1 " + name
	origin  string           // Config.Origin without a trailing slash
	log     *slog.Logger
	tracer  trace.Tracer // nil when Config.TracerProvider does not record
	mem     *cache.Memory
	disk    *cache.Disk // nil without DiskDir
	client  *fasthttp.Client
	server  *fasthttp.Server
	flight  singleflight.Group
	stats   counters
	traffic *traffic // per video, the last minute
	// suspects are the members that gossip holds alive but did not answer ClusterView.
	suspects suspects
	// prefetches tells the prefetched objects that players then asked for from the others.
	prefetches *prefetchLog

	metrics fasthttp.RequestHandler

	state atomic.Int32 // stateNew, then stateRunning or stateDone
	shut  atomic.Bool  // the HTTP server is stopping
	conns sync.Map     // net.Conn -> *connState: the open connections

	negMu sync.Mutex
	neg   map[string]time.Time // keys that upstream answered 404, until when

	fillMu sync.Mutex
	fills  map[string]*filling // bodies arriving, by key

	live liveCache // the files of live streams
	// turns holds one token per large body's write(2) in progress: see turns.go.
	turns chan struct{}
}

// New validates cfg and returns an Edge ready to Run: its HTTP listener bound, its disk cache
// open and, with a cluster, gossip started. On failure it releases what it had acquired.
func New(cfg Config) (_ *Edge, err error) {
	cfg.Addr = cmp.Or(cfg.Addr, DefaultAddr)
	cfg.MemBytes = cmp.Or(cfg.MemBytes, DefaultMemBytes)
	cfg.FetchTimeout = cmp.Or(cfg.FetchTimeout, DefaultFetchTimeout)
	cfg.LivePlaylistTTL = cmp.Or(cfg.LivePlaylistTTL, DefaultLivePlaylistTTL)
	cfg.LiveFileTTL = cmp.Or(cfg.LiveFileTTL, DefaultLiveFileTTL)
	cfg.LiveMaxBytes = cmp.Or(cfg.LiveMaxBytes, DefaultLiveMaxBytes)
	cfg.PrefetchBudget = cmp.Or(cfg.PrefetchBudget, DefaultPrefetchBudget)
	cfg.MaxObjectBytes = cmp.Or(cfg.MaxObjectBytes, DefaultMaxObjectBytes)
	cfg.ShutdownTimeout = cmp.Or(cfg.ShutdownTimeout, DefaultShutdownTimeout)
	cfg.MaxHeaderBytes = cmp.Or(cfg.MaxHeaderBytes, DefaultMaxHeaderBytes)
	cfg.Limits = cfg.Limits.WithDefaults()
	if cfg.DiskDir != "" {
		cfg.DiskBytes = cmp.Or(cfg.DiskBytes, DefaultDiskBytes)
	} else {
		cfg.DiskBytes = 0
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	u, perr := url.Parse(cfg.Origin)
	switch {
	case cfg.Origin == "" || perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("%w: Origin %q is not an http(s) URL", ErrInvalidConfig, cfg.Origin)
	case cfg.MemBytes < 0:
		return nil, fmt.Errorf("%w: MemBytes %d", ErrInvalidConfig, cfg.MemBytes)
	case cfg.DiskBytes < 0:
		return nil, fmt.Errorf("%w: DiskBytes %d", ErrInvalidConfig, cfg.DiskBytes)
	case cfg.FetchTimeout < 0 || cfg.PrefetchBudget < 0 || cfg.MaxObjectBytes < 0 || cfg.ShutdownTimeout < 0 || cfg.MaxHeaderBytes < 0:
		return nil, fmt.Errorf("%w: negative FetchTimeout, PrefetchBudget, MaxObjectBytes, ShutdownTimeout or MaxHeaderBytes", ErrInvalidConfig)
	case cfg.Name != "" && !isToken(cfg.Name):
		return nil, fmt.Errorf("%w: Name %q is not an HTTP token (letters, digits and !#$%%&'*+-.^_`|~)", ErrInvalidConfig, cfg.Name)
	}
	e := &Edge{
		cfg:    cfg,
		origin: strings.TrimSuffix(cfg.Origin, "/"),
		mem:    cache.NewMemory(cfg.MemBytes),
		neg:    make(map[string]time.Time),
		fills:  make(map[string]*filling),
		turns:  make(chan struct{}, runtime.GOMAXPROCS(0)),

		traffic: newTraffic(time.Now),

		prefetches: newPrefetchLog(),
	}
	// What New acquires, Close releases; on failure, release it now.
	defer func() {
		if err != nil {
			e.release(false)
		}
	}()
	e.ln = cfg.Listener
	if e.ln == nil {
		if e.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("edge: listen: %w", err)
		}
	}
	if cfg.DiskDir != "" {
		if e.disk, err = cache.OpenDisk(cfg.DiskDir, cfg.DiskBytes); err != nil {
			return nil, fmt.Errorf("edge: open disk cache: %w", err)
		}
	}
	if cfg.Cluster != nil {
		if e.cluster, err = newCluster(*cfg.Cluster, cfg, e.ln.Addr()); err != nil {
			return nil, err
		}
		e.picker = e.cluster
		e.self = e.cluster.Self().Name
	}
	e.name = cmp.Or(cfg.Name, e.self, DefaultName)
	if !isToken(e.name) {
		return nil, fmt.Errorf("%w: node name %q is not an HTTP token", ErrInvalidConfig, e.name)
	}
	e.via = "1.1 " + e.name
	e.log = cfg.Logger.With("tier", "edge", "node", e.name)
	if tracing.Enabled(cfg.TracerProvider) {
		e.tracer = tracing.Tracer(cfg.TracerProvider, "edge")
	}
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	// Registered last: nothing after it can fail, so that no failed New leaves metrics behind.
	lm, err := e.register(reg)
	if err != nil {
		return nil, fmt.Errorf("edge: register metrics: %w", err)
	}
	e.ln = connListener{listener.New(e.ln, listener.Config{Name: "edge", Limits: cfg.Limits, Metrics: lm, Logger: e.log.With("listener", "edge")})}
	if g, ok := reg.(prometheus.Gatherer); ok {
		e.metrics = metricsHandler(g, e.log)
	}
	e.client = &fasthttp.Client{
		Name:                "reelay-edge",
		ReadTimeout:         cfg.FetchTimeout,
		WriteTimeout:        cfg.FetchTimeout,
		MaxConnsPerHost:     1024,
		MaxConnWaitTimeout:  cfg.FetchTimeout,
		MaxIdleConnDuration: 30 * time.Second,
		// Responses longer than this come with a body stream rather than whole: see
		// fetchObject.
		MaxResponseBodySize: streamMin,
	}
	// The listener bounds each write (Limits.WriteTimeout): fasthttp's WriteTimeout would
	// bound a whole response, which a segment streaming to a slow player may outlast.
	e.server = &fasthttp.Server{
		Handler:     e.Handler(),
		Name:        "reelay-edge",
		ReadTimeout: cfg.Limits.HeaderTimeout,
		HeaderReceived: func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
			return fasthttp.RequestConfig{ReadTimeout: cfg.Limits.BodyTimeout}
		},
		IdleTimeout:          cfg.Limits.IdleTimeout,
		ReadBufferSize:       cfg.MaxHeaderBytes,
		NoDefaultContentType: true,
		ErrorHandler:         e.requestError,
		Logger:               slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
		ConnState:            e.trackConn,
	}
	return e, nil
}

// newCluster starts gossip with cc, whose defaults come from the edge's cfg and its HTTP
// listener's address.
func newCluster(cc cluster.Config, cfg Config, httpAddr net.Addr) (*cluster.Cluster, error) {
	cc.Name = cmp.Or(cc.Name, cfg.Name)
	if cc.Logger == nil {
		cc.Logger = cfg.Logger
	}
	if cc.Meta.CapacityBytes == 0 {
		cc.Meta.CapacityBytes = cfg.MemBytes + cfg.DiskBytes
	}
	// The peers fill from the listener's address; an unspecified IP (":8080") is replaced
	// with the IP the cluster advertises, once it is known.
	host, port, err := net.SplitHostPort(httpAddr.String())
	unspecified := err == nil && (host == "" || net.ParseIP(host).IsUnspecified())
	if cc.Meta.HTTPAddr == "" {
		cc.Meta.HTTPAddr = httpAddr.String()
	} else {
		unspecified = false
	}
	c, err := cluster.New(cc)
	if err != nil {
		return nil, fmt.Errorf("edge: cluster: %w", err)
	}
	if unspecified {
		if ip, _, err := net.SplitHostPort(c.Self().Addr); err == nil {
			meta := cc.Meta
			meta.HTTPAddr = net.JoinHostPort(ip, port)
			// Nobody has joined yet: the update goes out with the first gossip.
			if err := c.UpdateMeta(meta, time.Second); err != nil {
				c.Close()
				return nil, fmt.Errorf("edge: cluster: %w", err)
			}
		}
	}
	return c, nil
}

// Name returns the node's name, as in Cache-Status.
func (e *Edge) Name() string { return e.name }

// Addr returns the address the HTTP server listens on, with the port it got when Config.Addr
// asked for any (port 0).
func (e *Edge) Addr() net.Addr { return e.ln.Addr() }

// URL returns the HTTP server's base URL, "http://" and Addr.
func (e *Edge) URL() string { return "http://" + e.ln.Addr().String() }

// Self returns this node as a member of its cluster, whose Addr is its gossip address for
// the other nodes' seeds: the zero Member standalone.
func (e *Edge) Self() cluster.Member {
	if e.cluster == nil {
		return cluster.Member{}
	}
	return e.cluster.Self()
}

// Handler returns the edge's request handler, for tests and for callers that run their own
// fasthttp.Server.
func (e *Edge) Handler() fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if ctx.ConnRequestNum() == 1 {
			e.serving(ctx.Conn())
		}
		// tctx carries the request's span to its fills; with tracing off, nothing.
		tctx := context.Background()
		var span trace.Span
		if e.tracer != nil {
			tctx, span = e.startSpan(ctx)
		}
		if err := e.route(tctx, ctx); err != nil {
			e.writeError(ctx, err)
		}
		if span != nil {
			endSpan(span, ctx)
		}
	}
}

// route dispatches a request by path; tctx carries its span, if it is traced.
func (e *Edge) route(tctx context.Context, ctx *fasthttp.RequestCtx) error {
	p := string(ctx.URI().PathOriginal())
	method := string(ctx.Method())
	switch {
	case strings.HasPrefix(p, layout.LivePathPrefix):
		return e.serveLive(tctx, ctx, p)
	case strings.HasPrefix(p, layout.PathPrefix):
		return e.serveObject(tctx, ctx, p)
	case p == "/healthz":
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"status":"ok"}` + "\n")
		return nil
	case p == "/readyz":
		return e.readyz(ctx)
	case p == "/metrics" && e.metrics != nil:
		if !e.bearer(ctx, e.cfg.MetricsToken) {
			return errForbiddenMetrics
		}
		e.metrics(ctx)
		return nil
	case p == "/_edge/stats":
		if method != fasthttp.MethodGet && method != fasthttp.MethodHead {
			return methodNotAllowed(ctx, "GET, HEAD")
		}
		if !e.bearer(ctx, e.cfg.MetricsToken) {
			return errForbiddenMetrics
		}
		return e.serveStats(ctx)
	case p == "/_edge/cluster":
		if method != fasthttp.MethodGet && method != fasthttp.MethodHead {
			return methodNotAllowed(ctx, "GET, HEAD")
		}
		// The dashboard's, for admins; what it tells is the members' stats, which the
		// metrics token opens as well.
		if !e.bearer(ctx, e.cfg.MetricsToken) && !e.authorized(ctx) {
			return errForbiddenMetrics
		}
		writeJSON(ctx, http.StatusOK, e.ClusterView())
		return nil
	case p == "/dashboard" || strings.HasPrefix(p, web.AssetsPath):
		return servePage(ctx, p)
	case strings.HasPrefix(p, "/_edge/v/"):
		if method != fasthttp.MethodDelete {
			return methodNotAllowed(ctx, "DELETE")
		}
		return e.servePurge(ctx, strings.TrimPrefix(p, "/_edge/v/"))
	case p == "/_edge/prefetch":
		if method != fasthttp.MethodPost {
			return methodNotAllowed(ctx, "POST")
		}
		return e.servePrefetch(ctx)
	}
	return errNotFound
}

// readyz answers 200 when the origin answers its health check, and 503 otherwise: an edge
// that cannot fill is not ready for new traffic, although it still serves what it holds.
func (e *Edge) readyz(ctx *fasthttp.RequestCtx) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(e.origin + "/healthz")
	ctx.SetContentType("application/json")
	if err := e.client.DoTimeout(req, resp, 2*time.Second); err != nil || resp.StatusCode() != fasthttp.StatusOK {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString(`{"error":{"code":"not_ready","message":"the origin does not answer"}}` + "\n")
		return nil
	}
	ctx.SetBodyString(`{"status":"ready"}` + "\n")
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2), as a node's name must be to
// stand in Via and Cache-Status.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}
